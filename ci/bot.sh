#!/bin/sh
# The policy bot of a registry hosted on GitHub: judge every open pull request into main, set a commit
# status on each (failure for a refused one, pending with the missing approvals, success) and edit one
# comment, and merge what policy allows. It never checks out or runs a pull request's code, so run it
# from main's own workflow only, where the bot's credential is: a GitHub App's key, from an environment
# that only main may use (a token minted here), or MEDPERF_GIT_GITHUB_TOKEN.
#
# Usage: sh ci/bot.sh [EVENT]
#   EVENT       the event payload file (argument 1, or $EVENT, or $GITHUB_EVENT_PATH); optional: its
#               pull request is judged first, and a comment without `@medperf-git check` is ignored
#   REGISTRY    a checkout of main whose remote `origin` is the registry (default: .)
#   REPOSITORY  OWNER/NAME of the registry (default: $GITHUB_REPOSITORY, else the event's)
#   GITHUB_API_URL                  the GitHub API (GitHub Enterprise: https://HOST/api/v3)
#   MEDPERF_GIT_APP_ID, MEDPERF_GIT_APP_PRIVATE_KEY  the bot's GitHub App
#   MEDPERF_GIT_GITHUB_TOKEN        or a token allowed to merge
# Exit status: 0 every pull request judged (refused ones included: their status says so), 1 error,
# 2 usage.
set -eu
. "$(dirname "$0")/_lib.sh"
help_asked "$@"
[ $# -le 1 ] || usage "too many arguments"
EVENT=${1:-${EVENT:-${GITHUB_EVENT_PATH:-}}}
[ -z "$EVENT" ] || [ -f "$EVENT" ] || usage "$EVENT: no such file"
REPOSITORY=${REPOSITORY:-${GITHUB_REPOSITORY:-}}
need_medperf_git

set -- --path "$REGISTRY"
[ -z "$EVENT" ] || set -- "$@" --event "$EVENT"
[ -z "$REPOSITORY" ] || set -- "$@" --repository "$REPOSITORY"
exec medperf-git ci bot "$@"
