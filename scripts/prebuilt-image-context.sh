#!/usr/bin/env bash
# Makes the build context of docker/Dockerfile.prebuilt: the runtime image from binaries this
# machine already built (tests/compose/ uses it; docker/Dockerfile builds them from source).
#
#   scripts/prebuilt-image-context.sh BUILD_DIR OUT_DIR BASE_ROOTFS_TAR
#
# OUT_DIR (must not exist) gets:
#   bin/       the five programs, stripped
#   lib/       the shared libraries they load (ldd) that BASE_ROOTFS_TAR does not hold,
#              for /usr/lib/x86_64-linux-gnu/ (the base's own libc, libstdc++, ... are kept)
#   docker/    Dockerfile.prebuilt, entrypoint.sh, healthcheck.sh
#   examples/  the example apps (no __pycache__)
# The binaries must be built against the base's Debian release (both Debian 12 here).
# Nothing else of the tree, and never docker/secrets, gets in.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
BUILD=$1 OUT=$2 BASE_TAR=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROGRAMS=(registry/skyport-registry hub/skyport-hub drone/skyport-drone router/skyport-router cli/skyport)
LIBDIR=usr/lib/x86_64-linux-gnu

die() { echo "prebuilt-image-context: $*" >&2; exit 1; }
[[ -e $OUT ]] && die "$OUT exists"
[[ -r $BASE_TAR ]] || die "no base rootfs tarball $BASE_TAR (scripts/debian-base-image.sh makes it)"
for p in "${PROGRAMS[@]}"; do [[ -x $BUILD/$p ]] || die "$BUILD/$p is not built"; done

mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/docker"
in_base=$(mktemp)
trap 'rm -f "$in_base"' EXIT
tar -tf "$BASE_TAR" | sed 's|^\./||' | sort -u > "$in_base"

for p in "${PROGRAMS[@]}"; do
  install -s -m 0755 "$BUILD/$p" "$OUT/bin/"
done
# ldd: "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)"; a missing one is "=> not found".
ldd "${PROGRAMS[@]/#/$BUILD/}" > "$OUT/ldd.txt" || die "ldd failed"
if grep -q "not found" "$OUT/ldd.txt"; then die "unresolved libraries: $(grep 'not found' "$OUT/ldd.txt" | sort -u)"; fi
awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' "$OUT/ldd.txt" | sort -u |
  while read -r soname path; do
    if grep -qxF "$LIBDIR/$soname" "$in_base"; then continue; fi
    [[ $path == */x86_64-linux-gnu/* ]] || die "$soname at $path: not a Debian multiarch library"
    cp -L "$path" "$OUT/lib/$soname"
  done
rm "$OUT/ldd.txt"

cp "$ROOT/docker/Dockerfile.prebuilt" "$ROOT/docker/entrypoint.sh" "$ROOT/docker/healthcheck.sh" "$OUT/docker/"
cp -r "$ROOT/examples" "$OUT/examples"
find "$OUT/examples" -name __pycache__ -prune -exec rm -rf {} +
