"""Attack: a model owner registers a container whose image digest names no image (all zeros).

It used to be accepted and published; it failed only later, on a data owner's machine. Now
`container submit` asks this machine's Docker-API engine (podman here) before publishing: a digest
the engine contradicts is refused with exit code 6 and nothing reaches the registry; a pin no engine
could check is published marked so, and `container view` calls it unverified. Real commands, a
real bare registry and a real image built from the local base image.
"""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from medperf_git.errors import EXIT_HASH
from medperf_git.registry.git import GitRepo
from tests.runners.runner_helpers import BASE_IMAGE, docker_reason
from tests.support.actors import seed_registry
from tests.support.tutorial_registry import EXAMPLES

CONFIG = EXAMPLES / "model_reference" / "container_config.yaml"
ZERO = "sha256:" + "0" * 64
REASON = docker_reason()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """(reference, repository digest, image id) of a tiny image made here, removed afterwards."""
    from medperf_git.runners.docker import _shared_client

    if REASON is not None:
        pytest.skip(f"docker: {REASON}")
    folder = tmp_path_factory.mktemp("attack-image")
    (folder / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nLABEL medperf-git.attack={uuid.uuid4()}\n")
    reference = f"localhost/medperf-git-attack:{uuid.uuid4().hex[:8]}"
    built, _ = _shared_client().images.build(path=str(folder), tag=reference, rm=True, pull=False)
    built = _shared_client().images.get(built.id)
    if not built.attrs.get("RepoDigests"):
        _shared_client().images.remove(built.id, force=True)
        pytest.skip("this engine gives local builds no repository digest (podman does, Docker Engine does not)")
    yield reference, built.attrs["RepoDigests"][0].split("@", 1)[1], built.id
    from medperf_git.runners.docker import wait_for_removals

    wait_for_removals(60)  # containers that ran it are removed in the background
    _shared_client().images.remove(built.id, force=True)


@pytest.fixture
def registry(tmp_path):
    """A real bare registry with one registered model owner; returns (path, the owner)."""
    path, actors = seed_registry(tmp_path, ["admin", "mallory"])
    return path, actors["mallory"]


def _submit(invoke, owner, reference: str, digest: str):
    with owner.active():
        return invoke("container", "submit", "--name", f"model-{uuid.uuid4().hex[:6]}", "--config", str(CONFIG),
                      "--image", reference, "--image-hash", digest, "-y")


def _published(path) -> tuple[str, list[str]]:
    repo = GitRepo(path)
    refs = repo.out("for-each-ref", "--format=%(refname)", "refs/pull").splitlines()
    return repo.rev_parse("refs/heads/main"), refs


def _record(path, cid: int = 1) -> dict:
    return yaml.safe_load(GitRepo(path).read_path("refs/heads/main", f"containers/{cid}.yaml"))


@pytest.mark.docker
@pytest.mark.parametrize("field", ["digest", "image_id"])
def test_the_real_digest_or_id_is_accepted_and_marked_checked(field, image, registry, invoke):
    path, owner = registry
    reference, digest, image_id = image
    given = digest if field == "digest" else image_id
    result = _submit(invoke, owner, reference, given)
    assert result.exit_code == 0, result.output
    record = _record(path)
    assert record["image"] == {"reference": reference, field: given}
    assert record["image_check"]["checked"] is True and "API" in record["image_check"]["engine"]
    with owner.active():
        shown = invoke("container", "view", "1", "--json")
    assert json.loads(shown.stdout)["image_pin_status"] == "checked" and "unverified" not in shown.stderr


@pytest.mark.docker
def test_an_all_zero_digest_is_refused_with_exit_6_and_nothing_is_published(image, registry, invoke):
    path, owner = registry
    reference, digest, image_id = image
    before = _published(path)
    result = _submit(invoke, owner, reference, ZERO)
    assert result.exit_code == EXIT_HASH, result.output
    assert f"hash mismatch for image {reference}: expected {ZERO}" in result.stderr
    assert digest in result.stderr and image_id in result.stderr
    assert "docker image inspect" in result.stderr  # the fix
    assert "Traceback" not in result.output
    assert _published(path) == before == (before[0], [])


@pytest.mark.docker
def test_a_digest_of_another_image_is_refused(image, registry, invoke):
    path, owner = registry
    reference, _, _ = image
    from medperf_git.runners.docker import _shared_client

    other = _shared_client().images.get(BASE_IMAGE).id  # a real image, but not this reference's
    result = _submit(invoke, owner, reference, other)
    assert result.exit_code == EXIT_HASH, result.output
    assert _published(path)[1] == []


def test_with_no_engine_the_pin_is_published_unchecked_and_shown_unverified(registry, invoke, monkeypatch, tmp_path):
    path, owner = registry
    dead = f"unix://{tmp_path}/no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", dead)
    wanted = "sha256:" + "5e" * 32
    result = _submit(invoke, owner, "registry.example.org/model:1.0", wanted)
    assert result.exit_code == 0, result.output
    assert "could not be checked on this machine" in result.stderr and dead in result.stderr
    record = _record(path)
    assert record["image"] == {"reference": "registry.example.org/model:1.0", "digest": wanted}
    check = record["image_check"]
    assert check["checked"] is False and "engine" not in check and dead in check["detail"]
    with owner.active():
        human = invoke("container", "view", "1")
        as_json = invoke("container", "view", "1", "--json")
    assert human.exit_code == 0 and "image pin unverified" in human.stderr
    assert f"docker pull registry.example.org/model@{wanted}" in human.stderr  # the hint
    assert yaml.safe_load(human.stdout)["image_check"]["checked"] is False
    assert json.loads(as_json.stdout)["image_pin_status"] == "unverified"


def test_with_no_engine_an_all_zero_digest_is_still_refused(registry, invoke, monkeypatch, tmp_path):
    path, owner = registry
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = _submit(invoke, owner, "registry.example.org/model:1.0", ZERO)
    assert result.exit_code == 2 and "is a placeholder, not a digest" in result.stderr, result.output
    assert _published(path)[1] == []
