#!/bin/sh
# The policy bot of a registry hosted on GitHub: judge one pull request, comment who must approve,
# and merge it when policy allows. It never checks out or runs the pull request's code, so run it
# from the base branch's own CI definition only, with a token that may merge.
#
# Usage: sh ci/bot.sh [EVENT]
#   EVENT       the event payload file (argument 1, or $EVENT, or $GITHUB_EVENT_PATH); required
#   REGISTRY    a checkout of main whose remote `origin` is the registry (default: .)
#   REPOSITORY  OWNER/NAME of the registry (default: $GITHUB_REPOSITORY, else the event's)
#   GITHUB_API_URL            the GitHub API (GitHub Enterprise: https://HOST/api/v3)
#   MEDPERF_GIT_GITHUB_TOKEN  a token allowed to merge (a GitHub App's, or a secret)
# Exit status: 0 merged, waiting or not concerned; 1 error; 2 usage; 4 refused by lint or policy.
set -eu
. "$(dirname "$0")/_lib.sh"
help_asked "$@"
[ $# -le 1 ] || usage "too many arguments"
EVENT=${1:-${EVENT:-${GITHUB_EVENT_PATH:-}}}
[ -n "$EVENT" ] || usage "give EVENT, the event payload file"
[ -f "$EVENT" ] || usage "$EVENT: no such file"
REPOSITORY=${REPOSITORY:-${GITHUB_REPOSITORY:-}}
need_medperf_git

if [ -n "$REPOSITORY" ]; then
    exec medperf-git ci bot --event "$EVENT" --path "$REGISTRY" --repository "$REPOSITORY"
fi
exec medperf-git ci bot --event "$EVENT" --path "$REGISTRY"
