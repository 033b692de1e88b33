#!/bin/sh
# Install the medperf-git that the registry pins (the `medperf_git` requirement in registry.yaml), so
# that CI judges with the version the registry's admins chose. Run it before the other scripts.
#
# Usage: sh ci/install.sh [REF]
#   REF       read registry.yaml at this commit or branch of REGISTRY (argument 1, or $REF). Give a
#             pull request's base, so that a submission never picks the tool that judges it.
#             Default: the checked-out registry.yaml.
#   REGISTRY  the registry checkout (default: .)
#   PYTHON    the interpreter to install into (default: python3)
# Exit status: 0 installed, 1 error (no pin, or pip failed), 2 usage.
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
# registry.yaml is schema-checked: `medperf_git` is a top-level string without spaces, maybe quoted.
pin=$(printf '%s\n' "$text" | sed -n 's/^medperf_git:[[:space:]]*//p' | sed 's/[[:space:]]#.*//; s/^["'\'']//; s/["'\'']$//')
case "$pin" in
    "" | -*)
        printf '%s: registry.yaml%s names no usable medperf_git requirement (%s)\n' "${0##*/}" \
            "${REF:+ at $REF}" "${pin:-none}" >&2
        exit 1 ;;
esac
printf '%s: installing %s\n' "${0##*/}" "$pin" >&2
exec "$PYTHON" -m pip install --quiet --disable-pip-version-check "$pin"
