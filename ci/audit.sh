#!/bin/sh
# Check a registry's main, as its CI does on every push to main: the full lint of the tree, then the
# audit of the signed history (every commit judged against the one before it: signatures, keys,
# owners, policy, approvals, and merges that match an approved submission). Both always run.
# A clone has no submission records (refs/pull/N/meta, which say who merged what), so they are
# fetched from its `origin` first.
#
# Usage: sh ci/audit.sh [REGISTRY]
#   REGISTRY  a checkout of the registry's main with its whole history (argument 1, or $REGISTRY;
#             default: .)
# Exit status: 0 clean, 1 error, 2 usage, 3 lint errors, 4 audit findings; when both fail, the lint's.
set -eu
. "$(dirname "$0")/_lib.sh"
help_asked "$@"
[ $# -le 1 ] || usage "too many arguments"
REGISTRY=${1:-$REGISTRY}
[ -d "$REGISTRY" ] || usage "$REGISTRY is not a folder"
need_medperf_git

if git -C "$REGISTRY" remote get-url origin >/dev/null 2>&1; then
    git -C "$REGISTRY" fetch --quiet --no-tags origin '+refs/pull/*/meta:refs/pull/*/meta' ||
        printf '%s: could not fetch the submission records from origin; auditing what the checkout has\n' \
            "${0##*/}" >&2
fi
status=0
medperf-git registry lint "$REGISTRY" || status=$?
audited=0
medperf-git registry audit "$REGISTRY" || audited=$?
[ "$status" -ne 0 ] || status=$audited
exit "$status"
