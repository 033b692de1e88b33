#!/bin/sh
# The data owner tutorial, end to end, from a fresh clone: every step of MedPerf's tutorial with
# medperf-git in place of medperf. It installs medperf-git into .venv, works in a new temporary
# folder and, unless MEDPERF_GIT_HOME is set, a new temporary home, so it never touches yours.
#   MEDPERF_GIT_TUTORIAL_DIR  where to work (default: a new temporary folder)
#   MEDPERF_GIT_RUNNER        the runner (default: docker if an engine answers, else the sandbox; as root,
#                             bubblewrap is installed if missing; with neither, the set-up stops and says
#                             what to install. `local` isolates nothing and runs only when named here.)
# Confirmations are answered with -y; each publishing step still shows what it publishes.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
# The docker extra: the tutorial uses a Docker engine when one answers.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[docker]'
PATH="$REPO/.venv/bin:$PATH"
PYTHON="$REPO/.venv/bin/python"
export PATH PYTHON
if [ -z "${MEDPERF_GIT_HOME:-}" ]; then
    MEDPERF_GIT_HOME=$(mktemp -d "${TMPDIR:-/tmp}/medperf-git-home.XXXXXX")
    export MEDPERF_GIT_HOME
fi
WORK=${MEDPERF_GIT_TUTORIAL_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/medperf-git-tutorial.XXXXXX")}
mkdir -p "$WORK"
cd "$WORK"
echo "Working in $WORK with MEDPERF_GIT_HOME=$MEDPERF_GIT_HOME" >&2

step() {
    printf '\n$ %s\n' "$*" >&2
    "$@"
}

step sh "$REPO/tutorials_scripts/setup_data_tutorial.sh"
step medperf-git benchmark ls
step medperf-git dataset create --name "mytestdata" --description "A tutorial dataset" --location "My machine" \
    --data_path "medperf_tutorial/mock_chexpert/images" --labels_path "medperf_tutorial/mock_chexpert/labels" \
    --benchmark 1
step medperf-git dataset ls --local
DATA_UID=$(medperf-git dataset ls --local --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[0]["uid"])')
step medperf-git dataset submit --data_uid "$DATA_UID" -y
step medperf-git dataset ls --mine
step medperf-git dataset associate --benchmark_uid 1 --data_uid 1 -y
step medperf-git association ls
step sh "$REPO/tutorials_scripts/simulate_data_association_approval.sh"
step medperf-git association ls
step medperf-git benchmark run --benchmark 1 --data_uid 1
step medperf-git result view b1m4d1
step medperf-git result submit --result b1m4d1 -y
rm -rf registry-checkout
git clone --quiet medperf_tutorial/registry.git registry-checkout
step medperf-git registry lint registry-checkout
step medperf-git registry audit medperf_tutorial/registry.git
echo "The tutorial ran to the end. Its files are in $WORK." >&2
