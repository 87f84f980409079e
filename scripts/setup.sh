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
      python3 curl openssl iproute2 procps
      libjs-chart.js)  # Chart.js, compiled into the hub's web console (hub/console/console.cmake)
# Only the tests need these (docker-compose v1 validates docker-compose.yml without an engine and runs
# the rig;
# python3-scipy re-runs tests/unit/stats_reference.py, which made the statistics' golden values;
# wrk drives the rolling-redeploy test, tests/integration/test_rolling_redeploy.py;
# etcd-server and etcd-client: the tests of the control plane on etcd start their own etcd clusters;
# docker.io, docker-compose and debootstrap: tests/compose/ runs the compose rig in a Docker engine of
# its own, on a Debian base image that debootstrap makes;
# chromium, chromium-driver and python3-selenium: tests/browser/ drives the web console in a real,
# headless browser).
TEST_PKGS=(docker.io docker-compose debootstrap wrk etcd-server etcd-client zsh
           chromium chromium-driver python3-selenium)
# The fuzz targets (fuzz/, ctest fuzz.*): clang with libFuzzer and the sanitizers. Optional: where
# they cannot be installed the fuzz smoke tests are skipped, saying why.
FUZZ_PKGS=(clang libclang-rt-14-dev)

missing=()
for p in "${PKGS[@]}" "${TEST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
fuzz_missing=()
for p in "${FUZZ_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || fuzz_missing+=("$p")
done
if ((${#missing[@]} + ${#fuzz_missing[@]})); then
  echo "setup: installing ${missing[*]} ${fuzz_missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: run as root to install: ${missing[*]} ${fuzz_missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  if ((${#missing[@]})); then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=600 "${missing[@]}"
  fi
  if ((${#fuzz_missing[@]})); then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=600 "${fuzz_missing[@]}" ||
      echo "setup: could not install ${fuzz_missing[*]}: the fuzz smoke tests will be skipped" >&2
  fi
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
FUZZ_DIR=${SKYPORT_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${SKYPORT_BUILD_TYPE:-Release}" \
  -DSKYPORT_FUZZ_DIR="$(realpath -m "$FUZZ_DIR")" >/dev/null
echo "setup: building in $BUILD_DIR (ccache: $CCACHE_DIR)" >&2
cmake --build "$BUILD_DIR" -j"$(nproc)"

# The libFuzzer targets: clang, ASan + UBSan, a build dir of their own (ctest's fuzz.* entries
# run them for a few seconds each). Where they cannot be built, say why: the entries skip with it.
fuzz_skip=""
probe=$(mktemp -d)
if [[ ${SKYPORT_FUZZ:-1} == 0 ]]; then
  fuzz_skip="SKYPORT_FUZZ=0 given to scripts/setup.sh"
elif ! command -v clang++ >/dev/null; then
  fuzz_skip="clang++ is not installed (apt-get install clang libclang-rt-14-dev)"
elif ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
     clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o "$probe/probe" 2>"$probe/err"; then
  fuzz_skip="clang++ cannot link libFuzzer with ASan/UBSan (libclang-rt-14-dev missing?): $(head -c 300 "$probe/err")"
fi
rm -rf "$probe"
mkdir -p "$FUZZ_DIR"
if [[ -n $fuzz_skip ]]; then
  echo "setup: no fuzz build: $fuzz_skip" >&2
  echo "$fuzz_skip" >"$FUZZ_DIR/SKIPPED"
else
  rm -f "$FUZZ_DIR/SKIPPED"
  CXX=clang++ cmake -S . -B "$FUZZ_DIR" -G Ninja -DSKYPORT_FUZZ=ON >/dev/null
  echo "setup: building the fuzz targets in $FUZZ_DIR" >&2
  cmake --build "$FUZZ_DIR" -j"$(nproc)" --target fuzz_all
fi
