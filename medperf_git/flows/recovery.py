"""`registry recover`: admins undo bad commits on main without rewriting history.

When something reached main that the audit refuses (a hand-made merge, an unsigned push on a file
share), every client keeps its last verified copy and refuses the new main. An admin of the last
clean commit then publishes one signed commit on top of the bad ones that restores that commit's
tree and names it in a ``Recovers:`` trailer. Every client's audit accepts it on its next fetch and
reports the commits in between as quarantined: nobody rewrites history, nobody runs
``profile trust --reset``.
"""

from __future__ import annotations

from dataclasses import dataclass

from medperf_git.errors import AuditFailed, PolicyDenied, UsageError
from medperf_git.flows.session import RegistrySession
from medperf_git.policy.audit import RECOVERS_TRAILER, AuditReport

RECOVERY_REF = "refs/recovery/main"  # the remote's main as fetched, before any audit accepted it


@dataclass
class RecoveryPlan:
    remote_main: str  # the registry's main now, bad commits included
    target: str  # the last clean commit, whose tree is restored
    report: AuditReport  # what the audit finds after it

    @property
    def bad_commits(self) -> list[str]:
        return list(dict.fromkeys(f.merge or f.commit for f in self.report.findings))

    def message(self) -> str:
        lines = [f"Recover main to {self.target[:12]}", "",
                 "The commits after it fail the audit; this commit restores its tree, and every client",
                 "reports them as quarantined:", ""]
        lines += [f"- {f.text()}" for f in self.report.findings[:50]]
        return "\n".join(lines) + f"\n\n{RECOVERS_TRAILER}: {self.target}\n"

    def to_dict(self) -> dict:
        return {"remote_main": self.remote_main, "target": self.target, "bad_commits": self.bad_commits,
                "findings": [f.to_dict() for f in self.report.findings]}


def plan_recovery(s: RegistrySession) -> RecoveryPlan:
    """Fetch the registry's main as it is (unaudited, aside), audit it, and say what recovering means."""
    from medperf_git.policy.audit import audit
    from medperf_git.policy.base import BaseRecords
    from medperf_git.policy.trust import audit_cache
    from medperf_git.registry.git import run_git

    try:
        clone = s.clone
    except AuditFailed:  # a first copy fails the audit like any fetch: the bare clone is there all the same
        clone = s.clone
    run_git("fetch", "--quiet", "--no-tags", clone.remote, f"+refs/heads/main:{RECOVERY_REF}",
            "+refs/pull/*/meta:refs/pull/*/meta", cwd=clone.repo.path, timeout=600,
            what=f"cannot fetch the registry {clone.remote}")
    remote_main = clone.repo.rev_parse(RECOVERY_REF)
    report = audit(clone.repo, remote_main, cache=audit_cache(s.ws, clone.root))
    if report.clean:
        raise UsageError(f"main of {clone.remote} passes the audit: there is nothing to recover",
                         hint="`medperf-git registry audit` shows the full report")
    if report.last_clean is None:
        raise PolicyDenied("no commit of main passes the audit, not even the root: there is no state to restore",
                           hint="the registry must be made again with `medperf-git registry init`")
    admins = BaseRecords(clone.repo, report.last_clean).admins
    if s.profile.handle not in admins:
        raise PolicyDenied(f"only an admin of the last clean commit {report.last_clean[:12]} "
                           f"({', '.join(admins)}) can publish its recovery, and you are '{s.profile.handle}'",
                           hint="ask one of them to run `medperf-git registry recover`")
    return RecoveryPlan(remote_main, report.last_clean, report)


def recover(s: RegistrySession, plan: RecoveryPlan) -> str:
    """Sign and push the recovery commit (compare-and-swap on main); return it once the clone accepts it."""
    from medperf_git.forges.base import RaceLost
    from medperf_git.registry.commits import commit_tree
    from medperf_git.registry.git import push

    tree = s.repo.root_tree(plan.target)
    commit = commit_tree(s.repo, tree, [plan.remote_main], plan.message(), s.identity)
    proc = push(s.repo, s.clone.remote, [f"{commit}:refs/heads/main"], leases=[f"refs/heads/main:{plan.remote_main}"],
                check=False)
    if proc.returncode != 0:
        raise RaceLost(f"main of {s.clone.remote} moved while the recovery was being made, or the push was refused: "
                       f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}",
                       hint="run `medperf-git registry recover` again")
    s.clone.fetch()  # the clone's own audit accepts the recovery
    return commit
