"""The tutorial's data owner steps, unchanged, on a registry hosted on (a fake) GitHub: dataset submit,
associate (approved by the benchmark owner with `review approve`), benchmark run and result submit."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("github", reason="PyGithub is not installed (pip install -e '.[test]')")

from medperf_git.flows import dataset as dataset_flow, result as result_flow, review  # noqa: E402
from medperf_git.flows._containers import RunSettings  # noqa: E402
from medperf_git.flows.execution import run_benchmark  # noqa: E402
from medperf_git.registry.commits import commit_changes, update_ref  # noqa: E402
from medperf_git.registry.git import GitRepo  # noqa: E402
from tests.github.fake_github import FakeGitHub, github_accounts  # noqa: E402
from tests.support.tutorial_registry import PEOPLE, make_raw_data, seed_tutorial_registry  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.unprivileged]
YES = lambda record: True  # noqa: E731 - answers every confirmation


def settings():
    return RunSettings(runner="local", python=sys.executable)


def test_tutorial_data_owner_on_github(tmp_path, monkeypatch):
    registry, actors, _ = seed_tutorial_registry(tmp_path, registry_settings={"host": "github"}, runner="local",
                                            python=sys.executable)
    repo = GitRepo(registry)
    ids, people = github_accounts(actors, PEOPLE, 500)
    main = repo.rev_parse("refs/heads/main")
    update_ref(repo, "refs/heads/main", commit_changes(repo, main, people, "GitHub accounts",
                                                       actors["testadmin"].identity), main)
    server = FakeGitHub(registry).start()
    try:
        for h in PEOPLE:
            server.add_user(f"ghp_{h}TUTORIAL0123456789", h, ids[h])
            ws = actors[h].workspace()
            ws.profile.forge = "github"
            ws.profile.github = {"repository": server.full_name, "base_url": server.base_url, "bot": False}
            ws.config.save()
        raw = make_raw_data(tmp_path / "raw")
        do, bo = actors["testdo"], actors["testbo"]
        monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", "ghp_testdoTUTORIAL0123456789")
        with do.active():
            ds = dataset_flow.create(do.session(), benchmark=1, name="mytestdata", data_path=raw / "images",
                                     labels_path=raw / "labels", settings=settings()).dataset
            submitted = dataset_flow.submit(do.session(), ds.uid[:10], confirm=YES)
            assert submitted.merged and submitted.record["id"] == 1
            requested = dataset_flow.associate(do.session(), benchmark=1, data_uid="1", confirm=YES,
                                               settings=settings())
            assert not requested.merged and requested.waiting_for == ["testbo"]
        body = server.pulls[requested.number]["body"]
        assert "### Compatibility tests" in body and "`associations/1/dataset-1.yaml`: Accuracy = " in body
        assert "kind: association" in body and "initiated_by: testdo" in body  # the record itself is shown
        assert "testbo" in body  # who must approve
        monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", "ghp_testboTUTORIAL0123456789")
        with bo.active():
            assert review.approve(bo.session(), requested.number).merged
        monkeypatch.setenv("MEDPERF_GIT_GITHUB_TOKEN", "ghp_testdoTUTORIAL0123456789")
        with do.active():
            summary = run_benchmark(do.session(), benchmark=1, data_uid="1", models=[2], settings=settings())
            name = summary.outcomes[0].name
            assert result_flow.submit(do.session(), name, confirm=YES).merged
        merged = [pr for pr in map(server.pull, list(server.pulls)) if pr["merged"]]
        assert len(merged) == 3 and all(pr["state"] == "closed" for pr in server.pulls.values())
        assert [pr["user"]["login"] for pr in merged] == ["testdo", "testdo", "testdo"]
        assert merged[1]["merged_by"]["login"] == "testbo"
    finally:
        server.stop()
