# Shared by the ci/ scripts, which source it: usage errors, and the medperf-git command they run.
# Not a script of its own.

REGISTRY=${REGISTRY:-.}

# The "Usage:" block of the calling script's header comment.
usage_text() {
    sed -n '/^# Usage:/,/^[^#]/p' "$0" | sed -n 's/^# \{0,1\}//p'
}

# Exit 2 with what was wrong and how to call the script.
usage() {
    printf '%s: %s\n\n' "${0##*/}" "$1" >&2
    usage_text >&2
    exit 2
}

# -h or --help as the first argument: print the usage and stop.
help_asked() {
    case "${1:-}" in
        -h | --help) usage_text; exit 0 ;;
    esac
}

# medperf-git must be on PATH: CI installs the version the registry pins first (ci/install.sh).
need_medperf_git() {
    if ! command -v medperf-git >/dev/null 2>&1; then
        printf '%s: medperf-git is not on PATH; install the version the registry pins with: sh ci/install.sh\n' \
            "${0##*/}" >&2
        exit 1
    fi
}
