"""The policy bot (`medperf-git ci bot`) driven against the fake GitHub server over a populated registry."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("github", reason="PyGithub is not installed (pip install -e '.[test]')")

from medperf_git.flows.bot import run_bot  # noqa: E402
from medperf_git.forges.github import GitHubForge  # noqa: E402
from medperf_git.registry.commits import commit_changes  # noqa: E402
from medperf_git.registry.git import init_bare  # noqa: E402
from tests.github.conftest import Submitting  # noqa: E402
from tests.github.fake_github import FakeGitHub  # noqa: E402
from tests.policy.policy_world import HANDLES, World, association, dataset, y  # noqa: E402

BOT_TOKEN = "ghs_botTOKEN0123456789abcdef"


class Setup(Submitting):
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.world = World(tmp_path, registry_settings={"host": "github"})
        self.ids = {h: 200 + i for i, h in enumerate(HANDLES)}
        people = {}
        for h in HANDLES:
            record = self.world[h].person_record()
            record["accounts"] = [{"forge": "github", "login": h, "id": self.ids[h]}]
            people[f"people/{h}.yaml"] = y(record)
        self.world.direct(people, "GitHub accounts")
        self.world.direct({"datasets/2.yaml": y(dataset(2, "do"))}, "dataset 2")
        self.server = FakeGitHub(self.world.path)
        for h in HANDLES:
            self.server.add_user(self.token(h), h, self.ids[h])
        self.server.add_user(BOT_TOKEN, "medperf-bot", 999)
        self.server.start()
        self.bot_repo = init_bare(tmp_path / "bot.git")
        self.bot_repo.git("remote", "add", "origin", str(self.world.path))
        self._forges: dict[str, GitHubForge] = {}

    @staticmethod
    def token(handle: str) -> str:
        return f"ghp_{handle}TOKEN0123456789"

    def forge(self, handle: str) -> GitHubForge:
        if handle not in self._forges:
            forge = GitHubForge(init_bare(self.tmp / f"clone-{handle}.git"), str(self.world.path),
                                self.world[handle].identity, handle, repository=self.server.full_name,
                                token=self.token(handle), base_url=self.server.base_url, throttle=False)
            self._forges[handle] = forge
        self._forges[handle].refresh()
        return self._forges[handle]

    def event(self, number: int) -> dict:
        """A ``@medperf-git check`` comment on pull request ``number``, as GitHub sends it."""
        return {"action": "created", "repository": {"full_name": self.server.full_name},
                "issue": {"number": number, "pull_request": {"url": "..."}},
                "comment": {"body": "@medperf-git check", "user": {"login": "someone", "id": 1}}}

    def sweep(self, event: dict | None = None, **kwargs):
        return run_bot(self.bot_repo, event or {}, repository=self.server.full_name, token=BOT_TOKEN,
                       base_url=self.server.base_url, throttle=False, sleep=lambda s: None, **kwargs)

    def bot(self, number: int, **kwargs):
        outcomes = self.sweep(self.event(number), **kwargs)
        assert outcomes and outcomes[0].number == number, [o.to_dict() for o in outcomes]
        return outcomes[0]

    def bot_comments(self, number: int) -> list[dict]:
        return [c for c in self.server.comments if c["issue_url"].endswith(f"/{number}")
                and c["user"]["id"] == 999]


@pytest.fixture
def gh(tmp_path):
    setup = Setup(tmp_path)
    yield setup
    setup.server.stop()


def test_waits_for_the_committee_then_merges_with_one_comment_edited_in_place(gh):
    sub = gh.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))})
    first = gh.bot(sub.number)
    assert first.action == "waiting" and "committee of benchmark 1 (bo)" in first.waiting[0]
    assert gh.server.pull(sub.number)["state"] == "open"
    gh.approve("bo", sub.number)
    main_before = gh.server.sha("refs/heads/main")
    second = gh.bot(sub.number)
    assert second.action == "merged", second.to_dict()
    pr = gh.server.pull(sub.number)
    assert pr["merged"] and pr["merge_commit_sha"] == second.merged_commit == gh.server.sha("refs/heads/main")
    parents = gh.server.git("rev-list", "--parents", "-n1", second.merged_commit).split()[1:]
    assert parents == [main_before, pr["head"]["sha"]]
    comments = gh.bot_comments(sub.number)
    assert len(comments) == 1 and second.comment_id == first.comment_id
    assert "merged" in comments[0]["body"] and "`bo`" in comments[0]["body"]


def test_a_self_service_submission_is_merged_at_once(gh):
    sub = gh.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    outcome = gh.bot(sub.number)
    assert outcome.action == "merged" and gh.server.pull(sub.number)["merged"]


def test_no_merge_only_judges(gh):
    sub = gh.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    outcome = gh.bot(sub.number, merge=False)
    assert outcome.action == "mergeable" and not gh.server.pull(sub.number)["merged"]


def test_the_opener_must_be_the_signer_by_numeric_id(gh):
    sub = gh.submit("mo", {"datasets/3.yaml": y(dataset(3, "do"))}, signer="do")
    outcome = gh.bot(sub.number)
    assert outcome.action == "refused" and not gh.server.pull(sub.number)["merged"]
    assert any("opened by GitHub user mo (id 202)" in p and "'do'" in p for p in outcome.problems)


def test_a_renamed_login_does_not_fool_the_bot(gh):
    gh.server.users[gh.token("mo")]["login"] = "do"  # mo renamed their account to do's old login
    sub = gh.submit("mo", {"datasets/3.yaml": y(dataset(3, "do"))}, signer="do")
    outcome = gh.bot(sub.number)
    assert outcome.action == "refused" and any("(id 202)" in p for p in outcome.problems)


def test_content_pushed_after_an_approval_voids_it(gh):
    sub = gh.submit("do", {"associations/1/dataset-2.yaml": y(association("dataset", 2, "do"))})
    approved = gh.approve("bo", sub.number)
    forge = gh.forge("do")
    newer = commit_changes(forge.repo, approved.head, {"datasets/3.yaml": y(dataset(3, "do"))}, "more",
                           gh.world["do"].identity)
    forge.update(sub.number, newer, expected_head=approved.head, reason="one more dataset")
    outcome = gh.bot(sub.number)
    assert outcome.action == "waiting" and not gh.server.pull(sub.number)["merged"]


def test_lint_errors_refuse_and_never_merge(gh):
    broken = dataset(3, "do")
    del broken["generated_uid"]
    sub = gh.submit("do", {"datasets/3.yaml": y(broken)})
    outcome = gh.bot(sub.number)
    assert outcome.action == "refused" and outcome.problems
    assert not gh.server.pull(sub.number)["merged"]
    assert "refused" in gh.bot_comments(sub.number)[0]["body"]


def test_changes_under_dot_github_need_an_admin(gh):
    sub = gh.submit("do", {".github/workflows/medperf-git-validate.yml": b"name: mine\non: push\njobs: {}\n"})
    outcome = gh.bot(sub.number)
    assert outcome.action in ("waiting", "refused") and not gh.server.pull(sub.number)["merged"]
    text = " ".join(outcome.waiting + outcome.problems)
    assert ".github/workflows/medperf-git-validate.yml" in text


def test_ci_bot_command_reads_the_event_file(gh, invoke, tmp_path, monkeypatch):
    sub = gh.submit("do", {"datasets/3.yaml": y(dataset(3, "do"))})
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.event(sub.number)))
    monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", BOT_TOKEN)
    result = invoke("ci", "bot", "--event", str(event), "--path", str(gh.bot_repo.path), "--api-url",
                    gh.server.base_url, "--no-merge", "--format", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)[0]["action"] == "mergeable"
    assert BOT_TOKEN not in result.stdout + result.stderr
    event.write_text(json.dumps({"repository": {"full_name": gh.server.full_name}, "issue": {
        "number": sub.number, "pull_request": {}}, "comment": {"body": "looks good to me"}}))
    ignored = invoke("ci", "bot", "--event", str(event), "--path", str(gh.bot_repo.path), "--api-url",
                     gh.server.base_url)
    assert ignored.exit_code == 0 and "ignored" in ignored.stdout and "@medperf-git check" in ignored.stdout


def test_a_pull_request_into_another_branch_is_left_alone(gh):
    forge = gh.forge("do")
    head = commit_changes(forge.repo, forge.main, {"datasets/3.yaml": y(dataset(3, "do"))}, "d",
                          gh.world["do"].identity)
    assert forge._push_branch("side", forge.main, None) and forge._push_branch("medperf-git/do/x", head, None)
    status, pr = gh.server.create_pull(gh.server.users[gh.token("do")], {"title": "t", "body": "",
                                                                         "head": "medperf-git/do/x", "base": "side"})
    assert [o.number for o in gh.sweep()] == []
    assert not gh.server.pull(pr["number"])["merged"]
