#!/bin/sh
# Set up the real engines the tests use: podman serving the Docker Engine API, and bubblewrap.
#
# Usage:  eval "$(sh scripts/setup_engines.sh)"
#
# Idempotent: packages are installed only when missing (and only as root), the base image is built
# with debootstrap once and cached as a tarball, the API service is started only when it does not
# answer. Nothing is written under /etc: podman reads its settings from CONTAINERS_CONF.
# Only the export lines go to stdout; everything else goes to stderr.
set -eu

CACHE="${MEDPERF_GIT_CI_CACHE:-$HOME/.cache/medperf-git-ci}"
BASE_IMAGE="localhost/medperf-base:bookworm"
SUITE="bookworm"
SOCKET="$CACHE/podman-$(id -u).sock"
CONF="$CACHE/containers.conf"
TARBALL="$CACHE/medperf-base-$SUITE.tar"

log() { printf '%s\n' "setup_engines: $*" >&2; }

mkdir -p "$CACHE"

# 1. Packages (root only; an unprivileged user gets what is there).
missing=""
# chromium and its driver are for the web tests (headless, never downloaded by a test tool); Slurm and munge
# for the slurm runner's tests, which start a one-node cluster of their own (tests/slurm/cluster.py).
# age: the confidential-results tests open a payload with the age command-line tool, as a reader would.
for pair in podman:podman runc:runc bwrap:bubblewrap debootstrap:debootstrap newuidmap:uidmap \
            chromium:chromium chromedriver:chromium-driver slurmctld:slurm-wlm munged:munge age:age; do
    exe=${pair%%:*}
    pkg=${pair#*:}
    if ! command -v "$exe" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$exe" ]; then
        missing="$missing $pkg"
    fi
done
# debootstrap checks Debian's signatures with Debian's keyring, which other hosts (Ubuntu) lack.
if [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    missing="$missing debian-archive-keyring"
fi
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        log "installing$missing"
        # A fresh machine's package lists may be missing or stale: refresh them first.
        apt-get update -qq >&2 || log "apt-get update failed; trying the install anyway"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
    else
        log "missing$missing (run this script as root once to install them)"
    fi
fi

# 2. podman's settings, given through CONTAINERS_CONF rather than /etc.
conf_text='[containers]
default_ulimits = []

[engine]
runtime = "runc"
'
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$(printf '%s' "$conf_text")" ]; then
    printf '%s' "$conf_text" > "$CONF.tmp.$$"
    mv "$CONF.tmp.$$" "$CONF"
fi
CONTAINERS_CONF="$CONF"
export CONTAINERS_CONF

# 3. The base image: debootstrap once (cached tarball), podman import when absent.
# The host's own mirror on a Debian host; deb.debian.org elsewhere (an Ubuntu mirror has no bookworm).
mirror() {
    url=""
    grep -qs '^ID=debian$' /etc/os-release || { printf '%s' "http://deb.debian.org/debian"; return; }
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        url=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
        [ -n "$url" ] && break
    done
    if [ -z "$url" ] && [ -f /etc/apt/sources.list ]; then
        url=$(awk '$1 == "deb" && $2 !~ /security/ { print ($2 ~ /^\[/ ? $3 : $2); exit }' /etc/apt/sources.list)
    fi
    printf '%s' "${url:-http://deb.debian.org/debian}"
}

if command -v podman >/dev/null 2>&1; then
    if ! podman image exists "$BASE_IMAGE" 2>/dev/null; then
        if [ ! -f "$TARBALL" ]; then
            if [ "$(id -u)" -ne 0 ]; then
                log "no cached base image at $TARBALL; run this script as root once to build it"
            else
                MIRROR=$(mirror)
                ROOTFS="$CACHE/rootfs.$$"
                log "building the base image with debootstrap from $MIRROR (once; about a minute)"
                rm -rf "$ROOTFS"
                debootstrap --variant=minbase --include=python3,python3-numpy,python3-yaml,python3-pil \
                    "$SUITE" "$ROOTFS" "$MIRROR" >&2
                rm -rf "$ROOTFS/var/cache/apt/archives/"*.deb "$ROOTFS/var/lib/apt/lists/"*
                tar -C "$ROOTFS" -cf "$TARBALL.tmp.$$" .
                mv "$TARBALL.tmp.$$" "$TARBALL"
                rm -rf "$ROOTFS"
            fi
        fi
        if [ -f "$TARBALL" ]; then
            log "importing $BASE_IMAGE"
            podman import --change 'CMD ["/bin/bash"]' "$TARBALL" "$BASE_IMAGE" >&2
        fi
    fi
fi

# 4. The Docker Engine API, served by podman on a unix socket.
answers() {
    curl -fsS --max-time 3 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1
}
if command -v podman >/dev/null 2>&1 && ! answers; then
    rm -f "$SOCKET"
    log "starting podman system service on $SOCKET"
    # In its own session, so that the caller's shell ending (or being killed) does not take it along.
    if command -v setsid >/dev/null 2>&1; then
        setsid nohup podman system service --time=0 "unix://$SOCKET" >"$CACHE/podman-service.log" 2>&1 </dev/null &
    else
        nohup podman system service --time=0 "unix://$SOCKET" >"$CACHE/podman-service.log" 2>&1 </dev/null &
    fi
    i=0
    while [ $i -lt 50 ] && ! answers; do
        sleep 0.2
        i=$((i + 1))
    done
    answers || log "podman system service did not answer; see $CACHE/podman-service.log"
fi

echo "export DOCKER_HOST=unix://$SOCKET"
echo "export CONTAINERS_CONF=$CONF"
echo "export MEDPERF_GIT_BASE_IMAGE=$BASE_IMAGE"
