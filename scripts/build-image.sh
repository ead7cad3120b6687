#!/usr/bin/env bash
# Builds the container image agtoken:local on this machine, offline: no registry, nothing pulled.
#
#   scripts/build-image.sh                       # cargo build --release, then the image
#   AGTOKEN_BINARY=path scripts/build-image.sh   # use this binary instead of building one
#
# It makes what the public Dockerfile makes, from what is here:
#   1. the release binary: `cargo build --release --locked -p agtoken-cli` into the usual target
#      dir ($CARGO_TARGET_DIR or ./target);
#   2. a base image standing in for gcr.io/distroless/cc-debian12:nonroot, `agtoken-base:local`,
#      imported from the files of this machine's Debian 12 packages: libc6's shared libraries
#      (without the iconv modules, which Rust never loads), libgcc-s1, the CA bundle of
#      ca-certificates, netbase's /etc files, and passwd/group entries for root and
#      nonroot (65532) with its home, and /tmp; no shell, no package manager;
#   3. the image itself from the runtime stage of ./Dockerfile, taken from the file as it is
#      ("FROM … AS runtime" to the end; its COPY --from=builder takes the binary of step 1).
#
# Environment: IMAGE (agtoken:local), BASE_IMAGE (agtoken-base:local), AGTOKEN_BINARY, DOCKER
# (docker). Needs a running Docker engine (see README "Deploy"). Prints the sizes at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMAGE="${IMAGE:-agtoken:local}"
BASE_IMAGE="${BASE_IMAGE:-agtoken-base:local}"
DOCKER="${DOCKER:-docker}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

say() { echo "build-image: $*" >&2; }
die() { echo "build-image: error: $*" >&2; exit 1; }

"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers ('$DOCKER info' failed): install docker.io and start dockerd (README \"Deploy\")"
for tool in dpkg-query readelf tar; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian: dpkg, binutils, tar)"
done

# 1. The binary.
if [[ -n "${AGTOKEN_BINARY:-}" ]]; then
    BIN="$AGTOKEN_BINARY"
    say "using the binary $BIN"
else
    say "cargo build --release --locked -p agtoken-cli (target dir $TARGET_DIR)"
    (cd "$ROOT" && cargo build --release --locked -p agtoken-cli)
    BIN="$TARGET_DIR/release/agtoken"
fi
[[ -x "$BIN" ]] || die "$BIN is not an executable"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"

# 2. The base: Debian 12's files, laid out as merged /usr like Debian 12 itself.
mkdir -p "$ROOTFS"/{etc,tmp,home/nonroot,usr/lib,usr/lib64,usr/bin,usr/sbin,usr/local/bin,etc/ssl/certs,usr/share/doc}
ln -s usr/lib "$ROOTFS/lib"
ln -s usr/lib64 "$ROOTFS/lib64"
ln -s usr/bin "$ROOTFS/bin"
ln -s usr/sbin "$ROOTFS/sbin"
chmod 1777 "$ROOTFS/tmp"

copy_package() { # the package's libraries and /etc files, and its copyright notice
    local pkg="$1" list="$WORK/$1.list"
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || die "Debian package $pkg is not installed (apt-get install $pkg)"
    dpkg-query -L "$pkg" | while IFS= read -r f; do
        case "$f" in
            */gconv/*) ;;
            /lib/*|/lib64/*|/usr/lib/*|/usr/lib64/*|/etc/*|/usr/share/doc/*/copyright)
                if [[ -f "$f" || -L "$f" ]]; then printf '%s\n' "${f#/}"; fi ;;
        esac
    done >"$list"
    tar -C / --no-recursion -cf - -T "$list" | tar -C "$ROOTFS" --keep-directory-symlink -xf -
}
copy_package libc6
copy_package libgcc-s1
copy_package netbase
rm -rf "$ROOTFS/etc/ld.so.conf.d"
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$ROOTFS/usr/share/doc/ca-certificates"
cp /usr/share/doc/ca-certificates/copyright "$ROOTFS/usr/share/doc/ca-certificates/copyright"
cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
cat >"$ROOTFS/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
printf 'NAME="agtoken local base (Debian 12 files)"\nID=debian\nVERSION_ID="12"\n' >"$ROOTFS/etc/os-release"

# Every library the binary needs must be in the base.
for lib in $(readelf -d "$BIN" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    [[ -e "$ROOTFS/usr/lib/x86_64-linux-gnu/$lib" ]] || die "the base lacks $lib, which $BIN needs"
done
interp="$(readelf -l "$BIN" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')"
[[ -z "$interp" || -e "$ROOTFS$interp" ]] || die "the base lacks the program interpreter $interp"

say "importing $BASE_IMAGE ($(du -sh "$ROOTFS" | cut -f1) of files)"
# Everything belongs to root but the nonroot home, as in distroless (the server writes nowhere:
# without root to set owners, the home stays root's).
if [[ "$(id -u)" == 0 ]]; then
    chown -R 0:0 "$ROOTFS"
    chown 65532:65532 "$ROOTFS/home/nonroot"
    tar -C "$ROOTFS" --numeric-owner -cf "$WORK/base.tar" .
else
    tar -C "$ROOTFS" --numeric-owner --owner=0 --group=0 -cf "$WORK/base.tar" .
fi
"$DOCKER" import --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' --change 'LABEL agtoken.build=local' \
    --message "agtoken local base: Debian 12 libc6, libgcc-s1, ca-certificates, netbase; nonroot 65532" \
    "$WORK/base.tar" "$BASE_IMAGE" >/dev/null

# 3. The runtime stage of the public Dockerfile, on that base, with the binary of step 1.
mkdir -p "$WORK/context"
cp "$BIN" "$WORK/context/agtoken"
awk -v base="$BASE_IMAGE" '
    /^FROM .* AS runtime$/ { in_stage = 1; print "FROM " base; next }
    in_stage && /^COPY --from=builder / { print "COPY agtoken " $NF; copied = 1; next }
    in_stage && /--from=/ { print "build-image: the runtime stage uses --from= beyond the binary: " $0 > "/dev/stderr"; exit 1 }
    in_stage { print }
    END { if (!copied) { print "build-image: no runtime stage with COPY --from=builder in the Dockerfile" > "/dev/stderr"; exit 1 } }
' "$ROOT/Dockerfile" >"$WORK/Dockerfile.local"
say "building $IMAGE from the runtime stage of Dockerfile:"
sed 's/^/    /' "$WORK/Dockerfile.local" >&2
DOCKER_BUILDKIT=0 "$DOCKER" build -q --label agtoken.build=local -t "$IMAGE" -f "$WORK/Dockerfile.local" "$WORK/context" >/dev/null
# The images this script made before and that no tag names any more.
"$DOCKER" image prune -f --filter label=agtoken.build=local >/dev/null

bin_size=$(stat -c %s "$BIN")
base_size=$("$DOCKER" image inspect --format '{{.Size}}' "$BASE_IMAGE")
image_size=$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
say "done: $IMAGE $(mib "$image_size") (base $(mib "$base_size"), binary $(mib "$bin_size"))"
