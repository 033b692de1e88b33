#!/bin/sh
# For the tutorial only: the benchmark owner approves the data owner's pending association request,
# with the same review commands a committee uses; the data owner's profile stays active.
set -eu
MG=${MEDPERF_GIT:-medperf-git}
"$MG" --profile testbo association approve --benchmark 1 --data_uid 1 -y
"$MG" profile activate testdo >/dev/null
