#!/usr/bin/env bash
# run_events_bench.sh - events ingested per second by one skyport-router core:
# wrk posts batches of BATCH events (JSON, with a user cookie) to
# POST /_skyport/events on a router pinned to one CPU (static routes, one
# thread, --hub set so events are aggregated and shipped to a real skyport-hub).
#
# Usage: BUILD=/work/main/build bash bench/run_events_bench.sh
#   (needs $BUILD/router/skyport-router and $BUILD/hub/skyport-hub)
# Knobs: BATCHES="1 10 100" DURATION=10s CONNS=64 PIN=1 LOAD_CPUS=0 ROUTER_CPUS=1
#        DATA=1 (the router journals every post in a data dir, --data; default 0: in memory)
# Safety: loopback only, temp dir, kills only what it started.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${BUILD:-$HERE/../build}" && pwd)
BATCHES=${BATCHES:-"1 10 100"}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
PIN=${PIN:-1}
LOAD_CPUS=${LOAD_CPUS:-0}
ROUTER_CPUS=${ROUTER_CPUS:-1}
DATA=${DATA:-0}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
pin() { local cpus=$1; shift; if [[ $PIN == 1 ]]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi; }  # exec: keeps the pid

TMP=$(mktemp -d /tmp/skyport-events-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
trap "exit 130" INT TERM
wait_file() { for _ in $(seq 100); do [[ -s $1 ]] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; exit 1; }
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/token"

"$BUILD/hub/skyport-hub" --listen 127.0.0.1:0 --git-listen 127.0.0.1:0 --data "$TMP/hub" --metrics-listen "" --console-listen "" \
  --port-file "$TMP/hub.port" --token-file "$TMP/token" --log-level warn &
PIDS+=($!)
wait_file "$TMP/hub.port"
HUB=127.0.0.1:$(cut -d' ' -f1 "$TMP/hub.port")
# The arm needs an instance to be routable; events never reach it (the router answers them).
printf '{"default_app":"bench","apps":[{"name":"bench","split_id":"bench","arms":[{"commit":"a","weight":100,"upstreams":["127.0.0.1:9"]}]}]}' >"$TMP/routes.json"
DATA_ARGS=()
[[ $DATA == 1 ]] && DATA_ARGS=(--data "$TMP/router-data")
pin "$ROUTER_CPUS" "$BUILD/router/skyport-router" --routes "$TMP/routes.json" --hub "$HUB" --listen 127.0.0.1:0 \
  --admin 127.0.0.1:0 --port-file "$TMP/router.port" --token-file "$TMP/token" --threads 1 --log-level warn \
  "${DATA_ARGS[@]}" &
RPID=$!
PIDS+=($RPID)
wait_file "$TMP/router.port"
read -r RPORT APORT <"$TMP/router.port"

echo "== events ingested by one router core (wrk -c$CONNS -d$DURATION, router pinned to cpu $ROUTER_CPUS, wrk to cpu $LOAD_CPUS$([[ $DATA == 1 ]] && echo ', --data: journaled'))"
printf '%-8s %12s %14s %12s %14s\n' batch "posts/s" "events/s" "router cpu%" "us/event"
for batch in $BATCHES; do
  python3 - "$batch" >"$TMP/post.lua" <<'PY'
import sys
n = int(sys.argv[1])
ev = ",".join('{"event":"purchase","value":%d.5}' % (i % 50) for i in range(n))
print('wrk.method = "POST"')
print('wrk.body = [==[[' + ev + ']]==]')
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["Host"] = "bench.localhost"')
print('wrk.headers["Cookie"] = "skyport=0123456789abcdef0123456789abcdef.bench"')
print('done = function(summary, latency, requests) io.write(string.format("WRK %d %d %d\\n", summary.requests, summary.duration, summary.errors.status)) end')
PY
  t0=$(awk '{print $14+$15}' "/proc/$RPID/stat")
  out=$(pin "$LOAD_CPUS" wrk -t1 -c"$CONNS" -d"$DURATION" -s "$TMP/post.lua" "http://127.0.0.1:$RPORT/_skyport/events")
  t1=$(awk '{print $14+$15}' "/proc/$RPID/stat")
  read -r _ reqs dur_us errs <<<"$(grep '^WRK' <<<"$out")"
  [[ $errs == 0 ]] || echo "warning: $errs non-2xx answers" >&2
  awk -v b="$batch" -v r="$reqs" -v d="$dur_us" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
    s = d / 1e6; ev = r * b
    printf "%-8d %12.0f %14.0f %12.1f %14.3f\n", b, r / s, ev / s, 100 * t / hz / s, 1e6 * t / hz / ev }'
done
sleep 2
curl -s "http://127.0.0.1:$APORT/metrics" | grep -E '^skyport_router_(events_accepted_total|events_dropped_total|stats_shipped_rows_total|stats_pending_rows|journal_bytes) '
