#!/bin/sh
# Install the medperf-git that the registry pins (the `medperf_git` requirement in registry.yaml), so
# that CI judges with the version the registry's admins chose. Run it before the other scripts.
# The pin must be fixed by a hash, so that nobody who later publishes a package under that name or
# moves a tag gets their code run in CI: a version with its wheel's sha256 (from the package index),
# a wheel or archive URL with #sha256=, or a git URL at a 40-hex commit; anything else is refused.
#
# Usage: sh ci/install.sh [REF]
#   REF       read registry.yaml at this commit or branch of REGISTRY (argument 1, or $REF). Give a
#             pull request's base, so that a submission never picks the tool that judges it.
#             Default: the checked-out registry.yaml.
#   REGISTRY  the registry checkout (default: .)
#   VENV      make this virtual environment and install into it (its bin/ then holds medperf-git)
#   PYTHON    the interpreter to install into, or to make VENV with (default: python3)
# Exit status: 0 installed, 1 error (no pin, a pin without a hash, or pip failed), 2 usage.
set -eu
. "$(dirname "$0")/_lib.sh"
help_asked "$@"
[ $# -le 1 ] || usage "too many arguments"
REF=${1:-${REF:-}}
PYTHON=${PYTHON:-python3}

if [ -n "$REF" ]; then
    text=$(git -C "$REGISTRY" show "$REF:registry.yaml") || usage "no registry.yaml at $REF in $REGISTRY"
else
    [ -f "$REGISTRY/registry.yaml" ] || usage "no registry.yaml in $REGISTRY"
    text=$(cat "$REGISTRY/registry.yaml")
fi
# registry.yaml is schema-checked: `medperf_git` is a top-level string on one line, maybe quoted.
pin=$(printf '%s\n' "$text" | sed -n 's/^medperf_git:[[:space:]]*//p' | sed 's/[[:space:]]#.*//; s/^["'\'']//; s/["'\'']$//')
name='[Mm][Ee][Dd][Pp][Ee][Rr][Ff][-_.][Gg][Ii][Tt](\[[a-z0-9,_-]+\])?'
if printf '%s\n' "$pin" | grep -Eqx "$name==[0-9][0-9A-Za-z.+!-]*( --hash=sha256:[0-9a-f]{64})+"; then
    form=index
elif printf '%s\n' "$pin" | grep -Eqx "$name @ https://[^[:space:]#]+#sha256=[0-9a-f]{64}" ||
    printf '%s\n' "$pin" | grep -Eqx "$name @ git\+https://[^[:space:]#@]+@[0-9a-f]{40}"; then
    form=url
else
    printf '%s: registry.yaml%s names no medperf_git requirement pinned by a hash (%s)\n' "${0##*/}" \
        "${REF:+ at $REF}" "${pin:-none}" >&2
    printf '%s: write e.g. "medperf-git[github]==0.1.0 --hash=sha256:<the wheel'\''s sha256>" or "medperf-git[github] @ https://.../medperf_git-0.1.0-py3-none-any.whl#sha256=<sha256>"\n' \
        "${0##*/}" >&2
    exit 1
fi
if [ -n "${VENV:-}" ]; then
    "$PYTHON" -m venv "$VENV"
    PYTHON=$VENV/bin/python
fi
printf '%s: installing %s\n' "${0##*/}" "$pin" >&2
pip_install() { "$PYTHON" -m pip install --quiet --disable-pip-version-check "$@"; }
if [ "$form" = index ]; then
    # The pinned wheel first, its hash checked; then its dependencies (pip checks every hash of a file
    # that has one, and demands one for every dependency, which the registry does not pin).
    requirements=$(mktemp)
    trap 'rm -f "$requirements"' EXIT
    printf '%s\n' "$pin" >"$requirements"
    pip_install --no-deps --require-hashes --requirement "$requirements"
    pip_install "${pin%% *}"
else
    pip_install "$pin"
fi
