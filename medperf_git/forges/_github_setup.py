"""What a registry hosted on GitHub needs: the workflow files, the ci/ scripts they run, the pin of the
tool they install, and a check of the repository's settings that never says "ok" for what it cannot see."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from importlib import metadata, resources

WORKFLOWS = ("medperf-git-validate.yml", "medperf-git-policy-bot.yml", "medperf-git-publish.yml")
CI_SCRIPTS = ("_lib.sh", "install.sh", "validate.sh", "audit.sh", "bot.sh", "README.md")
SETTINGS_DOC = ".github/MEDPERF-GIT-SETTINGS.md"
ENVIRONMENT = "medperf-git-bot"
DISTRIBUTION = "medperf-git"


def _data(*parts: str) -> bytes:
    return resources.files("medperf_git").joinpath("data", "github", *parts).read_bytes()


def registry_files() -> dict[str, bytes]:
    """Paths and contents to add to a new registry's first commit: workflows, settings, ci/ scripts."""
    files = {f".github/workflows/{name}": _data("workflows", name) for name in WORKFLOWS}
    files[SETTINGS_DOC] = _data("SETTINGS.md")
    scripts = resources.files("medperf_git.ci")
    files.update({f"ci/{name}": scripts.joinpath(name).read_bytes() for name in CI_SCRIPTS})
    return files


def running_requirement(version: str, dist: metadata.Distribution | None = None) -> str | None:
    """The pip requirement, pinned by a hash, of the medperf-git running here, from how pip installed it
    (PEP 610's direct_url.json): a wheel or archive fetched over https as its URL with ``#sha256=`` (a
    runner can fetch it too), one from a local file as ``==VERSION --hash`` (an index must serve that very
    file), or a git URL at its commit. None when that cannot be told (a local folder, an editable or an
    index install)."""
    try:
        text = (dist or metadata.distribution(DISTRIBUTION)).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        direct = json.loads(text or "null")
    except ValueError:
        return None
    if not isinstance(direct, dict):
        return None
    url = str(direct.get("url") or "")
    vcs = direct.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and url.startswith("https://") and len(str(vcs.get("commit_id") or "")) == 40:
        return f"{DISTRIBUTION}[github] @ git+{url}@{vcs['commit_id']}"
    archive = direct.get("archive_info") or {}
    sha = (archive.get("hashes") or {}).get("sha256") or str(archive.get("hash") or "").partition("sha256=")[2]
    if sha and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
        if url.startswith("https://") and "#" not in url and not any(c.isspace() for c in url):
            return f"{DISTRIBUTION}[github] @ {url}#sha256={sha}"
        return f"{DISTRIBUTION}[github]=={version} --hash=sha256:{sha}"
    return None


@dataclass
class SettingCheck:
    name: str
    state: str  # ok | NOT SET | unverified
    detail: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def to_dict(self) -> dict:
        return {"name": self.name, "state": self.state, "detail": self.detail}


def _covers_main(ruleset: dict) -> bool:
    """Whether a ruleset's ref conditions take in main: included, and not excluded."""
    refs = (ruleset.get("conditions") or {}).get("ref_name") or {}

    def matches(patterns) -> bool:
        return any(p in ("~DEFAULT_BRANCH", "~ALL") or fnmatch.fnmatchcase("refs/heads/main", str(p))
                   for p in patterns or [])

    return matches(refs.get("include")) and not matches(refs.get("exclude"))


class _Reader:
    """GET through the API: the JSON, or None with why (403/404: the token may not see it)."""

    def __init__(self, repository: str, token: str, base_url: str | None, throttle: bool):
        from medperf_git.forges import _github_api as api

        self.api = api
        gh = api.client(token, base_url, throttle=throttle)
        self.repo = api.call(lambda: gh.get_repo(repository), f"cannot read {repository}")

    def get(self, path: str) -> tuple[object, str | None]:
        url = f"{self.repo.url}{path}"
        try:
            return self.api.call(lambda: self.repo._requester.requestJsonAndCheck("GET", url)[1], f"cannot read {path}"
                                 ), None
        except self.api.GitHubError as exc:
            if exc.status in (403, 404):
                return None, f"{exc.status}: {exc.message.split(': ', 1)[-1]}"
            raise


def check_settings(repository: str, token: str, base_url: str | None = None, *, public: bool = False,
                   app_id: int | None = None, throttle: bool = True) -> list[SettingCheck]:
    """Each setting of SETTINGS.md, checked through the API, or "unverified" with the reason."""
    read = _Reader(repository, token, base_url, throttle)
    raw = getattr(read.repo, "_rawData", {}) or {}
    checks = [_merge_methods(raw), SettingCheck("visibility", "ok" if raw.get("private") or public else "NOT SET",
                                                "private" if raw.get("private") else
                                                "public (say --public if that is meant)")]
    checks += [_workflow_token(read), _fork_approval(read), _environment(read), _no_repository_secrets(read),
               _writers(read)]
    checks += _rulesets(read, app_id)
    return checks


def _merge_methods(raw: dict) -> SettingCheck:
    name = "merge commits only (no squash, no rebase)"
    if not {"allow_merge_commit", "allow_squash_merge", "allow_rebase_merge"} <= set(raw):
        return SettingCheck(name, "unverified", "GitHub shows the merge settings to admins only: check them with "
                                                "an admin's token, or by hand (squash and rebase drop signatures)")
    good = raw["allow_merge_commit"] and not raw["allow_squash_merge"] and not raw["allow_rebase_merge"]
    return SettingCheck(name, "ok" if good else "NOT SET", "squash and rebase would drop the authors' signatures")


def _workflow_token(read: _Reader) -> SettingCheck:
    name = "workflows' token read-only by default"
    data, why = read.get("/actions/permissions/workflow")
    if not isinstance(data, dict):
        return SettingCheck(name, "unverified", f"cannot read the Actions settings ({why})")
    good = data.get("default_workflow_permissions") == "read" and not data.get("can_approve_pull_request_reviews")
    return SettingCheck(name, "ok" if good else "NOT SET", "Settings > Actions > General: 'Read repository contents "
                                                         "permission', and Actions may not approve pull requests")


def _fork_approval(read: _Reader) -> SettingCheck:
    name = "forks' workflow runs wait for approval"
    data, why = read.get("/actions/permissions/fork-pr-contributor-approval")
    if not isinstance(data, dict):
        return SettingCheck(name, "unverified", f"cannot read the Actions settings ({why})")
    policy = str(data.get("approval_policy") or "")
    return SettingCheck(name, "ok" if policy == "all_external_contributors" else "NOT SET",
                        f"{policy or 'none'}; Settings > Actions > General: 'Require approval for all external "
                        "contributors' (they get no secrets, but would use the registry's Actions minutes)")


def _environment(read: _Reader) -> SettingCheck:
    name = f"environment '{ENVIRONMENT}' usable from main only"
    env, why = read.get(f"/environments/{ENVIRONMENT}")
    if not isinstance(env, dict):
        state = "NOT SET" if why and why.startswith("404") else "unverified"
        return SettingCheck(name, state, f"cannot read it ({why}); it holds the App's key, for main's jobs only")
    policy = env.get("deployment_branch_policy") or {}
    if not policy.get("custom_branch_policies"):
        return SettingCheck(name, "NOT SET", "set its deployment branches to 'Selected branches': main only")
    branches, why = read.get(f"/environments/{ENVIRONMENT}/deployment-branch-policies")
    if not isinstance(branches, dict):
        return SettingCheck(name, "unverified", f"cannot read its deployment branches ({why})")
    names = sorted(str(b.get("name")) for b in branches.get("branch_policies") or [] if isinstance(b, dict))
    return SettingCheck(name, "ok" if names == ["main"] else "NOT SET", f"deployment branches: {names or 'none'}; "
                                                                        "main only")


def _no_repository_secrets(read: _Reader) -> SettingCheck:
    name = "no repository-level secrets"
    data, why = read.get("/actions/secrets")
    if not isinstance(data, dict):
        return SettingCheck(name, "unverified", f"cannot list them ({why}): the bot's key belongs in the "
                                                f"environment '{ENVIRONMENT}', which a branch's workflow cannot read")
    names = [str(s.get("name")) for s in data.get("secrets") or [] if isinstance(s, dict)]
    return SettingCheck(name, "NOT SET" if names else "ok",
                        f"move {', '.join(names)} into the environment '{ENVIRONMENT}'" if names else "none")


def _writers(read: _Reader) -> SettingCheck:
    name = "only admins may push (submitters use forks)"
    data, why = read.get("/collaborators?affiliation=all&per_page=100")
    if not isinstance(data, list):
        return SettingCheck(name, "unverified", f"cannot list the collaborators ({why})")
    writers = sorted(str(c.get("login")) for c in data if isinstance(c, dict)
                     and (c.get("permissions") or {}).get("push") and not (c.get("permissions") or {}).get("admin"))
    return SettingCheck(name, "NOT SET" if writers else "ok",
                        f"write access without admin: {', '.join(writers)}; give them read access, they submit "
                        "from forks" if writers else "nobody but admins has write access")


def _rulesets(read: _Reader, app_id: int | None) -> list[SettingCheck]:
    force, bot = "ruleset on main: force pushes and deletions blocked, bypassed by nobody", \
        "ruleset on main: only the bot's App updates it"
    summaries, why = read.get("/rulesets")
    if not isinstance(summaries, list):
        return [SettingCheck(force, "unverified", f"cannot read the rulesets ({why})"),
                SettingCheck(bot, "unverified", f"cannot read the rulesets ({why})")]
    found: list[dict] = []
    for summary in summaries:
        if isinstance(summary, dict) and summary.get("enforcement") == "active" and \
                summary.get("target", "branch") == "branch":
            detail, _ = read.get(f"/rulesets/{summary.get('id')}")
            if isinstance(detail, dict) and _covers_main(detail):
                found.append(detail)
    hidden = any("bypass_actors" not in r for r in found)

    def types(r: dict) -> set:
        return {rule.get("type") for rule in r.get("rules") or [] if isinstance(rule, dict)}

    blocking = [r for r in found if {"non_fast_forward", "deletion"} <= types(r)]
    if any(r.get("bypass_actors") == [] for r in blocking):
        first = SettingCheck(force, "ok", "an active ruleset on main blocks force pushes and deletions for everyone")
    elif blocking and hidden:
        first = SettingCheck(force, "unverified", "GitHub shows who may bypass a ruleset only to admins: check that "
                                                  "the ruleset blocking force pushes has no bypass actor")
    else:
        first = SettingCheck(force, "NOT SET", "add an active ruleset on main with 'Block force pushes' and "
                                               "'Restrict deletions', and no bypass actor at all")
    updating = [r for r in found if "update" in types(r)]
    want = [{"actor_type": "Integration", "actor_id": app_id}]
    if app_id is None:
        second = SettingCheck(bot, "unverified", "which App is the bot? give --github-app-id")
    elif any([{k: a.get(k) for k in ("actor_type", "actor_id")} for a in r.get("bypass_actors") or []] == want
             for r in updating):
        second = SettingCheck(bot, "ok", f"main's updates are restricted, with App {app_id} as the only bypass")
    elif updating and hidden:
        second = SettingCheck(bot, "unverified", "GitHub shows who may bypass a ruleset only to admins: check that "
                                                 f"App {app_id} is the only bypass actor of 'Restrict updates'")
    else:
        second = SettingCheck(bot, "NOT SET", "add a second active ruleset on main with 'Restrict updates' whose "
                                              f"one bypass actor is App {app_id} (a bypass skips every rule of its "
                                              "ruleset, so keep the force-push block in the other one)")
    return [first, second]
