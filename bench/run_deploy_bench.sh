#!/usr/bin/env bash
# run_deploy_bench.sh - deploy latency: `skyport deploy APP COMMIT` -> first HTTP 200 from the
# app, against propagit 0.6.4 + seaport 2.0.9 (seed 003's tools) in the same run, a trivial
# python app on two drones per system, loopback.
#
# Usage:
#   BUILD=/work/build-bench2 bash bench/run_deploy_bench.sh
#   (builds nothing: needs $BUILD/{registry/skyport-registry,hub/skyport-hub,drone/skyport-drone,
#    cli/skyport}, e.g. ninja -C $BUILD skyport-registry skyport-hub skyport-drone skyport)
#
# Knobs (environment): BUILD=/work/main/build ROUNDS=12 WARMUP=1 SYSTEMS=skyport,propagit
#   PROBE_MS=2 (HTTP poll interval of the bench's own probe)  SETTLE_S=1 (pause after pushes)
#   PIN=1 LOAD_CPUS=0 SERVER_CPUS=1  (daemons - and so the apps they spawn - on SERVER_CPUS;
#   deploy commands and probes on LOAD_CPUS)   NICE=-10 (as root)
#   SEAPORT_DIR=~/.cache/skyport-bench-node (npm propagit@0.6.4 + seaport@2.0.9 go there)
#   PROPAGIT_PORT=18631 (+1 git) SEAPORT_PORT=18635   OUT_DIR=<keep runs.jsonl, logs, summary>
#   REAL_PYTHON=1 (the apps' `python3` is the interpreter itself, not a pyenv/asdf shim script,
#   which on the reference VM adds ~80 ms to every app start; 0 = whatever PATH finds)
#   KEEP_TMP=0   REPORT_FROM=<OUT_DIR of an earlier run> re-prints its report, starts nothing
#
# Per round: one new commit, pushed to both hubs (not timed), then each system in turn (order
# alternates) is timed from starting its deploy command to HTTP 200 from every instance; the
# previous round's instances are then stopped (not timed). See bench/deploy_bench.py.
#
# Safety: binds only 127.0.0.1, everything in a mktemp dir, every daemon in its own session;
# on exit it stops exactly the process groups it started (trap).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${BUILD:-/work/main/build}
ROUNDS=${ROUNDS:-12}
WARMUP=${WARMUP:-1}
SYSTEMS=${SYSTEMS:-skyport,propagit}
PROBE_MS=${PROBE_MS:-2}
SETTLE_S=${SETTLE_S:-1}
PIN=${PIN:-1}
LOAD_CPUS=${LOAD_CPUS:-0}
SERVER_CPUS=${SERVER_CPUS:-1}
NICE=${NICE:-$([[ $(id -u) -eq 0 ]] && echo -10 || echo 0)}
SEAPORT_DIR=${SEAPORT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport-bench-node}
PROPAGIT_PORT=${PROPAGIT_PORT:-18631}
SEAPORT_PORT=${SEAPORT_PORT:-18635}
OUT_DIR=${OUT_DIR:-}
KEEP_TMP=${KEEP_TMP:-0}
TMPROOT=${TMPROOT:-/tmp}
REAL_PYTHON=${REAL_PYTHON:-1}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- report (python: JSON in, table out)
report() {  # $1 = dir holding runs.jsonl (+ drone logs)
  python3 - "$1" <<'PY'
import glob, json, re, statistics, sys
d = sys.argv[1]
runs = [json.loads(l) for l in open(d + '/runs.jsonl') if l.strip()]
kept = [r for r in runs if not r.get('warmup')]
def med(v): return statistics.median(v) if v else None
def p90(v):
    if not v: return None
    s = sorted(v); return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]
def col(sysname, key):
    return [r[key] for r in kept if r['system'] == sysname and r.get(key) is not None and 'error' not in r]
f = lambda v: 'n/a' if v is None else f'{v:.0f}'
systems = [s for s in ('skyport', 'propagit') if any(r['system'] == s for r in kept)]
n = {s: len(col(s, 'first_200_ms')) for s in systems}
print(f"\n== deploy -> HTTP 200, 2 drones, ms from starting the deploy command (median / p90 over "
      + ', '.join(f'{n[s]} {s} runs' for s in systems) + ')')
print(f"{'metric':<34}" + ''.join(f"{s + ' p50':>15}{s + ' p90':>15}" for s in systems) + f"{'ratio p50':>11}  paired (min-max)")
for key, lab in (('first_200_ms', 'first HTTP 200'), ('all_200_ms', 'HTTP 200 from both instances'),
                 ('command_exit_ms', 'deploy command returned')):
    row = f'{lab:<34}' + ''.join(f'{f(med(col(s, key))):>15}{f(p90(col(s, key))):>15}' for s in systems)
    if len(systems) == 2:
        a = {r['round']: r[key] for r in kept if r['system'] == 'skyport' and r.get(key) and 'error' not in r}
        b = {r['round']: r[key] for r in kept if r['system'] == 'propagit' and r.get(key) and 'error' not in r}
        pairs = [a[k] / b[k] for k in a if k in b]
        sa, sb = med(list(a.values())), med(list(b.values()))
        row += f"{(sa / sb if sa and sb else float('nan')):>11.2f}  " + (f'{med(pairs):.2f} ({min(pairs):.2f}-{max(pairs):.2f})' if pairs else 'n/a')
    print(row)
if 'skyport' in systems:
    g = med(col('skyport', 'first_200_ms')); ga = med(col('skyport', 'all_200_ms'))
    if g is not None:
        print(f"\ngoal (skyport first 200 < 150 ms): {'MET' if g < 150 else 'MISSED'} - median {g:.0f} ms"
              + (f" ({g - 150:+.0f} ms, {g / 150:.1f}x)" if g >= 150 else '') + f"; both instances {f(ga)} ms")
# stage breakdown: per run, the time (ms after the start) at which the LAST drone reported each stage
def breakdown(sysname, order):
    rows = {}
    for r in kept:
        if r['system'] != sysname or 'error' in r: continue
        for st, per in r.get('stages', {}).items():
            if per: rows.setdefault(st, []).append(max(per.values()))
        if r.get('port_known_ms'): rows.setdefault('port known to the bench', []).append(max(r['port_known_ms']))
        if r.get('all_200_ms'): rows.setdefault('HTTP 200 (bench probe, both)', []).append(r['all_200_ms'])
        rows.setdefault('command exited', []).append(r['command_exit_ms'])
    print(f"\n{sysname}: when the last drone reached each stage (ms after the start, median / p90)")
    prev = 0.0
    for st in sorted(rows, key=lambda s: med(rows[s])):
        m = med(rows[st]); print(f"  {st:<32}{m:>8.0f}{p90(rows[st]):>8.0f}   (+{m - prev:.0f})"); prev = m
if 'skyport' in systems: breakdown('skyport', None)
if 'propagit' in systems: breakdown('propagit', None)
# the drones' own "ready after_ms" (spawn -> readiness probe succeeded)
ready = []
for lf in glob.glob(d + '/skyport-drone-*.log'):
    for line in open(lf, errors='replace'):
        if 'ready' in line:
            m = re.search(r'after_ms[=":\s]+(\d+)', line)
            if m: ready.append(int(m.group(1)))
if ready:
    print(f"\nskyport drones, spawn -> ready (drone log after_ms, all instances incl. warm-up): median {med(ready):.0f} "
          f"p90 {p90(ready):.0f} min {min(ready)} max {max(ready)} ms (n={len(ready)}; probe interval 100 ms)")
att = [a for r in kept if r['system'] == 'skyport' for a in r.get('probe_attempts', [])]
if att: print(f"bench probe attempts before the first 200 on a skyport port (from 'starting'): median {med(att):.0f}")
errs = [r for r in runs if 'error' in r or r.get('http_errors')]
print('\nerrors: ' + ('none' if not errs else ''))
for r in errs: print(f"  {r['system']} round {r['round']}: {r.get('error')} {r.get('http_errors', '')}")
PY
}

if [[ -n ${REPORT_FROM:-} ]]; then
  [[ -f $REPORT_FROM/runs.jsonl ]] || die "REPORT_FROM=$REPORT_FROM has no runs.jsonl"
  report "$REPORT_FROM"; exit 0
fi

# ---------------------------------------------------------------- setup
REGISTRY_BIN=$BUILD/registry/skyport-registry
HUB_BIN=$BUILD/hub/skyport-hub
DRONE_BIN=$BUILD/drone/skyport-drone
CLI_BIN=$BUILD/cli/skyport
for b in "$REGISTRY_BIN" "$HUB_BIN" "$DRONE_BIN" "$CLI_BIN"; do
  [[ -x $b ]] || die "$b missing: ninja -C $BUILD skyport-registry skyport-hub skyport-drone skyport"
done
command -v python3 >/dev/null || die "python3 is needed"
command -v git >/dev/null || die "git is needed"
command -v taskset >/dev/null || { log "taskset missing: running unpinned"; PIN=0; }
((PIN == 0)) || (($(nproc) >= 2)) || { log "1 CPU: running unpinned"; PIN=0; }

ensure_node_pkgs() {  # propagit's dnode needs the native 'weak', which does not build on Node 20:
  # --ignore-scripts skips that build and bench/propagit_weak_shim.js stands in for it.
  [[ -f $SEAPORT_DIR/node_modules/propagit/package.json && -f $SEAPORT_DIR/node_modules/seaport/package.json ]] && return 0
  command -v npm >/dev/null || return 1
  log "installing npm propagit@0.6.4 seaport@2.0.9 into $SEAPORT_DIR"
  mkdir -p "$SEAPORT_DIR"
  [[ -f $SEAPORT_DIR/package.json ]] || printf '{"name":"skyport-bench-node","private":true}\n' >"$SEAPORT_DIR/package.json"
  (cd "$SEAPORT_DIR" && npm install --no-audit --no-fund --ignore-scripts propagit@0.6.4 seaport@2.0.9 >/dev/null 2>&1) || return 1
  [[ -f $SEAPORT_DIR/node_modules/propagit/package.json ]]
}
if [[ $SYSTEMS == *propagit* ]]; then
  ensure_node_pkgs && command -v node >/dev/null || { log "propagit unavailable (node/npm?): measuring skyport alone"; SYSTEMS=skyport; }
fi

exec 9>/tmp/run_deploy_bench.lock
flock -n 9 || die "another run_deploy_bench.sh is running (lock /tmp/run_deploy_bench.lock)"

STARTED_PIDS=()
TMP=""
stop_group() {  # a pid we started with setsid (so also its pgid): TERM the group, KILL after 10 s
  local pid=$1 i
  kill -0 -- "-$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  # drones first (skyport drones stop their apps on TERM; propagit drones' apps share their group)
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do stop_group "${STARTED_PIDS[$i]}"; done
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $KEEP_TMP == 1 ]]; then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TMP=$(mktemp -d "$TMPROOT/deploy_bench.XXXXXX")

PRIO_EXEC=$HERE/prio-exec.sh  # nice (and the session's autogroup) + taskset

# daemon NAME DIR CMD... : in its own session on SERVER_CPUS, output to $TMP/NAME.log
daemon() {
  local name=$1 dir=$2 cpus=$SERVER_CPUS; shift 2
  [[ $PIN == 1 ]] || cpus=-
  (cd "$dir" && exec setsid "$PRIO_EXEC" "$NICE" "$cpus" "$@") >"$TMP/$name.log" 2>&1 </dev/null 9>&- &
  STARTED_PIDS+=("$!")
  LAST_PID=$!
}
wait_file() {  # FILE PID WHAT
  local i
  for ((i = 0; i < 150; i++)); do
    [[ -s $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited: $(tail -5 "$TMP/$3.log")"
    sleep 0.1
  done
  die "$3 wrote no $1 in 15 s"
}
wait_port() {  # PORT PID WHAT
  local i
  for ((i = 0; i < 150; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited: $(tail -5 "$TMP/$3.log")"
    sleep 0.1
  done
  die "$3 did not listen on $1 in 15 s"
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ $REAL_PYTHON == 1 ]]; then  # daemons (and so the apps) find the interpreter first on PATH
  mkdir -p "$TMP/bin"
  ln -s "$(python3 -c 'import sys; print(sys.executable)')" "$TMP/bin/python3"
  export PATH=$TMP/bin:$PATH
fi

# ---------------------------------------------------------------- skyport cluster
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$TMP/token"; chmod 600 "$TMP/token"
TOKEN=$(cat "$TMP/token")
if [[ $SYSTEMS == *skyport* ]]; then
  mkdir -p "$TMP/sky"
  daemon skyport-registry "$TMP/sky" "$REGISTRY_BIN" --listen 127.0.0.1:0 --port-file "$TMP/sky/registry.port" \
    --data "$TMP/sky/registry-data" --token-file "$TMP/token" --metrics-listen ''
  wait_file "$TMP/sky/registry.port" "$LAST_PID" skyport-registry
  REG=127.0.0.1:$(cat "$TMP/sky/registry.port")
  daemon skyport-hub "$TMP/sky" "$HUB_BIN" --listen 127.0.0.1:0 --git-listen 127.0.0.1:0 --data "$TMP/sky/hub-data" \
    --token-file "$TMP/token" --port-file "$TMP/sky/hub.port" --metrics-listen '' --console-listen '' --deploy-timeout 60
  wait_file "$TMP/sky/hub.port" "$LAST_PID" skyport-hub
  read -r HUB_GRPC HUB_GIT <"$TMP/sky/hub.port"
  for dn in d1 d2; do
    daemon "skyport-drone-$dn" "$TMP/sky" "$DRONE_BIN" --hub "127.0.0.1:$HUB_GRPC" --registry "$REG" --name "$dn" \
      --advertise 127.0.0.1 --data "$TMP/sky/drone-$dn" --token-file "$TMP/token" --drain-ms 0 --ready-timeout 20
  done
  export SKYPORT_HUB=127.0.0.1:$HUB_GRPC SKYPORT_REGISTRY=$REG SKYPORT_TOKEN_FILE=$TMP/token SKYPORT_CLI=$CLI_BIN
  export SKYPORT_GIT_URL=http://skyport:$TOKEN@127.0.0.1:$HUB_GIT/webapp.git
  for ((i = 0; ; i++)); do
    n=$("$CLI_BIN" drones --json 2>/dev/null | python3 -c 'import json,sys; print(sum(1 for d in json.load(sys.stdin) if d.get("connected")))' 2>/dev/null || echo 0)
    ((n == 2)) && break
    ((i < 150)) || die "skyport drones did not attach in 15 s"
    sleep 0.1
  done
fi

# ---------------------------------------------------------------- propagit + seaport cluster
if [[ $SYSTEMS == *propagit* ]]; then
  for p in "$PROPAGIT_PORT" $((PROPAGIT_PORT + 1)) "$SEAPORT_PORT"; do
    port_busy "$p" && die "port $p is in use by something this script did not start"
  done
  NODE=(node -r "$HERE/propagit_weak_shim.js")
  export BENCH_LOOPBACK=1  # the shim makes propagit's bare-port listen() bind 127.0.0.1
  PG_CLI=$SEAPORT_DIR/node_modules/propagit/bin/cli.js
  SECRET=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mkdir -p "$TMP/pg/hub" "$TMP/pg/d1" "$TMP/pg/d2"
  export SEAPORT_DIR
  daemon seaport "$TMP/pg" node "$HERE/seaport_bench.js" server --port "$SEAPORT_PORT" --host 127.0.0.1
  wait_port "$SEAPORT_PORT" "$LAST_PID" seaport
  daemon propagit-hub "$TMP/pg/hub" "${NODE[@]}" "$PG_CLI" hub --port "$PROPAGIT_PORT" --secret "$SECRET" --basedir "$TMP/pg/hub"
  wait_port $((PROPAGIT_PORT + 1)) "$LAST_PID" propagit-hub
  for dn in d1 d2; do
    daemon "propagit-drone-$dn" "$TMP/pg/$dn" "${NODE[@]}" "$PG_CLI" drone --hub "127.0.0.1:$PROPAGIT_PORT" \
      --secret "$SECRET" --basedir "$TMP/pg/$dn"
  done
  for dn in d1 d2; do
    for ((i = 0; i < 150; i++)); do grep -q 'connected to the hub' "$TMP/propagit-drone-$dn.log" && break; sleep 0.1; done
    grep -q 'connected to the hub' "$TMP/propagit-drone-$dn.log" || die "propagit drone $dn did not attach: $(tail -5 "$TMP/propagit-drone-$dn.log")"
  done
  export PROPAGIT_HUB=127.0.0.1:$PROPAGIT_PORT PROPAGIT_SECRET=$SECRET SEAPORT_ADDR=127.0.0.1:$SEAPORT_PORT SEAPORT_DIR
  export PROPAGIT_GIT_URL=http://git:$SECRET@127.0.0.1:$((PROPAGIT_PORT + 1))/webapp.git
  export PROPAGIT_CLIENT=$HERE/propagit_client.js
  NODE_CMD=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${NODE[@]}")
  export NODE_CMD
fi

if [[ $PIN == 1 ]]; then
  CLIENT_CMD_PREFIX=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' taskset -c "$LOAD_CPUS")
else
  CLIENT_CMD_PREFIX='[]'
fi
export CLIENT_CMD_PREFIX

echo "== run_deploy_bench $(date -u +%FT%TZ) on $(hostname)"
echo "machine: nproc=$(nproc) cpu='$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)' kernel=$(uname -r) load=$(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: skyport $CLI_BIN (built $(date -r "$CLI_BIN" +%FT%T)), git $(git --version | cut -d' ' -f3), python $(python3 -V | cut -d' ' -f2) ($(command -v python3)), node $(node --version 2>/dev/null || echo none)$([[ $SYSTEMS == *propagit* ]] && echo ", propagit $(node -p "require('$SEAPORT_DIR/node_modules/propagit/package.json').version"), seaport $(node -p "require('$SEAPORT_DIR/node_modules/seaport/package.json').version")")"
echo "layout: daemons and their apps on cpu $SERVER_CPUS, deploy commands + probes on cpu $LOAD_CPUS (PIN=$PIN), nice $NICE; $ROUNDS rounds + $WARMUP warm-up, probe every ${PROBE_MS} ms"

# the driver itself runs on LOAD_CPUS too
if [[ $PIN == 1 ]]; then DRIVER=(taskset -c "$LOAD_CPUS" python3); else DRIVER=(python3); fi
: >"$TMP/runs.jsonl"
"${DRIVER[@]}" "$HERE/deploy_bench.py" --work "$TMP/work" --rounds "$ROUNDS" --warmup "$WARMUP" --systems "$SYSTEMS" \
  --probe-ms "$PROBE_MS" --settle-s "$SETTLE_S" --out "$TMP/runs.jsonl" 9>&-

report "$TMP" | tee "$TMP/summary.txt"
if [[ -n $OUT_DIR ]]; then
  mkdir -p "$OUT_DIR"
  cp "$TMP/runs.jsonl" "$TMP/summary.txt" "$TMP"/*.log "$OUT_DIR/" 2>/dev/null || true
  log "raw results copied to $OUT_DIR"
fi
