#!/usr/bin/env bash
# run_router_bench.sh - skyport-router benchmarks:
#   1. proxy: bench/proxy_compare.sh with skyport-router (static --routes mode, one thread,
#      pinned like the others) as the candidate beside nginx, HAProxy and bouncy; 90/10 split
#      with a sticky cookie; wrk on loopback. Read CPU us/request beside req/s.
#   2. propagation: a registry change -> the router routing by it (bench/router_propagation),
#      against a real skyport-registry + skyport-router on loopback.
#
# Usage:
#   BUILD=/work/main/build bash bench/run_router_bench.sh
#   (needs $BUILD/router/skyport-router, $BUILD/registry/skyport-registry and
#    $BUILD/bench/router_propagation: ninja -C $BUILD skyport-router skyport-registry router_propagation)
# Knobs: ONLY=proxy|propagation  CHANGES=200  plus every proxy_compare.sh knob
#   (ROUNDS DURATION CONNS PROXIES OUT_DIR ...), passed through.
# Safety: loopback only; kills only what it started.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${BUILD:-$HERE/../build}
BUILD=$(cd "$BUILD" && pwd)
ONLY=${ONLY:-}
CHANGES=${CHANGES:-200}
ROUTER=$BUILD/router/skyport-router
[[ -x $ROUTER ]] || { echo "missing $ROUTER (ninja -C $BUILD skyport-router)" >&2; exit 1; }

if [[ -z $ONLY || $ONLY == proxy ]]; then
  export ROUTER
  export CANDIDATE_NAME=skyport CANDIDATE_PORT=${CANDIDATE_PORT:-18501}
  # The routes file is written into the harness's scratch dir when the candidate starts.
  export CANDIDATE_CMD='printf "%s" "{\"default_app\":\"bench\",\"apps\":[{\"name\":\"bench\",\"split_id\":\"bench\",\"arms\":[{\"commit\":\"a\",\"weight\":$BENCH_WEIGHT_A,\"upstreams\":[\"$BENCH_BACKEND_A\"]},{\"commit\":\"b\",\"weight\":$BENCH_WEIGHT_B,\"upstreams\":[\"$BENCH_BACKEND_B\"]}]}]}" > "$BENCH_TMP/routes.json" && exec "$ROUTER" --routes "$BENCH_TMP/routes.json" --listen 127.0.0.1:$CANDIDATE_PORT --admin "" --threads $BENCH_WORKERS --log-level warn'
  bash "$HERE/proxy_compare.sh"
fi

if [[ -z $ONLY || $ONLY == propagation ]]; then
  TMP=$(mktemp -d /tmp/skyport-router-bench.XXXXXX)
  PIDS=()
  cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
  trap cleanup EXIT
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/token"
  wait_file() { for _ in $(seq 100); do [[ -s $1 ]] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
  "$BUILD/registry/skyport-registry" --listen 127.0.0.1:0 --data "$TMP/reg" --metrics-listen "" \
    --port-file "$TMP/reg.port" --token-file "$TMP/token" --log-level warn &
  PIDS+=($!)
  wait_file "$TMP/reg.port"
  REG=127.0.0.1:$(cat "$TMP/reg.port")
  "$ROUTER" --registry "$REG" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --port-file "$TMP/router.port" \
    --token-file "$TMP/token" --threads 1 --log-level warn &
  PIDS+=($!)
  wait_file "$TMP/router.port"
  RPORT=$(cut -d' ' -f1 "$TMP/router.port")
  echo "== route propagation: registry change -> router routes by it ($CHANGES changes)"
  "$BUILD/bench/router_propagation" --registry "$REG" --router "127.0.0.1:$RPORT" --token-file "$TMP/token" \
    --changes "$CHANGES"
fi
