#!/usr/bin/env bash
# Installs the Debian 12 packages Skyport needs (only the missing ones), then
# configures and builds everything into ./build with Ninja and ccache.
# Run as root on a fresh machine (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake ninja-build pkg-config git ccache
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
      libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev libsqlite3-dev sqlite3 catch2
      libgit2-dev libyaml-cpp-dev libboost-dev libboost-filesystem-dev zlib1g-dev libssl-dev
      python3 curl openssl iproute2 procps)
# Only the tests need these (docker-compose v1 validates docker-compose.yml without an engine;
# python3-scipy re-runs tests/unit/stats_reference.py, which made the statistics' golden values).
TEST_PKGS=(docker-compose)

missing=()
for p in "${PKGS[@]}" "${TEST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: run as root to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi

# The compiler cache lives outside the tree so fresh clones reuse it.
if [[ $(id -u) -eq 0 ]]; then
  export CCACHE_DIR=${CCACHE_DIR:-/var/cache/skyport-ccache}
else
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/skyport-ccache}
fi
# Paths relative to the clone, so fresh clones elsewhere (CI) hit the same cache entries.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
mkdir -p "$CCACHE_DIR"
ccache --max-size=5G >/dev/null 2>&1 || true

BUILD_DIR=${SKYPORT_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${SKYPORT_BUILD_TYPE:-Release}" >/dev/null
echo "setup: building in $BUILD_DIR (ccache: $CCACHE_DIR)" >&2
cmake --build "$BUILD_DIR" -j"$(nproc)"
