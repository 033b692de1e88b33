#!/bin/sh
# Sets up the data owner tutorial, offline, from any folder (it works in ./medperf_tutorial):
#   - mock CheXpert-style raw data in medperf_tutorial/mock_chexpert/{images,labels};
#   - the tutorial registry, a bare repository at medperf_tutorial/registry.git, whose history is
#     made by the real commands: each person registers and submits their records, and the people
#     entitled to approve them do so (every commit is signed; `registry audit` passes);
#   - a profile per person under $MEDPERF_GIT_HOME (testadmin, testbo, testmo, testdo), the data
#     owner's active.
# Running it again keeps what is complete; an interrupted run is redone cleanly.
# Environment: MEDPERF_GIT (the command, default medperf-git), PYTHON (default python3),
# MEDPERF_GIT_RUNNER (default: the best this machine has: docker, else the sandbox, installing
# bubblewrap when run as root; never local unless asked for by name, since local isolates nothing),
# MEDPERF_GIT_PYTHON (an interpreter with the containers' packages, for the sandbox and local runners,
# instead of virtual environments made from their requirements).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
MG=${MEDPERF_GIT:-medperf-git}
PY=${PYTHON:-python3}
TOOLS="$REPO/examples/chestxray/tools"
TUT="$(pwd)/medperf_tutorial"
REGISTRY="$TUT/registry.git"
ASSETS="$TUT/assets"

say() { printf '%s\n' "> $*" >&2; }

# 1. The runner: the best isolation this machine has. `container runners --best` says local only when
# nothing isolates; then, as root, bubblewrap is installed the way scripts/setup_engines.sh does it.
# The local runner is never a silent fallback: only MEDPERF_GIT_RUNNER=local asks for it.
if [ -z "${MEDPERF_GIT_RUNNER:-}" ]; then
    MEDPERF_GIT_RUNNER=$("$MG" container runners --best)
    if [ "$MEDPERF_GIT_RUNNER" = local ] && [ "$(id -u)" -eq 0 ] && ! command -v bwrap >/dev/null 2>&1 \
            && command -v apt-get >/dev/null 2>&1; then
        say "No container engine answers and bubblewrap is missing: installing bubblewrap (apt-get)"
        apt-get update -qq >&2 || say "apt-get update failed; trying the install anyway"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >&2 || say "installing bubblewrap failed"
        MEDPERF_GIT_RUNNER=$("$MG" container runners --best)
    fi
    if [ "$MEDPERF_GIT_RUNNER" = local ]; then
        "$MG" container runners >&2 || true
        cat >&2 <<EOF
setup_data_tutorial.sh: no runner here isolates the containers' code (see the table above). The tutorial
needs bubblewrap or a container engine:
  - bubblewrap: as root, apt-get install bubblewrap (Debian and Ubuntu; dnf install bubblewrap on Fedora),
    or run this script as root and it installs it;
  - a Docker-API engine: Docker, or podman's socket through DOCKER_HOST (as root,
    eval "\$(sh $REPO/scripts/setup_engines.sh)" sets up podman).
To run the containers' code without any isolation, as yourself, ask for the local runner by name
(every task then warns): MEDPERF_GIT_RUNNER=local sh $REPO/scripts/tutorial.sh (or this script).
EOF
        exit 1
    fi
fi
if [ "$MEDPERF_GIT_RUNNER" = local ]; then
    say "WARNING: the local runner, asked for by name, isolates nothing: the containers' code runs as you; every task will say so"
fi

mkdir -p "$TUT"

# 2. Raw data (deterministic).
if [ ! -f "$TUT/mock_chexpert/labels/labels.csv" ]; then
    say "Creating mock raw data in medperf_tutorial/mock_chexpert"
    rm -rf "$TUT/mock_chexpert"
    "$PY" "$TOOLS/make_mock_data.py" --out "$TUT/mock_chexpert.partial" --count 40 --seed 7 >/dev/null
    mv "$TUT/mock_chexpert.partial" "$TUT/mock_chexpert"
fi

# 3. The containers' source archives and the demo dataset (deterministic, so the same hashes).
mkdir -p "$ASSETS"
"$PY" "$TOOLS/make_source_archives.py" --out "$ASSETS" >/dev/null
"$PY" "$TOOLS/make_demo_tarball.py" --out "$ASSETS/demo_data.tar.gz" >/dev/null

# 4. The registry, built by the real flows in a private build home, then put in place.
if [ ! -f "$TUT/.registry-complete" ]; then
    say "Building the tutorial registry (people, containers 1-4, benchmark 1, model 4's association)"
    rm -rf "$REGISTRY" "$TUT/.build-home"
    BUILD_HOME="$TUT/.build-home"
    LOG="$TUT/setup.log"
    : > "$LOG"
    # Each step's messages go to the log; a failing step shows its tail and stops the set-up.
    as() {
        who=$1
        shift
        printf '\n$ medperf-git --profile %s %s\n' "$who" "$*" >> "$LOG"
        if ! MEDPERF_GIT_HOME="$BUILD_HOME" "$MG" --profile "$who" "$@" 2>> "$LOG"; then
            tail -n 30 "$LOG" >&2
            echo "setup_data_tutorial.sh: a step failed; the whole log is $LOG" >&2
            exit 1
        fi
    }
    approve_all() {
        numbers=$(as "$1" review ls --json | "$PY" -c 'import json,sys; print(" ".join(str(s["number"]) for s in json.load(sys.stdin)))')
        for n in $numbers; do
            as "$1" review approve "$n" -y >/dev/null
        done
    }
    for who in testadmin testbo testmo testdo; do
        MEDPERF_GIT_HOME="$BUILD_HOME" "$MG" profile create "$who" --runner "$MEDPERF_GIT_RUNNER" \
            ${MEDPERF_GIT_PYTHON:+--python "$MEDPERF_GIT_PYTHON"} >/dev/null 2>> "$LOG"
    done
    as testadmin registry init "$REGISTRY" --bare --name chestxray-tutorial --admin testadmin \
        --admin-name "Test Admin" --admin-email testadmin@example.com --allow-file-urls >/dev/null
    for who in testbo testmo testdo; do
        as "$who" profile set --registry "$REGISTRY" >/dev/null
    done
    as testbo person register --handle testbo --name "Test Benchmark Owner" --email testbo@example.com -y >/dev/null
    as testmo person register --handle testmo --name "Test Model Owner" --email testmo@example.com -y >/dev/null
    as testdo person register --handle testdo --name "Test Data Owner" --email testdo@example.com -y >/dev/null
    approve_all testadmin
    container() {  # who name folder
        extra=""
        if [ -f "$ASSETS/${3}_additional_files.tar.gz" ]; then
            extra="--additional-files $ASSETS/${3}_additional_files.tar.gz"
        fi
        # shellcheck disable=SC2086
        as "$1" container submit --name "$2" --config "$REPO/examples/chestxray/$3/container_config.yaml" \
            --parameters "$REPO/examples/chestxray/$3/parameters.yaml" --source "$ASSETS/$3.tar.gz" $extra -y >/dev/null
    }
    container testbo chestxray-prep data_preparator
    container testbo chestxray-reference-model model_reference
    container testbo chestxray-metrics metrics
    container testmo chestxray-second-model model_second
    as testbo benchmark submit --name chestxray --description "Chest X-ray classification tutorial benchmark" \
        --docs-url https://docs.medperf.org/ --demo-url "$ASSETS/demo_data.tar.gz" \
        --data-preparation 1 --reference-model 2 --metrics 3 -y >/dev/null
    approve_all testadmin
    as testmo model associate --benchmark 1 --model 4 -y >/dev/null
    approve_all testbo
    touch "$TUT/.registry-complete"
fi

# 5. The people's profiles in $MEDPERF_GIT_HOME, with their keys; the data owner's is active.
HOME_DIR=${MEDPERF_GIT_HOME:-$HOME/.medperf_git}
for who in testadmin testbo testmo testdo; do
    mkdir -p "$HOME_DIR/keys/$who"
    chmod 700 "$HOME_DIR/keys" "$HOME_DIR/keys/$who"
    cp "$TUT/.build-home/keys/$who/id_ed25519" "$TUT/.build-home/keys/$who/id_ed25519.pub" "$HOME_DIR/keys/$who/"
    chmod 600 "$HOME_DIR/keys/$who/id_ed25519"
    if ! "$MG" profile ls | grep -q "^[* ] $who\$"; then
        "$MG" profile create "$who" >/dev/null 2>&1
    fi
    "$MG" --profile "$who" profile set --registry "$REGISTRY" --handle "$who" \
        --signing-key "$HOME_DIR/keys/$who/id_ed25519" --runner "$MEDPERF_GIT_RUNNER" \
        ${MEDPERF_GIT_PYTHON:+--python "$MEDPERF_GIT_PYTHON"} >/dev/null 2>&1
done
"$MG" profile activate testdo >/dev/null 2>&1
say "The tutorial is ready: the data owner's profile 'testdo' is active."
say "Next step: $MG benchmark ls"
