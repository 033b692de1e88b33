"""MedPerf's chest X-ray tutorial containers as test data: their Python, images and direct runs.

Their Dockerfiles say ``FROM python:3.9.16-slim`` and ``RUN pip3 install -r requirements.txt``. Docker Hub
is not reachable here, and the base image this project builds (Debian bookworm's python3 with numpy,
Pillow and PyYAML) lacks tqdm, scikit-learn, torch and torchvision. The Python package index reachable
here has torch only as a CPU build whose torchvision does not load with it, so the tests take Debian's
packages of what each requirements.txt names (the versions closest to MedPerf's pins that install here:
numpy 1.24, Pillow 9.4, PyYAML 6.0, scikit-learn 1.2, torch 1.13, torchvision 0.14).

- Each test image is MedPerf's own Dockerfile with two lines changed: ``FROM`` names a base image made of
  the project's base image plus those Debian packages, and the ``RUN pip3 install`` line is dropped.
- The host runs the scripts directly with Debian's ``/usr/bin/python3`` and the same packages
  (``sh tests/medperf_containers/setup.sh`` installs them), so the bytes can be compared; the sandbox
  runs the source with that interpreter too (``--python /usr/bin/python3``).

Config, project and parameters are MedPerf's, unchanged.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TUTORIAL = HERE / "chestxray_tutorial"
CONTAINERS = ("data_preparator", "model_custom_cnn", "metrics")
BASE_IMAGE = os.environ.get("MEDPERF_GIT_BASE_IMAGE") or "localhost/medperf-base:bookworm"
PYTHON = "/usr/bin/python3"  # Debian's, as in the base image
VOLUMES = "/mlcommons/volumes"
# The Debian package of each name in the tutorial's requirements.txt files.
DEBIAN = {"numpy": "python3-numpy", "pyyaml": "python3-yaml", "pillow": "python3-pil", "tqdm": "python3-tqdm",
          "scikit-learn": "python3-sklearn", "torch": "python3-torch", "torchvision": "python3-torchvision"}
MODULES = {"numpy": "numpy", "pyyaml": "yaml", "pillow": "PIL", "tqdm": "tqdm", "scikit-learn": "sklearn",
           "torch": "torch", "torchvision": "torchvision"}


def requirement_names(container: str) -> list[str]:
    """The package names of a container's requirements.txt, without MedPerf's pins or index options."""
    names = []
    for line in (TUTORIAL / container / "project" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower())
    return names


# The BLAS that numpy and torch load is chosen among Debian's alternatives by what is installed: name the
# host's (OpenBLAS) so that the images compute with it too, down to the last bit of a float.
BLAS = "libopenblas0-pthread"


def debian_packages(container: str) -> list[str]:
    return [DEBIAN[name] for name in requirement_names(container)] + [BLAS]


def python_of(container: str) -> str:
    """Debian's python3, once it has what the container imports (else the test is skipped, saying how)."""
    modules = [MODULES[name] for name in requirement_names(container)]
    if not os.access(PYTHON, os.X_OK):
        pytest.skip(f"{PYTHON} is missing: the images' interpreter cannot be matched")
    proc = subprocess.run([PYTHON, "-c", "import " + ", ".join(modules)], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"{PYTHON} lacks what MedPerf's {container} imports ({proc.stderr.strip().splitlines()[-1]}); "
                    "run: sh tests/medperf_containers/setup.sh")
    return PYTHON


def _key(container: str) -> str:
    text = "\n".join([container, BASE_IMAGE, *debian_packages(container), substituted_dockerfile(container, "")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_image(container: str) -> str:
    import yaml

    return yaml.safe_load((TUTORIAL / container / "container_config.yaml").read_text())["image"]


def substituted_dockerfile(container: str, base: str) -> str:
    """MedPerf's Dockerfile with its FROM replaced and its pip line dropped (see the module's docstring)."""
    text = (TUTORIAL / container / "Dockerfile").read_text()
    assert text.startswith("FROM python:3.9.16-slim\n"), "MedPerf's Dockerfile changed: review the substitution"
    lines = [line for line in text.splitlines() if not line.startswith("RUN pip3 install")]
    lines[0] = f"FROM {base}"
    return "\n".join(lines) + "\n"


def _tar_context(files: dict[str, Path | bytes]) -> io.BytesIO:
    """A build context as an uncompressed tar: {name in the context: a path (file or folder) or bytes}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, value in files.items():
            if isinstance(value, bytes):
                info = tarfile.TarInfo(name)
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
            else:
                tar.add(str(value), arcname=name)
    buffer.seek(0)
    return buffer


def _build(client, context: io.BytesIO, tag: str) -> None:
    error = None
    for item in client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
                                 pull=False, decode=True):
        error = item.get("error") or error
    if error:
        pytest.fail(f"building {tag} failed: {error}")


def ensure_image(container: str) -> str:
    """MedPerf's image for the container, built here from its Dockerfile (base substituted); returns its tag.

    Built once per machine: the tag carries a label with what it was built from.
    """
    import docker

    from medperf_git.runners.docker import _shared_client

    client = _shared_client()
    tag = config_image(container)
    key = _key(container)
    with_packages = f"localhost/medperf-git-tutorial-{container.replace('_', '-')}:{key}"
    try:
        if client.images.get(tag).labels.get("medperf-git.test-key") == key:
            return tag
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.get(with_packages)
    except docker.errors.ImageNotFound:
        dockerfile = (f"FROM {BASE_IMAGE}\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install "
                      f"-y -qq --no-install-recommends {' '.join(debian_packages(container))} "
                      "&& rm -rf /var/lib/apt/lists/*\n").encode()
        _build(client, _tar_context({"Dockerfile": dockerfile}), with_packages)
    folder = TUTORIAL / container
    dockerfile = (substituted_dockerfile(container, with_packages) + f"LABEL medperf-git.test-key={key}\n").encode()
    _build(client, _tar_context({"Dockerfile": dockerfile, "project": folder / "project"}), tag)
    return tag


# -- running their Python directly ----------------------------------------------------------------

DRIVER = f"""\
import sys
script, root = sys.argv[1], sys.argv[2]
source = open(script).read().replace({VOLUMES!r}, root)
sys.path.insert(0, script.rsplit("/", 1)[0])
sys.argv = [script]
exec(compile(source, script, "exec"), {{"__name__": "__main__", "__file__": script}})
"""


def run_direct(container: str, script: str, volumes: dict[str, Path], root: Path) -> subprocess.CompletedProcess:
    """Run a project script as it is, its hard-coded ``/mlcommons/volumes/...`` moved under ``root``.

    ``volumes`` maps each mount path the config names to a host path; each is linked into ``root``
    at the same place, so the script reads and writes exactly what it would in the container.
    """
    for mount, host in volumes.items():
        link = root / mount[len(VOLUMES) + 1:]
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(host).absolute())
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([python_of(container), str(driver), str(TUTORIAL / container / "project" / script),
                           str(root)], env=env, cwd=root, capture_output=True, text=True, timeout=600)


def make_weights(dest: Path) -> Path:
    """cnn_weights.pth for MedPerf's SimpleCNN, seeded: MedPerf's own are a download this machine cannot reach."""
    dest.mkdir(parents=True, exist_ok=True)
    code = ("import sys, torch; sys.path.insert(0, sys.argv[1]); from models import SimpleCNN; "
            "torch.manual_seed(0); torch.save(SimpleCNN(1, 14).state_dict(), sys.argv[2])")
    subprocess.run([python_of("model_custom_cnn"), "-c", code, str(TUTORIAL / "model_custom_cnn" / "project"),
                    str(dest / "cnn_weights.pth")], check=True, capture_output=True, timeout=600,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(dest), "PYTHONDONTWRITEBYTECODE": "1"})
    return dest


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (or the file itself), by relative path."""
    root = Path(root)
    if root.is_file():
        return {root.name: root.read_bytes()}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
