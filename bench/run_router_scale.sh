#!/usr/bin/env bash
# run_router_scale.sh - skyport-router with many endpoints in the registry (issue 15, "Scale").
# For each size in SIZES: a fresh skyport-registry (--store sqlite, on disk in a temp dir) and a
# fresh skyport-router (registry mode, one thread); bench/router_propagation then
#   1. fills SIZE endpoints of app "fill" (one commit, hosts given by name: FILL_HOSTS, 64512
#      ports each, FILL_CONCURRENCY clients) and times the router's table reaching the revision of
#      the last acknowledged write ("current after the last write"),
#   2. makes CHANGES changes (a new commit of app "prop" on the tool's backend, the newest commit
#      takes the traffic) and times each from just before Register to the first proxied response
#      carrying the new commit (p50/p99),
#   3. revokes the fill's lease (SIZE endpoints go in one revision) and times the router catching up,
# and reports the router's RSS after the fill and after the changes. One JSON line per size, then
# a table.
#
# Usage:
#   BUILD=$PWD/build bash bench/run_router_scale.sh
#   (needs skyport-registry, skyport-router, router_propagation: ninja -C $BUILD skyport-registry
#    skyport-router router_propagation)
#   Another registry (e.g. one on etcd): REGISTRY=HOST:PORT TOKEN_FILE=FILE bash bench/run_router_scale.sh
#   (the fill's endpoints are revoked after each size, so the runs do not add up).
# Knobs: SIZES="1000 10000 100000" CHANGES=200 FILL_CONCURRENCY=32 FILL_HOSTS=localhost,<hostname>
#   NICE=5 (everything runs under nice: the machine is shared) OUT=/tmp/router-scale.jsonl
#   REGISTRY_FLAGS="--sync normal" (extra flags of the registry this script starts)
# Safety: loopback only; kills only the pids it started.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${BUILD:-$HERE/../build}
BUILD=$(cd "$BUILD" && pwd)
SIZES=${SIZES:-"1000 10000 100000"}
CHANGES=${CHANGES:-200}
FILL_CONCURRENCY=${FILL_CONCURRENCY:-32}
NICE=${NICE:-5}
OUT=${OUT:-/tmp/router-scale.jsonl}
REGISTRY=${REGISTRY:-}
for b in registry/skyport-registry router/skyport-router bench/router_propagation; do
  [[ -x $BUILD/$b ]] || { echo "missing $BUILD/$b (ninja -C $BUILD $(basename "$b"))" >&2; exit 1; }
done
# Host names that resolve here (64512 endpoints fit on each): localhost, then this machine's name.
if [[ -z ${FILL_HOSTS:-} ]]; then
  FILL_HOSTS=localhost
  h=$(hostname)
  if [[ $h != localhost ]] && getent hosts "$h" >/dev/null; then FILL_HOSTS+=",$h"; fi
fi

TMP=$(mktemp -d /tmp/skyport-router-scale.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
wait_file() { for _ in $(seq 200); do [[ -s $1 ]] && return 0; sleep 0.05; done; echo "timed out waiting for $1" >&2; return 1; }
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

if [[ -n $REGISTRY ]]; then
  TOKEN=${TOKEN_FILE:?give TOKEN_FILE with REGISTRY}
else
  TOKEN=$TMP/token
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN"
fi
: >"$OUT"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared; everything here runs under nice -n $NICE)"
for size in $SIZES; do
  reg_pid=""
  reg=$REGISTRY
  if [[ -z $reg ]]; then
    rm -f "$TMP/reg.port"
    # shellcheck disable=SC2086  # REGISTRY_FLAGS holds several flags: split on purpose
    nice -n "$NICE" "$BUILD/registry/skyport-registry" --listen 127.0.0.1:0 --data "$TMP/reg-$size" \
      --metrics-listen "" --port-file "$TMP/reg.port" --token-file "$TOKEN" --log-level warn ${REGISTRY_FLAGS:-} &
    reg_pid=$!
    PIDS+=("$reg_pid")
    wait_file "$TMP/reg.port"
    reg=127.0.0.1:$(cat "$TMP/reg.port")
  fi
  rm -f "$TMP/router.port"
  nice -n "$NICE" "$BUILD/router/skyport-router" --registry "$reg" --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
    --port-file "$TMP/router.port" --token-file "$TOKEN" --threads 1 --log-level warn &
  router_pid=$!
  PIDS+=("$router_pid")
  wait_file "$TMP/router.port"
  read -r rport aport <"$TMP/router.port"
  echo "== $size endpoints on $FILL_HOSTS (registry $reg)"
  nice -n "$NICE" "$BUILD/bench/router_propagation" --registry "$reg" --router "127.0.0.1:$rport" \
    --admin "127.0.0.1:$aport" --token-file "$TOKEN" --router-pid "$router_pid" --fill "$size" \
    --fill-hosts "$FILL_HOSTS" --fill-concurrency "$FILL_CONCURRENCY" --changes "$CHANGES" --revoke-fill \
    | tee -a "$OUT"
  stop_pid "$router_pid"
  [[ -n $reg_pid ]] && stop_pid "$reg_pid"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'endpoints':>10} {'fill/s':>8} {'current after last write ms':>28} {'change p50 ms':>14} "
      f"{'p99 ms':>8} {'max ms':>8} {'Register p50/p99 ms':>20} {'apply p50/p99 ms':>17} "
      f"{'RSS MiB (fill/after)':>21} {'revoke catch-up ms':>19}")
for r in rows:
    f = r.get("fill", {})
    rv = r.get("revoke", {})
    print(f"{f.get('count', 0):>10} {f.get('per_sec', 0):>8.0f} {f.get('router_current_after_last_write_ms', -1):>28.1f} "
          f"{r.get('p50_ms', -1):>14.2f} {r.get('p99_ms', -1):>8.2f} {r.get('max_ms', -1):>8.2f} "
          f"{r.get('register_p50_ms', -1):>9.2f}/{r.get('register_p99_ms', -1):<10.2f} "
          f"{r.get('router_apply_p50_ms', -1):>8.3f}/{r.get('router_apply_p99_ms', -1):<8.3f} "
          f"{f.get('router_rss_kb', 0) / 1024:>10.1f}/{r.get('router_rss_kb_after_changes', 0) / 1024:<10.1f} "
          f"{rv.get('router_current_after_ms', -1):>19.1f}")
EOF
