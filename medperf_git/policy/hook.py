"""The pre-receive hook that ``registry init --host ssh`` installs on an SSH server's bare repository.

On a server the registry's own hook can refuse a bad push before anyone fetches it: main may not be
deleted or rewritten, and its new commits must pass the same audit every client runs. (On a plain
file share a hook would run as the person pushing, so clients disable hooks there and rely on the
audit of every fetch instead.)

The pushed objects sit in a quarantine directory during pre-receive. The hook gives ``medperf-git``
a throw-away repository whose alternates are the quarantine and the real object store, so the audit
sees exactly the pushed commits through ordinary git commands.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from medperf_git.workspace.atomic import write_text

PRE_RECEIVE = """#!/bin/sh
# Installed by `medperf-git registry init --host ssh`: a push that moves main must not rewrite
# it and must pass `medperf-git registry audit` (the same checks every client runs on fetch).
PYTHON={python}
zero=0000000000000000000000000000000000000000
status=0
objects="$(cd "$(git rev-parse --git-dir)" && pwd)/objects"
while read -r old new ref; do
  [ "$ref" = refs/heads/main ] || continue
  if [ "$new" = "$zero" ]; then
    echo "medperf-git: main cannot be deleted" >&2; status=1; continue
  fi
  if [ "$old" != "$zero" ] && ! git merge-base --is-ancestor "$old" "$new"; then
    echo "medperf-git: main cannot be rewritten (a force push is refused)" >&2; status=1; continue
  fi
  quarantine="${{GIT_OBJECT_DIRECTORY:-$objects}}"
  (
    unset GIT_DIR GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_QUARANTINE_PATH GIT_PUSH_OPTION_COUNT
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    git init -q --bare "$tmp/check.git" || exit 1
    printf '%s\\n%s\\n' "$quarantine" "$objects" > "$tmp/check.git/objects/info/alternates"
    git --git-dir="$tmp/check.git" update-ref refs/heads/main "$new" || exit 1
    if [ "$old" = "$zero" ]; then
      "$PYTHON" -m medperf_git registry audit "$tmp/check.git" >&2
    else
      "$PYTHON" -m medperf_git registry audit "$tmp/check.git" --since "$old" >&2
    fi
  ) || {{ echo "medperf-git: push to main refused by the audit" >&2; status=1; }}
done
exit $status
"""


def install_pre_receive(repo_path: str | os.PathLike, python: str | None = None) -> Path:
    """Write ``hooks/pre-receive`` into a bare repository (or ``.git/hooks`` of a working one)."""
    root = Path(repo_path)
    hooks = (root / ".git" / "hooks") if (root / ".git").is_dir() else (root / "hooks")
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / "pre-receive"
    # the hook runs this interpreter, so the server's own installation of medperf-git is the one used
    write_text(path, PRE_RECEIVE.format(python=shlex.quote(python or sys.executable)))
    os.chmod(path, 0o755)
    return path
