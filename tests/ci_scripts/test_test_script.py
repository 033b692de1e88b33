"""scripts/test.sh: the unprivileged pass runs even after a failed first pass, and both list their skips.

The script runs for real on a copy of itself, with a stand-in interpreter that records how pytest was
called and answers with the status each case asks for, and stand-ins for the system commands that
would create a user or change modes on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PYTHON = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$*" in
    *"-m pip"*) exit 0 ;;
    *"-m compileall"*) exit 0 ;;
    *"-m unprivileged"*) exit "$SECOND" ;;
    *"-m pytest"*) exit "$FIRST" ;;
esac
exit 99
"""
# Stand-ins: root, an existing test user, nothing to chmod, and runuser that just runs the command.
STUBS = {
    "id": '#!/bin/sh\n[ "${1:-}" = -u ] && echo 0\nexit 0\n',
    "runuser": '#!/bin/sh\nshift 3\nexec "$@"\n',
    "useradd": "#!/bin/sh\nexit 0\n",
    "chown": "#!/bin/sh\nexit 0\n",
    "stat": "#!/bin/sh\necho 755\n",
}


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "test.sh", root / "scripts" / "test.sh")
    _executable(root / ".venv" / "bin" / "python", PYTHON)
    _executable(root / ".venv" / "bin" / "ruff", "#!/bin/sh\nexit 0\n")
    for name, text in STUBS.items():
        _executable(tmp_path / "stubs" / name, text)
    return root


def _run(tree: Path, first: int, second: int, **env: str) -> tuple[int, list[str]]:
    calls = tree.parent / "calls.log"
    calls.unlink(missing_ok=True)
    full = {"PATH": f"{tree.parent / 'stubs'}:/usr/bin:/bin", "HOME": str(tree.parent), "CALLS": str(calls),
            "FIRST": str(first), "SECOND": str(second), "TMPDIR": str(tree.parent), **env}
    proc = subprocess.run(["sh", str(tree / "scripts" / "test.sh"), "-k", "x"], env=full, capture_output=True,
                          text=True, timeout=60)
    runs = [line for line in calls.read_text().splitlines() if "-m pytest" in line]
    return proc.returncode, runs


@pytest.mark.parametrize(("first", "second", "expected"), [
    (0, 0, 0), (1, 0, 1), (0, 2, 2), (1, 2, 1), (0, 5, 0), (1, 5, 1)])
def test_both_passes_run_and_the_first_failure_decides(tree, first, second, expected):
    code, runs = _run(tree, first, second)
    assert code == expected
    assert len(runs) == 2, runs
    assert all(" -rs " in f" {run} " for run in runs)
    assert runs[0].endswith("-k x") and "-m unprivileged" in runs[1]


def test_the_unprivileged_pass_can_be_skipped(tree):
    code, runs = _run(tree, 1, 0, MEDPERF_GIT_SKIP_UNPRIVILEGED="1")
    assert code == 1 and len(runs) == 1


@pytest.mark.skipif(os.name != "posix", reason="POSIX sh only")
def test_the_script_is_posix_sh():
    assert subprocess.run(["sh", "-n", str(REPO / "scripts" / "test.sh")]).returncode == 0
