#!/usr/bin/env bash
# Sets everything up (packages, build), then runs every test: Catch2 unit
# tests and the integration tests that start the real daemons on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BUILD_DIR=${SKYPORT_BUILD_DIR:-build}
exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" --timeout 600
