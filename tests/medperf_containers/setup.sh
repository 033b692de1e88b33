#!/bin/sh
# Install what MedPerf's tutorial containers import, as Debian's packages for the host's python3, so that
# the tests can run their scripts directly and under the sandbox (see medperf_tutorial.py for why Debian's).
# Idempotent; as root it installs, otherwise it names what is missing.
set -eu
PACKAGES="python3-numpy python3-pil python3-yaml python3-tqdm python3-sklearn python3-torch python3-torchvision
    libopenblas0-pthread"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "medperf_containers/setup.sh: missing$missing (run this script as root once to install them)" >&2
    exit 1
fi
apt-get update -qq >&2 || echo "medperf_containers/setup.sh: apt-get update failed; trying the install anyway" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
