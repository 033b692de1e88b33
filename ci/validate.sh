#!/bin/sh
# Validate a submission (a pull or merge request), as a registry's CI does on every push to it: lint of
# the merged tree with the history rules, and the policy verdict. Both are judged by the records on
# BASE, so a submission can never grant itself rights. Read-only: it needs no secret.
#
# Usage: sh ci/validate.sh [BASE [HEAD]]
#   BASE      the branch or commit the submission merges into (argument 1, or $BASE); required
#   HEAD      the submission's head commit (argument 2, or $HEAD; default: HEAD)
#   REGISTRY  the registry repository: a checkout with both commits, or a bare one (default: .)
#   FINDINGS  also write the findings as JSON to this file, for display (optional)
# Exit status: 0 valid (merged or awaiting approvals: the verdict says which), 1 error, 2 usage,
# 3 lint errors, 4 refused by policy.
set -eu
. "$(dirname "$0")/_lib.sh"
help_asked "$@"
[ $# -le 2 ] || usage "too many arguments"
BASE=${1:-${BASE:-}}
HEAD=${2:-${HEAD:-HEAD}}
[ -n "$BASE" ] || usage "give BASE, the branch or commit the submission merges into"
need_medperf_git

if [ -n "${FINDINGS:-}" ]; then
    medperf-git ci check "$REGISTRY" --base "$BASE" --head "$HEAD" --format json >"$FINDINGS" || true
fi
exec medperf-git ci check "$REGISTRY" --base "$BASE" --head "$HEAD"
