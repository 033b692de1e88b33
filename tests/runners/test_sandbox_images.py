"""The sandbox runs an image archive's own filesystem: podman-made archives in both formats, no engine at run time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from image_archives import Image, docker_archive, layer, sha
from runner_helpers import BASE_IMAGE, ISOLATING, sandbox_reason

from medperf_git.errors import ContainerConfigInvalid, HashMismatch
from medperf_git.runners import RunOptions, load_config, resolve_container, run_task
from medperf_git.runners.sandbox import root_args

SCRIPT = ('read x < /mlcommons/volumes/data/a.txt; '
          'if printf x > /mlcommons/volumes/data/new 2>/dev/null; then echo INPUT-WRITABLE; fi; '
          'printf "%s %s %s %s\\n" "$GREETING" "$x" "$(pwd)" "$MP_TASK" > /mlcommons/volumes/output/out.txt')
DOCKERFILE = f"""\
FROM scratch
COPY rootfs/ /
ENV GREETING=hello
WORKDIR /work
ENTRYPOINT {json.dumps(["/bin/sh", "-c", SCRIPT])}
"""
TINY = "localhost/medperf-git-tiny-test:1"
CONFIG = """\
container_type: DockerArchive
image: {image}
tasks:
  infer:
    input_volumes:
      data_path: {{mount_path: /mlcommons/volumes/data, type: directory}}
    output_volumes:
      output_path: {{mount_path: /mlcommons/volumes/output, type: directory}}
"""


def _podman() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed"
    return sandbox_reason()


needs_podman = pytest.mark.skipif(_podman() is not None, reason=str(_podman()))


def _tiny_rootfs(root: Path) -> None:
    """The host's dash and the two libraries it needs: an image of ~2 MB whose links are real links."""
    lib = root / "usr/lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy("/usr/bin/dash", root / "usr/bin/dash")
    for name in ("libc.so.6", "ld-linux-x86-64.so.2"):
        shutil.copy(Path("/usr/lib/x86_64-linux-gnu") / name, lib / name)
    (root / "usr/bin/sh").symlink_to("dash")
    (root / "bin").symlink_to("usr/bin")
    (root / "lib").symlink_to("usr/lib")
    (root / "lib64").mkdir()
    (root / "lib64/ld-linux-x86-64.so.2").symlink_to("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """One image built by podman, saved as a docker-archive and as an OCI archive, and its id."""
    if not Path("/usr/bin/dash").exists():
        pytest.skip("no /usr/bin/dash to build the tiny image from")
    work = tmp_path_factory.mktemp("tiny")
    _tiny_rootfs(work / "rootfs")
    (work / "Dockerfile").write_text(DOCKERFILE)
    tag = TINY
    env = {**os.environ}  # CONTAINERS_CONF, as scripts/setup_engines.sh exports it
    built = subprocess.run(["podman", "build", "-q", "-t", tag, str(work)], check=True, capture_output=True,
                           text=True, env=env)
    out = {"image_id": built.stdout.split()[-1]}  # what podman printed: the id of the image it built
    for fmt in ("docker-archive", "oci-archive"):
        out[fmt] = work / f"{fmt}.tar"
        subprocess.run(["podman", "save", "--format", fmt, "-o", str(out[fmt]), tag], check=True,
                       capture_output=True, env=env)
    return out


def _run(tmp_path, archive: Path, pin: dict | None = None, cache: Path | None = None, runner: str = "sandbox"):
    folder = tmp_path / "container"
    folder.mkdir(exist_ok=True)
    shutil.copy(archive, folder / archive.name)
    (folder / "container_config.yaml").write_text(CONFIG.format(image=archive.name))
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "a.txt").write_text("world\n")
    container = resolve_container(load_config(folder / "container_config.yaml"), cache_dir=tmp_path / "cache",
                                  parameters={})
    container.image = {**(container.image or {}), **(pin or {})}
    options = RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", runner=runner, timeout=60,
                         cache_dir=cache or tmp_path / "cache")
    return run_task(container, "infer", {"data_path": data, "output_path": tmp_path / "out"}, options)


@needs_podman
@pytest.mark.parametrize("runner", ISOLATING)
@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_the_image_itself_runs_with_its_entrypoint_env_and_workdir(fmt, runner, saved, tmp_path):
    """The same archive under the sandbox (unpacked, no engine) and docker (loaded): the same result."""
    result = _run(tmp_path, saved[fmt], runner=runner)
    # The image's ENTRYPOINT ran, with its ENV and WORKDIR, the volumes at the config's paths, inputs read-only.
    assert (tmp_path / "out" / "out.txt").read_text() == "hello world /work infer\n"
    assert "INPUT-WRITABLE" not in result.log_path.read_text()
    assert result.runner == runner
    assert result.image["image_id"] == "sha256:" + saved["image_id"].removeprefix("sha256:")
    if runner == "sandbox":
        assert result.image["digest"] == sha(saved[fmt].read_bytes())


@needs_podman
@pytest.mark.bwrap
def test_an_archive_that_is_not_the_pinned_one_is_refused(saved, tmp_path):
    with pytest.raises(HashMismatch, match="image archive"):
        _run(tmp_path, saved["docker-archive"], pin={"digest": sha(b"another archive")})
    with pytest.raises(HashMismatch):
        _run(tmp_path, saved["docker-archive"], pin={"image_id": sha(b"another image")})
    assert not (tmp_path / "out" / "out.txt").exists()


@needs_podman
@pytest.mark.bwrap
@pytest.mark.slow
def test_a_real_debian_image_with_whiteouts(tmp_path):
    """The project's base image plus a layer that deletes files (whiteouts): python3 runs from the image."""
    image = "localhost/medperf-git-whiteouts-test:1"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN rm -rf /usr/share/doc /etc/issue.net && mkdir -p /usr/share/doc && "
        "echo new > /usr/share/doc/only\nENTRYPOINT [\"python3\", \"-c\", \"import os, numpy; "
        "open('/mlcommons/volumes/output/out.txt', 'w').write(repr((os.path.exists('/etc/issue.net'), "
        "os.listdir('/usr/share/doc'), numpy.__version__)))\"]\n")
    subprocess.run(["podman", "build", "-q", "-t", image, str(tmp_path)], check=True, capture_output=True)
    archive = tmp_path / "image.tar"
    subprocess.run(["podman", "save", "--format", "docker-archive", "-o", str(archive), image], check=True,
                   capture_output=True)
    _run(tmp_path, archive)
    assert (tmp_path / "out" / "out.txt").read_text().startswith("(False, ['only'], '1.")


def test_links_in_the_image_are_recreated_never_followed_on_the_host(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "stolen").symlink_to("/etc/shadow")
    (root / "bin").symlink_to("usr/bin")
    (root / "work").mkdir()
    argv = root_args(root, ["/etc/mounted", "/mlcommons/volumes/data"])
    text = " ".join(argv)
    assert "--symlink /etc/shadow /etc/stolen" in text and "--symlink usr/bin /bin" in text
    assert str(root / "etc" / "stolen") not in argv  # never a bind of the link (bwrap would follow it)
    assert "--dir /etc" in text  # split open, since a mount goes inside it
    with pytest.raises(ContainerConfigInvalid, match="symbolic link in the image"):
        root_args(root, ["/bin/data"])


@pytest.mark.bwrap
@pytest.mark.skipif(sandbox_reason() is not None, reason=f"sandbox: {sandbox_reason()}")
def test_a_hostile_archive_stops_before_anything_runs(tmp_path):
    archive = docker_archive(tmp_path / "evil.tar", Image([layer(("symlink", "evil", "/")),
                                                           layer(("file", "evil/tmp/pwned", b"x"))]))
    from medperf_git.errors import UnsafeArchive

    with pytest.raises(UnsafeArchive, match="symbolic link"):
        _run(tmp_path, archive)
    assert not Path("/tmp/pwned").exists()


@needs_podman
@pytest.mark.bwrap
def test_a_registry_record_pinning_an_archive_by_url(saved, tmp_path):
    """As `container submit` records a DockerArchive: the archive's URL and sha256; fetched, checked, unpacked."""
    archive = saved["oci-archive"]
    record = {"schema_version": 1, "kind": "container", "id": 7, "name": "tiny", "owner": "someone",
              "config": {"container_type": "DockerArchive", "image": archive.as_uri(),
                         "tasks": {"infer": {
                             "input_volumes": {"data_path": {"mount_path": "/mlcommons/volumes/data",
                                                             "type": "directory"}},
                             "output_volumes": {"output_path": {"mount_path": "/mlcommons/volumes/output",
                                                                "type": "directory"}}}}},
              "image": {"reference": archive.as_uri(), "digest": sha(archive.read_bytes())}}
    container = resolve_container(record, cache_dir=tmp_path / "cache", allow_file_urls=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("registry\n")
    options = RunOptions(logs_dir=tmp_path / "logs", work_dir=tmp_path / "work", runner="sandbox", timeout=60,
                         cache_dir=tmp_path / "cache")
    result = run_task(container, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out"}, options)
    assert (tmp_path / "out" / "out.txt").read_text() == "hello registry /work infer\n"
    assert result.image == {"reference": archive.as_uri(), "digest": sha(archive.read_bytes()),
                            "image_id": result.image["image_id"]}
    record["image"]["digest"] = sha(b"not this archive")
    tampered = resolve_container(record, cache_dir=tmp_path / "cache2", allow_file_urls=True)
    with pytest.raises(HashMismatch):
        run_task(tampered, "infer", {"data_path": tmp_path / "data", "output_path": tmp_path / "out2"}, options)
