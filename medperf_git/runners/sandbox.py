"""The ``sandbox`` runner: the container under bubblewrap, from its image archive or from its source.

The task sees the same paths as under docker (the declared mount paths, ``/project``), inputs are
read-only, there is no network, a private /tmp and pid namespace, and the caller's uid:gid. Given an
image archive (docker-archive or OCI layout), it runs the image's own filesystem, unpacked once and
verified by digest (``images.py``), with the image's ENTRYPOINT, CMD, WORKDIR and ENV: the real image,
no engine. Otherwise it runs the source with the host's Python and the source's virtual environment,
which the provenance records, taking what the image would run from the Dockerfile when the config
does not say.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from medperf_git.errors import ContainerFailed
from medperf_git.runners._python import Interpreter, default_venvs_dir, interpreter_for, run_source_task
from medperf_git.runners._spec import refuse_key_exposure
from medperf_git.runners.base import ISOLATION, RunOptions, RunResult
from medperf_git.runners.local import source_binds

if TYPE_CHECKING:
    from medperf_git.runners._process import LogSink
    from medperf_git.runners._spec import TaskSpec
    from medperf_git.runners.base import ResolvedContainer
    from medperf_git.runners.images import UnpackedImage

SYSTEM_RO = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
VENV_TARGET = "/opt/medperf-git/venv"
PATH = f"{VENV_TARGET}/bin:/usr/local/bin:/usr/bin:/bin"


@functools.cache
def _bwrap_check(bwrap: str) -> str | None:
    """bwrap exists but may be unable to make namespaces (containers, hardened kernels): try once."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", *_system_binds(), "--proc", "/proc", "--dev", "/dev",
            "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap does not run: {exc}"
    if proc.returncode != 0:
        return f"bwrap cannot create namespaces here: {proc.stderr.strip()[:300]}"
    return None


@functools.cache
def _bwrap_version(bwrap: str) -> str:
    proc = subprocess.run([bwrap, "--version"], capture_output=True, text=True)
    return proc.stdout.strip() or "bubblewrap"


def _system_binds() -> list[str]:
    out: list[str] = []
    for path in SYSTEM_RO:
        if os.path.islink(path):
            out += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            out += ["--ro-bind", path, path]
    return out


def gpu_args(spec: TaskSpec) -> list[str]:
    """Best effort: the NVIDIA device nodes, and CUDA_VISIBLE_DEVICES to select among them."""
    if spec.gpus is None:
        return ["--setenv", "CUDA_VISIBLE_DEVICES", ""]
    args: list[str] = []
    for node in sorted(glob.glob("/dev/nvidia*")):
        args += ["--dev-bind", node, node]
    cuda = spec.cuda_visible_devices()
    if cuda is not None:
        args += ["--setenv", "CUDA_VISIBLE_DEVICES", cuda]
    return args


def _workdir_args(spec: TaskSpec, made: tuple[str, ...]) -> list[str]:
    """``--chdir`` to the image's WORKDIR, made on the sandbox's root when nothing there holds it."""
    workdir = spec.workdir()
    if not workdir:
        return ["--chdir", "/tmp"]
    owned = (*made, "/tmp", "/proc", "/dev", *(m.target for m in spec.mounts))
    if any(workdir == p or workdir.startswith(p.rstrip("/") + "/") for p in owned):
        return ["--chdir", workdir]
    return ["--dir", workdir, "--chdir", workdir]


def build_argv(bwrap: str, spec: TaskSpec, interp: Interpreter, venv: str | None) -> list[str]:
    """The whole bwrap command line for one task; pure, so tests can read it."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--setenv", "PATH", PATH, "--setenv", "LANG", "C.UTF-8"]
    for key, value in spec.environment(host_paths=False, image_env=True).items():
        argv += ["--setenv", key, value]
    argv += _system_binds()
    argv += ["--proc", "/proc", "--dev", "/dev", "--bind", str(spec.tmp_dir), "/tmp"]
    # After the private /tmp, so that an interpreter or environment living under /tmp stays visible.
    prefixes = {interp.base_prefix} if venv else {interp.base_prefix, interp.prefix}
    for prefix in sorted(prefixes):
        if not any(prefix == p or prefix.startswith(p + "/") for p in SYSTEM_RO):
            argv += ["--ro-bind", prefix, prefix]
    if venv:
        argv += ["--ro-bind", venv, VENV_TARGET]
    argv += gpu_args(spec)
    binds = source_binds(spec)
    for target, host in sorted(binds.items()):
        argv += ["--ro-bind", str(host), target]
    argv += _mount_args(spec)
    argv += ["--uid", str(os.getuid()), "--gid", str(os.getgid())]
    argv += _workdir_args(spec, (*SYSTEM_RO, *binds))
    python = f"{VENV_TARGET}/bin/python" if venv else interp.executable
    return argv + ["--", *spec.source_argv(python), *spec.path_args(host_paths=False)]


def _mount_args(spec: TaskSpec) -> list[str]:
    out: list[str] = []
    for mount in spec.mounts:
        out += ["--ro-bind" if mount.read_only else "--bind", str(mount.host), mount.target]
    return out


IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's default
_RUNTIME_ROOTS = ("proc", "dev", "tmp")  # the sandbox's own, whatever the image has there
_RUNTIME_DIRS = ("/proc", "/dev", "/tmp")


def root_args(rootfs: Path, targets: list[str]) -> list[str]:
    """The image's root, read-only, entry by entry, split open only where a mount goes inside it.

    A symbolic link is recreated as a link (``--symlink``), never bound: binding it would make
    bubblewrap follow it on the host, and an image's ``/etc/x -> /root/.ssh/id_ed25519`` would
    then show the host's file.
    """
    from medperf_git.errors import ContainerConfigInvalid

    out: list[str] = []

    def walk(host: Path, inside: str) -> None:
        with os.scandir(host) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            path = f"{inside.rstrip('/')}/{entry.name}"
            if inside == "/" and entry.name in _RUNTIME_ROOTS:
                continue
            st = entry.stat(follow_symlinks=False)
            below = [t for t in targets if t.startswith(path + "/")]
            if stat.S_ISLNK(st.st_mode):
                if below or path in targets:
                    raise ContainerConfigInvalid(
                        f"the mount path {(below or [path])[0]} goes through {path}, a symbolic link in the image",
                        hint="give the volume a mount_path that is not under a link of the image")
                out.extend(["--symlink", os.readlink(entry.path), path])
            elif stat.S_ISDIR(st.st_mode):
                if below:
                    out.extend(["--dir", path])
                    walk(Path(entry.path), path)
                elif path not in targets:
                    out.extend(["--ro-bind", entry.path, path])
            elif stat.S_ISREG(st.st_mode) and path not in targets:
                out.extend(["--ro-bind", entry.path, path])

    walk(rootfs, "/")
    return out


def build_image_argv(bwrap: str, spec: TaskSpec, image: UnpackedImage) -> list[str]:
    """bwrap's command line for a task of an unpacked image: its root, its settings, our mounts."""
    settings = image.config
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--setenv", "PATH", settings.env.get("PATH", IMAGE_PATH)]
    for key, value in {**settings.env, **spec.environment(host_paths=False)}.items():
        if key != "PATH":
            argv += ["--setenv", key, value]
    workdir = settings.workdir or "/"
    # Docker makes a WORKDIR the image lacks; here it is made on the sandbox's root, splitting the image open.
    missing = not os.path.isdir(image.rootfs / workdir.lstrip("/")) and not workdir.startswith(_RUNTIME_DIRS)
    argv += root_args(image.rootfs, [m.target for m in spec.mounts] + ([workdir] if missing else []))
    argv += ["--proc", "/proc", "--dev", "/dev", "--bind", str(spec.tmp_dir), "/tmp"]
    argv += gpu_args(spec)
    argv += _mount_args(spec)
    argv += ["--uid", str(os.getuid()), "--gid", str(os.getgid())]
    argv += (["--dir", workdir] if missing else []) + ["--chdir", workdir]
    command = settings.argv(spec.task.entrypoint, spec.task.command)
    if not command:
        raise ContainerFailed(f"{spec.container.config.source}: task '{spec.task.name}' says nothing to run, and "
                              f"neither does the image ({settings.source} has no Entrypoint or Cmd)",
                              hint=f"add tasks.{spec.task.name}.run_args.command")
    return argv + ["--", *command, *spec.path_args(host_paths=False)]


class SandboxRunner:
    name = "sandbox"
    isolation = ISOLATION["sandbox"]

    def __init__(self) -> None:
        self.bwrap = shutil.which("bwrap")

    def available(self) -> str | None:
        if not self.bwrap:
            return "bubblewrap (bwrap) is not installed"
        return _bwrap_check(self.bwrap)

    def version(self) -> str:
        return _bwrap_version(self.bwrap) if self.bwrap else "bubblewrap"

    def run(self, spec: TaskSpec, options: RunOptions) -> RunResult:
        from medperf_git.runners.images import image_archive

        if image_archive(spec.container) is not None:
            return self._run_image(spec, options)
        container = spec.container
        source_binds(spec)  # fail early, before any environment is made, when there is no source
        local = container.config.local_section()
        interp = interpreter_for(container.source_dir, local.requirements, options.python,
                                 options.cache_dir / "venvs" if options.cache_dir else default_venvs_dir())
        venv = interp.prefix if interp.prefix != interp.base_prefix and not options.python else None
        refuse_key_exposure({"interpreter": Path(interp.prefix), "base interpreter": Path(interp.base_prefix)})
        argv = build_argv(self.bwrap, spec, interp, venv)
        return run_source_task(self, spec, options, argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                               cwd=spec.tmp_dir, interp=interp)

    def _run_image(self, spec: TaskSpec, options: RunOptions) -> RunResult:
        """The archived image's own filesystem under bubblewrap: verified, unpacked once, then run."""
        from medperf_git.runners._process import run_process
        from medperf_git.runners._python import default_venvs_dir

        container = spec.container
        cache_dir = options.cache_dir or default_venvs_dir().parent
        sink = spec.open_sink(options)
        try:
            image = archived_image(container, cache_dir, sink)
            container.image_config = image.config
            argv = build_image_argv(self.bwrap, spec, image)
            outcome = run_process(argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, cwd=spec.tmp_dir,
                                  timeout=options.timeout, sink=sink)
        finally:
            sink.close()
        ran = {"reference": (container.image or {}).get("reference") or str(image.rootfs),
               "digest": image.archive_digest, "image_id": image.image_id}
        return RunResult(runner=self.name, isolation=self.isolation, runner_version=self.version(),
                         exit_code=outcome.exit_code, log_path=spec.log_path, duration=outcome.duration,
                         pins=dict(container.pins), config_hash=container.config.config_hash,
                         parameters_hash=container.parameters_hash, image=ran, timed_out=outcome.timed_out)


def archived_image(container: ResolvedContainer, cache_dir: Path, sink: LogSink) -> UnpackedImage:
    """Fetch (or find) the archive, check its sha256 against the pin, and unpack it once."""
    from medperf_git.hashing import normalize_sha256
    from medperf_git.runners.images import INFO, locate_archive, unpacked_image

    pin = container.image or {}
    expected_id = normalize_sha256(pin["image_id"]) if pin.get("image_id") else None
    path, digest = locate_archive(container, cache_dir)
    if not (cache_dir / "images" / digest.split(":", 1)[1] / INFO).is_file():
        sink.note(f"unpacking the image archive {pin['reference']} (once; later runs use the cache)")
    return unpacked_image(path, digest, cache_dir, expected_id)
