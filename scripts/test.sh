#!/bin/sh
# The whole test suite, from a fresh clone: makes its own virtual environment, installs medperf-git
# with its test dependencies, sets up the container engines (podman's Docker API, bubblewrap) when
# run as root, runs ruff and pytest, then runs the tests marked `unprivileged` again as an
# unprivileged user so that file-ownership mistakes show. Extra arguments go to the first pytest run.
# The second run happens even when the first fails; the script then exits with the first failure's
# status. Both runs list the tests they skipped, with the reason (-rs).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# An editable install has no bytecode, and this shell may forbid writing it: compile once, as an installed
# package is, so that the hundreds of medperf-git processes the tests start do not each compile every module.
.venv/bin/python -m compileall -q medperf_git >/dev/null

# Container engines: podman (Docker Engine API) and bubblewrap; Slurm and munge, from which the slurm
# tests start a one-node cluster of their own. Their tests skip, with the reason, where these cannot
# be set up.
if [ -f scripts/setup_engines.sh ]; then
    if engines=$(sh scripts/setup_engines.sh); then
        eval "$engines"
    else
        echo "test.sh: container engines could not be set up; their tests will be skipped" >&2
    fi
fi

.venv/bin/ruff check .

status=0
.venv/bin/python -m pytest -q -rs -p no:cacheprovider "$@" || status=$?

# The same again, for the tests marked `unprivileged`, as a user who owns nothing here.
if [ "$(id -u)" = 0 ] && [ -z "${MEDPERF_GIT_SKIP_UNPRIVILEGED:-}" ] && command -v runuser >/dev/null 2>&1; then
    id medperf-test >/dev/null 2>&1 || useradd --create-home --shell /bin/sh medperf-test
    scratch=$(mktemp -d /tmp/medperf-git-unpriv.XXXXXX)
    chown medperf-test "$scratch"
    chmod -R o+rX "$ROOT" 2>/dev/null || true
    # The interpreter may live under a private home (e.g. /root/.pyenv), and the clone under a private
    # folder (e.g. one from mktemp -d): let that user through both, for this run only.
    restore=""
    for start in "$(dirname "$(readlink -f "$ROOT/.venv/bin/python")")" "$(dirname "$ROOT")"; do
        dir=$start
        while [ "$dir" != "/" ]; do
            mode=$(stat -c %a "$dir")
            if [ $(( 0$mode & 1 )) -eq 0 ]; then
                restore="$restore $mode:$dir"
                chmod o+x "$dir"
            fi
            dir=$(dirname "$dir")
        done
    done
    ustatus=0
    runuser -u medperf-test -- env HOME="$scratch" PATH="$PATH" TMPDIR="$scratch" \
        "$ROOT/.venv/bin/python" -m pytest -q -rs -p no:cacheprovider -m unprivileged \
        --rootdir "$ROOT" "$ROOT/tests" || ustatus=$?
    rm -rf "$scratch"
    for item in $restore; do
        chmod "${item%%:*}" "${item#*:}"
    done
    # 5 means no test carries the marker: nothing to run as that user.
    if [ "$status" -eq 0 ] && [ "$ustatus" -ne 5 ]; then
        status=$ustatus
    fi
fi
exit "$status"
