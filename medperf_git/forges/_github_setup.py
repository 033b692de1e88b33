"""What a registry hosted on GitHub needs: the workflow files, and a check of the repository settings."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

WORKFLOWS = ("medperf-git-validate.yml", "medperf-git-relay.yml", "medperf-git-policy-bot.yml",
             "medperf-git-publish.yml")
SETTINGS_DOC = ".github/MEDPERF-GIT-SETTINGS.md"


def _data(*parts: str) -> bytes:
    return resources.files("medperf_git").joinpath("data", "github", *parts).read_bytes()


def registry_files() -> dict[str, bytes]:
    """Paths and contents to add to a new registry's first commit."""
    files = {f".github/workflows/{name}": _data("workflows", name) for name in WORKFLOWS}
    files[SETTINGS_DOC] = _data("SETTINGS.md")
    return files


@dataclass
class SettingCheck:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _covers_main(ruleset: dict) -> bool:
    include = (((ruleset.get("conditions") or {}).get("ref_name") or {}).get("include")) or []
    return any(ref in ("refs/heads/main", "~DEFAULT_BRANCH", "~ALL") for ref in include)


def check_settings(repository: str, token: str, base_url: str | None = None, *, public: bool = False,
                   throttle: bool = True) -> list[SettingCheck]:
    """The settings of SETTINGS.md that the API can show: merge methods, visibility, a ruleset on main."""
    from medperf_git.forges import _github_api as api

    gh = api.client(token, base_url, throttle=throttle)
    repo = api.call(lambda: gh.get_repo(repository), f"cannot read {repository}")
    raw = getattr(repo, "_rawData", {}) or {}
    checks = [
        SettingCheck("merge commits allowed", bool(raw.get("allow_merge_commit", True)),
                     "the bot merges with merge commits"),
        SettingCheck("squash and rebase merges disabled",
                     not raw.get("allow_squash_merge") and not raw.get("allow_rebase_merge"),
                     "squash and rebase would drop the authors' signatures"),
        SettingCheck("visibility", bool(raw.get("private")) or public,
                     "private" if raw.get("private") else "public (say --public if that is meant)"),
    ]
    try:
        rulesets = api.call(lambda: repo._requester.requestJsonAndCheck("GET", f"{repo.url}/rulesets")[1],
                            "cannot read the rulesets")
    except api.GitHubError as exc:
        checks.append(SettingCheck("ruleset on main", False, f"cannot read rulesets: {exc.message}"))
        return checks
    active = [r for r in rulesets or [] if isinstance(r, dict) and r.get("enforcement") == "active"
              and r.get("target", "branch") == "branch"]
    no_force = only_bot = False
    for summary in active:
        try:
            detail = api.call(lambda s=summary: repo._requester.requestJsonAndCheck(
                "GET", f"{repo.url}/rulesets/{s.get('id')}")[1], "cannot read a ruleset")
        except api.GitHubError:
            continue
        if not _covers_main(detail):
            continue
        types = {rule.get("type") for rule in detail.get("rules") or [] if isinstance(rule, dict)}
        no_force = no_force or "non_fast_forward" in types
        only_bot = only_bot or ("update" in types and bool(detail.get("bypass_actors")))
    checks.append(SettingCheck("ruleset on main: no force pushes", no_force,
                               "an active ruleset on main forbids force pushes" if no_force else
                               "add an active ruleset on main with the rule 'Block force pushes'"))
    checks.append(SettingCheck("ruleset on main: only the bot updates it", only_bot,
                               "updates to main are restricted, with the bot as the bypass actor" if only_bot else
                               "add 'Restrict updates' to main's ruleset, with the bot (app or token owner) "
                               "as its only bypass actor"))
    return checks
