"""The wheel: one version, every import declared, the console script, the schemas and data files inside.

The wheel is built from a copy of the source (so no build files land in the checkout) with
``pip wheel --no-deps``, as a release would be, then installed into a fresh virtual environment with
its dependencies from the package index (that test is skipped, with the reason, where the index
cannot be reached).
"""

from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import medperf_git

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "medperf_git"
SOURCE = ("pyproject.toml", "setup.py", "README.md", "medperf_git", "schemas", "ci")
CORE = {"click", "pyyaml", "jsonschema", "referencing", "jsonschema-rs", "jinja2", "tabulate",
        "cryptography", "pyrage"}
EXTRAS = {"docker": {"docker", "requests"}, "github": {"pygithub", "requests"}}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], capture_output=True,
                          text=True, timeout=timeout)


def copy_source(dest: Path) -> Path:
    """What a source distribution holds, copied, so that building writes nothing into the checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCE:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = copy_source(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    built = _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source))
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = out.glob("medperf_git-*.whl")
    return found


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))


def _requirements(wheel: Path) -> dict[str, dict[str, str]]:
    """``{extra or "": {canonical name: requirement text}}`` from the wheel's Requires-Dist."""
    found: dict[str, dict[str, str]] = {}
    for line in _metadata(wheel).get_all("Requires-Dist") or []:
        spec, _, marker = line.partition(";")
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        name = re.match(r"[A-Za-z0-9._-]+", spec.strip()).group(0)
        found.setdefault(extra.group(1) if extra else "", {})[_canonical(name)] = spec.strip()
    return found


def third_party_imports() -> set[str]:
    """Top-level names of every absolute import in the package that is neither stdlib nor medperf_git."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("medperf_git", "__future__")}


def test_one_version_read_from_the_package(wheel):
    assert _metadata(wheel)["Version"] == medperf_git.__version__
    assert wheel.name.startswith(f"medperf_git-{medperf_git.__version__}-")
    assert importlib.metadata.version("medperf-git") == medperf_git.__version__  # the editable install agrees


def test_requirements_have_lower_bounds_and_docker_is_an_extra(wheel):
    requirements = _requirements(wheel)
    assert set(requirements[""]) == CORE
    for extra, names in EXTRAS.items():
        assert set(requirements[extra]) == names
    assert set(requirements["test"]) >= EXTRAS["docker"] | EXTRAS["github"]
    unbounded = [spec for group in requirements.values() for spec in group.values() if ">=" not in spec]
    assert unbounded == []


def test_every_third_party_import_is_declared_and_nothing_else(wheel):
    requirements = _requirements(wheel)
    declared = {name for group in requirements.values() for name in group}
    distributions = importlib.metadata.packages_distributions()
    missing, imported = {}, set()
    for module in sorted(third_party_imports()):
        dists = {_canonical(d) for d in distributions.get(module, [])}
        imported |= dists
        if not dists & declared:
            missing[module] = sorted(dists) or "not installed here"
    assert missing == {}, "imported by medperf_git but not declared in pyproject.toml"
    unused = {name for extra in ("", *EXTRAS) for name in requirements[extra]} - imported
    assert unused == set(), "declared in pyproject.toml but imported nowhere in medperf_git"


def test_the_console_script(wheel):
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        text = archive.read(name).decode("utf-8")
    assert "[console_scripts]\nmedperf-git = medperf_git.cli.main:main" in text


def test_schemas_and_data_files_are_inside(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    schemas = {f"medperf_git/schemas/{p.name}" for p in (REPO / "schemas").glob("*.json")}
    data = {p.relative_to(REPO).as_posix() for p in (PACKAGE / "data").rglob("*") if p.is_file()}
    assert schemas and data
    assert schemas - names == set() and data - names == set()
    packages = {p.parent.relative_to(REPO).as_posix() + "/__init__.py" for p in PACKAGE.rglob("__init__.py")}
    assert packages - names == set()


def _fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def _install(python: Path, *args: str) -> None:
    done = _pip("--python", str(python), "install", "--quiet", *args)
    if done.returncode != 0:
        probe = _pip("download", "--no-deps", "--quiet", "--dest", str(python.parent.parent / "probe"), "click",
                     timeout=120)
        if probe.returncode != 0:
            pytest.skip("the package index cannot be reached: " + probe.stderr.strip()[-300:])
        pytest.fail("pip install failed:\n" + done.stderr[-3000:])


@pytest.mark.slow
def test_a_plain_install_into_a_fresh_venv_works(wheel, tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    _install(python, str(wheel))
    imported = subprocess.run([str(python), "-c", "import medperf_git.cli, medperf_git.cli.main; "
                               "from medperf_git.records.schemas import validator; validator('dataset'); "
                               "print(medperf_git.__version__)"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == medperf_git.__version__
    script = python.parent / "medperf-git"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and medperf_git.__version__ in version.stdout
    # Without the docker extra, the docker runner says why it cannot run and how to fix it.
    runners = subprocess.run([str(script), "container", "runners", "--json"], capture_output=True, text=True,
                             timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert runners.returncode == 0, runners.stderr
    docker = next(row for row in json.loads(runners.stdout) if row["runner"] == "docker")
    assert not docker["available"] and "pip install 'medperf-git[docker]'" in docker["reason"]


@pytest.mark.slow
def test_an_editable_install_finds_the_schemas(tmp_path):
    source = copy_source(tmp_path / "source")
    python = _fresh_venv(tmp_path / "venv")
    _install(python, "--no-deps", "--editable", str(source))
    found = subprocess.run([str(python), "-c", "import importlib.metadata as m, importlib.resources as r; "
                            "print(m.version('medperf-git')); "
                            "print(' '.join(sorted(p.name for p in r.files('medperf_git.schemas').iterdir() "
                            "if p.name.endswith('.json'))))"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    version, schemas = found.stdout.splitlines()
    assert version == medperf_git.__version__
    assert schemas.split() == sorted(p.name for p in (REPO / "schemas").glob("*.json"))
