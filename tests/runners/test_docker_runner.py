"""The docker runner against a real Docker-API engine (podman's socket): image pins, builds and GPU requests."""

from __future__ import annotations

import json
import uuid

import pytest
from runner_helpers import BASE_IMAGE, docker_reason

from medperf_git.errors import EXIT_HASH, ContainerFailed, HashMismatch
from medperf_git.runners import RunOptions, load_config, resolve_container, run_task
from medperf_git.runners._spec import build_spec
from medperf_git.runners.docker import create_kwargs, device_requests

REASON = docker_reason()

SCRIPT = """\
import json, os, sys
with open(os.path.join(os.environ["MP_VOL_OUTPUT_PATH"], "out.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "python": sys.executable}, f)
"""


def _base_image_id() -> str:
    from medperf_git.runners.docker import _shared_client

    return _shared_client().images.get(BASE_IMAGE).id


def _record(config_path, image: dict) -> dict:
    import yaml

    config = yaml.safe_load(config_path.read_text())
    config["tasks"]["infer"]["run_args"] = {"entrypoint": ["python3", "-c", SCRIPT]}
    return {"schema_version": 1, "kind": "container", "id": 7, "name": "probe", "owner": "alice",
            "config": config, "parameters": {"threshold": 0.5}, "image": image}


def _run(record, tmp_path, shared_cache):
    container = resolve_container(record, cache_dir=shared_cache)
    options = RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", runner="docker", timeout=60,
                         cache_dir=shared_cache)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return run_task(container, "infer", {"data_path": data, "output_path": tmp_path / "out"}, options)


@pytest.mark.docker
@pytest.mark.skipif(REASON is not None, reason=f"docker: {REASON}")
def test_an_image_pinned_by_id_runs_and_is_recorded(make_container, tmp_path, shared_cache):
    image_id = _base_image_id()
    result = _run(_record(make_container(SCRIPT), {"reference": BASE_IMAGE, "image_id": image_id}), tmp_path,
                  shared_cache)
    assert result.image["image_id"] == image_id
    assert result.pins["image"] == {"reference": BASE_IMAGE, "image_id": image_id}
    assert json.loads((tmp_path / "out" / "out.json").read_text())["python"] == "/usr/bin/python3"


@pytest.mark.docker
@pytest.mark.skipif(REASON is not None, reason=f"docker: {REASON}")
def test_a_missing_image_is_a_clear_error(make_container, tmp_path, shared_cache):
    pin = {"reference": "localhost/medperf-git-nowhere:1", "image_id": "sha256:" + "0" * 64}
    with pytest.raises(ContainerFailed, match="localhost/medperf-git-nowhere:1 .* is not on this machine"):
        _run(_record(make_container(SCRIPT), pin), tmp_path, shared_cache)


@pytest.mark.docker
@pytest.mark.skipif(REASON is not None, reason=f"docker: {REASON}")
@pytest.mark.parametrize("field", ["image_id", "digest"])
def test_a_local_image_that_is_not_the_pinned_one_is_a_hash_mismatch(field, make_container, tmp_path, shared_cache):
    pin = {"reference": BASE_IMAGE, field: "sha256:" + "ab" * 32}
    with pytest.raises(HashMismatch) as info:
        _run(_record(make_container(SCRIPT), pin), tmp_path, shared_cache)
    assert info.value.exit_code == EXIT_HASH
    assert info.value.expected == "sha256:" + "ab" * 32
    assert BASE_IMAGE in info.value.message


@pytest.mark.docker
@pytest.mark.skipif(REASON is not None, reason=f"docker: {REASON}")
def test_with_only_a_source_the_image_is_built_once_and_its_id_recorded(make_container, run_inline):
    unique = f"# {uuid.uuid4()}: a source no earlier run has built\n"
    config = make_container(unique + SCRIPT.replace("sys.argv[1:]", "sys.argv[1:] + ['built']"))
    first, out, lines = run_inline(config, "docker")
    assert any("building the image" in line for line in lines)
    assert json.loads((out / "out.json").read_text())["argv"] == ["built"]
    second, _, lines = run_inline(config, "docker")
    assert not any("building the image" in line for line in lines)
    assert first.image["image_id"] == second.image["image_id"]
    assert first.image["image_id"].startswith("sha256:")
    from medperf_git.runners.docker import _shared_client, wait_for_removals

    wait_for_removals(60)  # the tasks' containers go first: podman refuses an image whose container is going
    _shared_client().images.remove(first.image["image_id"], force=True)  # this source is never built again


@pytest.mark.docker
@pytest.mark.skipif(REASON is not None, reason=f"docker: {REASON}")
def test_output_to_the_last_line_exit_codes_and_no_container_left(make_container, run_inline, monkeypatch):
    """The log is read to its end and the exit code taken from the container's state (no wait), and each task's
    container is removed afterwards, from a thread of its own, whether the task passed or failed."""
    import docker

    from medperf_git.runners import docker as docker_runner

    created = []
    real = docker_runner._create
    monkeypatch.setattr(docker_runner, "_create", lambda *a: created.append(real(*a)) or created[-1])
    ok = make_container(SCRIPT + "import time\ntime.sleep(1.5)\nprint('the last line', flush=True)\n")
    result, _, lines = run_inline(ok, "docker")
    assert result.exit_code == 0 and lines[-1] == "the last line"
    failing = make_container("print('last words')\nraise SystemExit(7)\n", name="failing")
    with pytest.raises(ContainerFailed, match="exit code 7") as info:
        run_inline(failing, "docker")
    assert "last words" in info.value.message
    docker_runner.wait_for_removals(60)
    assert len(created) == 2
    for container in created:
        with pytest.raises(docker.errors.NotFound):
            docker_runner._shared_client().containers.get(container.id)


# GPUs: no GPU here, so only the device requests and the host config they make can be checked (a limit).
@pytest.mark.parametrize(("gpus", "expected"), [
    (None, []),
    ("all", [{"Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]]}]),
    ("2", [{"Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]]}]),
    ("device=0,3", [{"Count": 0, "DeviceIDs": ["0", "3"], "Capabilities": [["gpu"]]}]),
])
def test_gpus_become_device_requests(gpus, expected, make_container, tmp_path):
    from docker.types import HostConfig

    from medperf_git.runners._spec import normalize_gpus

    keys = ("Count", "DeviceIDs", "Capabilities")
    requests = device_requests(normalize_gpus(gpus))
    assert [{k: r[k] for k in keys} for r in requests] == expected
    host_config = HostConfig(version="1.41", device_requests=requests, network_mode="none")
    assert [{k: r[k] for k in keys} for r in host_config.get("DeviceRequests", [])] == expected


def test_create_arguments_follow_the_contract(make_container, tmp_path):
    from medperf_git.runners.base import ResolvedContainer

    config = load_config(make_container(SCRIPT))
    container = ResolvedContainer(config=config, parameters={}, source_dir=config.source_dir)
    (tmp_path / "data").mkdir()
    spec = build_spec(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"},
                      RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", gpus="all"))
    kwargs = create_kwargs(spec, "sha256:" + "1" * 64)
    mounts = {m["Target"]: m for m in kwargs["mounts"]}
    assert mounts["/mlcommons/volumes/data"]["ReadOnly"] is True
    assert mounts["/mlcommons/volumes/output"]["ReadOnly"] is False
    assert mounts["/tmp"]["Source"] == str(spec.tmp_dir)
    assert kwargs["network_mode"] == "none"
    assert kwargs["user"].count(":") == 1
    assert kwargs["environment"]["PYTHONUNBUFFERED"] == "1"
    assert kwargs["environment"]["MP_VOL_DATA_PATH"] == "/mlcommons/volumes/data"
    assert kwargs["device_requests"][0]["Count"] == -1
    assert kwargs["cap_drop"] == ["ALL"]
    assert kwargs["security_opt"] == ["no-new-privileges"] and kwargs["pids_limit"] == 4096


def test_no_engine_is_a_clear_error_naming_docker_host(monkeypatch, tmp_path):
    from medperf_git.errors import RunnerUnavailable
    from medperf_git.runners import select_runner

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(RunnerUnavailable, match=f"no Docker engine answers at unix://{tmp_path}/nothing.sock"):
        select_runner("docker")


@pytest.mark.slow  # saves and loads the ~300 MB base image
@pytest.mark.docker
@pytest.mark.skipif(REASON is not None, reason=f"docker: {REASON}")
def test_a_docker_archive_is_fetched_checked_loaded_once_and_pinned_by_id(make_container, tmp_path, shared_cache):
    import hashlib

    from medperf_git.runners.docker import _shared_client

    archive = tmp_path / "image.tar"
    sha = hashlib.sha256()
    with open(archive, "wb") as handle:
        for chunk in _shared_client().images.get(BASE_IMAGE).save(named=True):
            handle.write(chunk)
            sha.update(chunk)
    record = _record(make_container(SCRIPT), {"reference": archive.as_uri(), "digest": "sha256:" + sha.hexdigest()})
    record["config"]["container_type"] = "DockerArchive"
    cache = tmp_path / "cache"

    def run(rec, name):
        container = resolve_container(rec, cache_dir=cache, allow_file_urls=True)
        lines = []
        options = RunOptions(logs_dir=tmp_path / name, work_dir=tmp_path / "work", runner="docker", timeout=120,
                             cache_dir=cache, on_output=lines.append)
        (tmp_path / "data").mkdir(exist_ok=True)
        result = run_task(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / name / "out"},
                          options)
        return result, lines

    first, lines = run(record, "first")
    assert first.image["image_id"] == _base_image_id()
    assert any("loading the image archive" in line for line in lines)
    _, lines = run(record, "second")
    assert not any("loading the image archive" in line for line in lines)
    record["image"]["image_id"] = "sha256:" + "9" * 64
    with pytest.raises(HashMismatch):
        run(record, "third")


# -- checking an image pin at registration ------------------------------------------------------------


@pytest.fixture
def base_pin():
    """(reference, repository digest, image id) of the local base image: a real pin to check."""
    from medperf_git.runners.docker import _shared_client

    if REASON is not None:
        pytest.skip(f"docker: {REASON}")
    image = _shared_client().images.get(BASE_IMAGE)
    if not image.attrs.get("RepoDigests"):
        pytest.skip("this engine gives local images no repository digest (podman does, Docker Engine does not)")
    return BASE_IMAGE, image.attrs["RepoDigests"][0].split("@", 1)[1], image.id


@pytest.mark.docker
def test_a_pin_the_engine_holds_is_checked_by_digest_or_by_id(base_pin):
    from medperf_git.runners.docker import check_image_pin

    reference, digest, image_id = base_pin
    by_digest = check_image_pin(reference, digest)
    assert by_digest.checked and by_digest.pin == {"reference": reference, "digest": digest}
    assert by_digest.engine and "API" in by_digest.engine
    by_id = check_image_pin(reference, image_id)
    assert by_id.checked and by_id.pin == {"reference": reference, "image_id": image_id}
    read = check_image_pin(reference, None)
    assert read.checked and read.pin == {"reference": reference, "image_id": image_id, "digest": digest}


@pytest.mark.docker
@pytest.mark.parametrize("wanted", ["sha256:" + "0" * 64, "sha256:" + "ab" * 32])
def test_a_pin_that_is_not_the_local_image_is_a_mismatch_naming_both(wanted, base_pin):
    from medperf_git.runners.docker import check_image_pin

    reference, digest, image_id = base_pin
    with pytest.raises(HashMismatch) as info:
        check_image_pin(reference, wanted)
    assert info.value.exit_code == EXIT_HASH
    assert all(text in info.value.message for text in (reference, wanted, digest, image_id))
    assert "docker image inspect" in info.value.hint


@pytest.mark.docker
@pytest.mark.skipif(REASON is not None, reason=f"docker: {REASON}")
def test_a_registry_out_of_reach_leaves_the_pin_unchecked_with_the_reason():
    from medperf_git.runners.docker import check_image_pin

    wanted = "sha256:" + "12" * 32
    check = check_image_pin("127.0.0.1:9/medperf-git/absent:1", wanted)  # port 9: nothing listens
    assert not check.checked and check.engine
    assert check.pin == {"reference": "127.0.0.1:9/medperf-git/absent:1", "digest": wanted}
    assert "could not pull 127.0.0.1:9/medperf-git/absent@" in check.detail and "127.0.0.1:9" in check.detail


def test_with_no_engine_a_given_pin_is_unchecked_and_none_can_be_read(monkeypatch, tmp_path):
    from medperf_git.errors import UsageError
    from medperf_git.runners.docker import check_image_pin

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    check = check_image_pin("registry.example.org/prep:1", "sha256:" + "12" * 32)
    assert not check.checked and check.engine is None
    assert f"no Docker engine answers at unix://{tmp_path}/dead.sock" in check.detail
    with pytest.raises(UsageError, match="cannot read the digest of image registry.example.org/prep:1"):
        check_image_pin("registry.example.org/prep:1", None)


@pytest.mark.parametrize(("message", "missing"), [
    ("manifest for example.org/x@sha256:12 not found: manifest unknown: manifest unknown", True),
    ("reading manifest sha256:12 in example.org/x: manifest unknown", True),
    ('pinging container registry localhost: Get "https://localhost/v2/": dial tcp 127.0.0.1:443: connection refused',
     False),
    ("lookup registry.example.invalid on 10.0.0.53:53: no such host", False),
    ("pull access denied for x, repository does not exist or may require 'docker login'", False),
    ("reading manifest sha256:12 in example.org/x: unauthorized: authentication required", False),
])
def test_a_failed_pull_is_missing_only_when_the_registry_said_so(message, missing):
    from medperf_git.runners.docker import pull_failure_is_missing

    assert pull_failure_is_missing(message) is missing
