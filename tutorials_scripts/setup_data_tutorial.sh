#!/bin/sh
# Sets up the data owner tutorial, offline, from any folder (it works in ./medperf_tutorial):
#   - mock CheXpert-style raw data in medperf_tutorial/mock_chexpert/{images,labels};
#   - the tutorial registry, a bare repository at medperf_tutorial/registry.git, whose history is
#     made by the real commands: each person registers and submits their records, and the people
#     entitled to approve them do so (every commit is signed; `registry audit` passes);
#   - a profile per person under $MEDPERF_GIT_HOME (testadmin, testbo, testmo, testdo), the data
#     owner's active.
# Running it again keeps what is complete; an interrupted run is redone cleanly.
# What the records say (names, configs, parameters, policy) comes from the template, registry/ of this
# repository (registry/README.md); the commands fill in what depends on this machine.
# Environment: MEDPERF_GIT (the command, default medperf-git), PYTHON (default python3; it reads the
# template with PyYAML, else the interpreter of medperf-git does), MEDPERF_GIT_TUTORIAL_TEMPLATE (another
# template folder, default registry/),
# MEDPERF_GIT_RUNNER (default: the best this machine has: docker, else the sandbox, installing
# bubblewrap when run as root; never local unless asked for by name, since local isolates nothing),
# MEDPERF_GIT_PYTHON (an interpreter with the containers' packages, for the sandbox and local runners,
# instead of virtual environments made from their requirements).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
MG=${MEDPERF_GIT:-medperf-git}
if ! command -v "$MG" >/dev/null 2>&1; then
    echo "setup_data_tutorial.sh: '$MG' is not on PATH. Activate the environment it is installed in" \
        "(after sh scripts/test.sh: . .venv/bin/activate in the repository), or set MEDPERF_GIT to its path." >&2
    exit 1
fi
PY=${PYTHON:-python3}
TOOLS="$REPO/examples/chestxray/tools"
TUT="$(pwd)/medperf_tutorial"
REGISTRY="$TUT/registry.git"
ASSETS="$TUT/assets"

say() { printf '%s\n' "> $*" >&2; }

# The tutorial registry's records: the template in registry/, read with a Python that has PyYAML
# (PYTHON, else the interpreter that medperf-git runs on).
TEMPLATE=${MEDPERF_GIT_TUTORIAL_TEMPLATE:-$REPO/registry}
TPY=$PY
if ! "$TPY" -c 'import yaml' 2>/dev/null; then
    TPY=$(sed -n '1s/^#![[:space:]]*\([^[:space:]]*\).*/\1/p' "$(command -v "$MG")" 2>/dev/null || true)
    if [ -z "$TPY" ] || ! "$TPY" -c 'import yaml' 2>/dev/null; then
        echo "setup_data_tutorial.sh: reading $TEMPLATE needs a Python with PyYAML;" \
            "set PYTHON to the interpreter medperf-git is installed in" >&2
        exit 1
    fi
fi
tpl() { "$TPY" "$HERE/registry_template.py" --template "$TEMPLATE" --tutorial "$TUT" "$@"; }
PEOPLE=$(tpl ids people)
ADMIN=$(tpl get registry.yaml admins.0)

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

# 4. The registry, built by the real flows in a private build home, then put in place. What each record
# says comes from the template, registry/ of this repository (registry/README.md); the commands fill in
# what depends on this machine: archive URLs and hashes, keys, the compatibility tests.
if [ ! -f "$TUT/.registry-complete" ]; then
    say "Building the tutorial registry from the records in $TEMPLATE"
    rm -rf "$REGISTRY" "$TUT/.build-home" "$TUT/.template-files"
    BUILD_HOME="$TUT/.build-home"
    FILES="$TUT/.template-files"
    mkdir -p "$FILES"
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
        listing=$(as "$1" review ls --json)
        numbers=$(printf '%s' "$listing" | "$PY" -c 'import json,sys; print(" ".join(str(s["number"]) for s in json.load(sys.stdin)))')
        for n in $numbers; do
            as "$1" review approve "$n" -y >/dev/null
        done
    }
    for who in $PEOPLE; do
        MEDPERF_GIT_HOME="$BUILD_HOME" "$MG" profile create "$who" --runner "$MEDPERF_GIT_RUNNER" \
            ${MEDPERF_GIT_PYTHON:+--python "$MEDPERF_GIT_PYTHON"} >/dev/null 2>> "$LOG"
    done
    # Fields are read into variables first: a failed read stops the set-up there (set -e).

    # registry.yaml: the first admin creates the registry, with their people record.
    name=$(tpl get registry.yaml name)
    admins=$(tpl get registry.yaml admins)
    admin_name=$(tpl get "people/$ADMIN.yaml" name)
    admin_email=$(tpl get "people/$ADMIN.yaml" email)
    host=$(tpl get registry.yaml host --default git)
    open=$(tpl get registry.yaml open_registration --default false)
    file_urls=$(tpl get registry.yaml allow_file_urls --default false)
    set -- --name "$name" --host "$host" --admin-name "$admin_name" --admin-email "$admin_email"
    for admin in $admins; do
        set -- "$@" --admin "$admin"
    done
    [ "$open" = true ] && set -- "$@" --open-registration
    [ "$file_urls" = true ] && set -- "$@" --allow-file-urls
    as "$ADMIN" registry init "$REGISTRY" --bare "$@" >/dev/null

    # people/: everyone else registers; the admin approves.
    for who in $PEOPLE; do
        [ "$who" = "$ADMIN" ] && continue
        name=$(tpl get "people/$who.yaml" name)
        email=$(tpl get "people/$who.yaml" email)
        as "$who" profile set --registry "$REGISTRY" >/dev/null
        as "$who" person register --handle "$who" --name "$name" --email "$email" -y >/dev/null
    done
    approve_all "$ADMIN"

    # containers/: in id order, each by its owner, with the config and parameters of its record and the
    # archives that its placeholder URLs name.
    for id in $(tpl ids containers); do
        rec=containers/$id.yaml
        owner=$(tpl get "$rec" owner)
        name=$(tpl get "$rec" name)
        description=$(tpl get "$rec" description --default "")
        src=$(tpl archive "$rec" source)
        extra=$(tpl archive "$rec" additional_files)
        files="$FILES/container-$id"
        tpl container-files "$rec" "$files"
        set -- --name "$name" --config "$files/container_config.yaml" --source "$src"
        [ -f "$files/parameters.yaml" ] && set -- "$@" --parameters "$files/parameters.yaml"
        [ -n "$description" ] && set -- "$@" --description "$description"
        [ -n "$extra" ] && set -- "$@" --additional-files "$extra"
        as "$owner" container submit "$@" -y >/dev/null
    done

    # benchmarks/: the first owner submits (the compatibility test runs here), the admin approves; then
    # the association policy, when the record sets one.
    for id in $(tpl ids benchmarks); do
        rec=benchmarks/$id.yaml
        owners=$(tpl get "$rec" owners)
        owner=$(tpl get "$rec" owners.0)
        name=$(tpl get "$rec" name)
        description=$(tpl get "$rec" description)
        demo=$(tpl archive "$rec" demo_dataset)
        prep=$(tpl get "$rec" data_preparation)
        model=$(tpl get "$rec" reference_model)
        metrics=$(tpl get "$rec" metrics)
        docs=$(tpl get "$rec" docs_url --default "")
        isolation=$(tpl get "$rec" min_isolation --default "")
        set -- --name "$name" --description "$description" --owners "$(echo "$owners" | paste -sd, -)" \
            --demo-url "$demo" --data-preparation "$prep" --reference-model "$model" --metrics "$metrics"
        [ -n "$docs" ] && set -- "$@" --docs-url "$docs"
        [ -n "$isolation" ] && set -- "$@" --min-isolation "$isolation"
        as "$owner" benchmark submit "$@" -y >/dev/null
        approve_all "$ADMIN"
        for kind in datasets models; do
            mode=$(tpl get "$rec" "association_policy.$kind.mode" --default never)
            [ "$mode" = never ] && continue
            set -- --benchmark "$id" "--$kind" "$mode"
            if [ "$mode" = allowlist ]; then
                tpl get "$rec" "association_policy.$kind.allowlist" > "$FILES/allowlist-$id-$kind"
                set -- "$@" --allowlist "$FILES/allowlist-$id-$kind"
            fi
            as "$owner" benchmark update-associations-policy "$@" -y >/dev/null
            approve_all "$ADMIN"
        done
    done

    # associations/: the initiator asks (the model's compatibility test runs here); the committee approves.
    for pair in $(tpl ids model-associations); do
        benchmark=${pair%/*}
        model=${pair#*/}
        initiator=$(tpl get "associations/$benchmark/model-$model.yaml" initiated_by)
        committee=$(tpl get "benchmarks/$benchmark.yaml" owners.0)
        as "$initiator" model associate --benchmark "$benchmark" --model "$model" -y >/dev/null
        approve_all "$committee"
    done
    touch "$TUT/.registry-complete"
fi

# 5. The people's profiles in $MEDPERF_GIT_HOME, with their keys; the data owner's is active.
HOME_DIR=${MEDPERF_GIT_HOME:-$HOME/.medperf_git}
for who in $PEOPLE; do
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
