#!/usr/bin/env bash
# A Debian 12 image with systemd as PID 1, for running deploy/systemd/agtoken.service for real in
# a test (crates/agtoken-cli/tests/container.rs): debootstrap --variant=minbase with systemd,
# then `docker import` as agtoken-systemd-test:local. Nothing of agtoken goes in: the test mounts
# the binary, the unit and the credential. Kept when it exists (FORCE=1 remakes it).
#
# Needs debootstrap (apt-get install debootstrap), a Docker engine, and Debian's mirror (the one
# apt uses here). About 250 MB on disk, a minute to make.
set -euo pipefail

IMAGE="${IMAGE:-agtoken-systemd-test:local}"
DOCKER="${DOCKER:-docker}"

if [[ -z "${FORCE:-}" ]] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "systemd-test-image: $IMAGE exists" >&2
    exit 0
fi
command -v debootstrap >/dev/null || { echo "systemd-test-image: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

# The suite and mirror apt uses on this machine.
. /etc/os-release
SUITE="${SUITE:-${VERSION_CODENAME:-bookworm}}"
MIRROR="${MIRROR:-}"
if [[ -z "$MIRROR" && -f /etc/apt/sources.list.d/debian.sources ]]; then
    MIRROR="$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
fi
if [[ -z "$MIRROR" && -f /etc/apt/sources.list ]]; then
    MIRROR="$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list)"
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "systemd-test-image: debootstrap $SUITE from $MIRROR" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus "$SUITE" "$WORK/root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
tar -C "$WORK/root" --numeric-owner -cf "$WORK/root.tar" .
"$DOCKER" import --change 'CMD ["/sbin/init"]' "$WORK/root.tar" "$IMAGE" >/dev/null
echo "systemd-test-image: $IMAGE made" >&2
