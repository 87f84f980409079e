#!/usr/bin/env bash
# run_registry_bench.sh - skyport-registry vs the original JavaScript seaport, side by side
# on loopback: registrations/s at several client concurrencies, Watch fan-out latency
# (one change -> W watchers), and server memory with K registered endpoints.
#
# Usage:
#   BUILD=/work/build-bench bash bench/run_registry_bench.sh
#   (builds nothing: needs $BUILD/registry/skyport-registry and $BUILD/bench/registry_bench,
#    e.g. ninja -C $BUILD skyport-registry registry_bench)
#
# Knobs (environment): BUILD=/work/main/build ROUNDS=3 SECONDS_PER_RUN=5 WARMUP=1
#   CONCURRENCY="1 8 64"  (register runs, both systems)   REGISTER_ONLY=1 (also skyport
#   Register with client-picked ports, no Allocate - what seaport does)
#   WATCHERS=100 CHANGES=200   FILL_COUNT=100000 FILL_CONC=32
#   PIN=1 LOAD_CPUS=0 SERVER_CPUS=1   NICE=-10 (as root)
#   SEAPORT_DIR=~/.cache/skyport-bench-node (npm seaport@2.0.9 is installed there if missing)
#   QUIET_WAIT_S=60 NOISE_PCT=10 RETRY_NOISY=1 (a run during which other processes used
#   > NOISE_PCT% of a core is discarded and repeated)   OUT_DIR=<keep runs.jsonl + summary.txt>
#   KEEP_TMP=0   REPORT_FROM=<OUT_DIR of an earlier run> re-prints its report, starts nothing
#
# Every measurement gets a fresh server (fresh data dir for skyport), so runs do not see each
# other's state. Order inside a round alternates (skyport first in odd rounds, seaport first in
# even ones). Read the ratios: they are paired per round, so drift between rounds cancels.
#
# Safety: binds only 127.0.0.1 (skyport picks a free port; seaport uses SEAPORT_PORT, default
# 18611), data in a mktemp dir on disk (fsync is real), kills only the processes it started.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${BUILD:-/work/main/build}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WARMUP=${WARMUP:-1}
CONCURRENCY=${CONCURRENCY:-"1 8 64"}
REGISTER_ONLY=${REGISTER_ONLY:-1}
WATCHERS=${WATCHERS:-100}
CHANGES=${CHANGES:-200}
FILL_COUNT=${FILL_COUNT:-100000}
FILL_CONC=${FILL_CONC:-32}
PIN=${PIN:-1}
LOAD_CPUS=${LOAD_CPUS:-0}
SERVER_CPUS=${SERVER_CPUS:-1}
NICE=${NICE:-$([[ $(id -u) -eq 0 ]] && echo -10 || echo 0)}
SEAPORT_DIR=${SEAPORT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport-bench-node}
SEAPORT_VERSION=2.0.9
SEAPORT_PORT=${SEAPORT_PORT:-18611}
QUIET_WAIT_S=${QUIET_WAIT_S:-60}
SKYPORT_SYNC=${SKYPORT_SYNC:-full}   # skyport-registry --sync: full (fsync each batch) | normal
ONLY=${ONLY:-}                       # e.g. ONLY=fanout: run just these metrics
NOISE_PCT=${NOISE_PCT:-10}
RETRY_NOISY=${RETRY_NOISY:-1}
OUT_DIR=${OUT_DIR:-}
KEEP_TMP=${KEEP_TMP:-0}
TMPROOT=${TMPROOT:-/tmp}

REGISTRY_BIN=$BUILD/registry/skyport-registry
BENCH_BIN=$BUILD/bench/registry_bench
SEAPORT_JS=$HERE/seaport_bench.js

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- report (python: JSON in, table out)
report() {  # $1 = dir holding runs.jsonl
  python3 - "$1/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(v): return statistics.median(v) if v else None
def get(r, path):
    for k in path.split('.'):
        if not isinstance(r, dict) or k not in r or r[k] is None: return None
        r = r[k]
    return r
# metric rows: (label, metric key in runs, field path, unit, higher_is_better)
rows = []
for m in sorted({r['metric'] for r in runs if r['metric'].startswith('register')},
                key=lambda m: (m.split('@')[0], int(m.split('@')[1]))):
    rows.append((m + ' reg/s', m, 'per_sec', 'reg/s', True))
    rows.append((m + ' p99', m, 'latency.p99_ms', 'ms', False))
for path, lab in (('notify.p50_ms', 'p50'), ('notify.p99_ms', 'p99'), ('notify.max_ms', 'max'),
                  ('all_notified.p99_ms', 'all-100 p99'), ('write_rpc.p50_ms', 'write p50')):
    rows.append((f'fanout {lab}', 'fanout', path, 'ms', False))
for path, lab, unit in (('per_sec', 'fill reg/s', 'reg/s'), ('rss_before_kb', 'rss before', 'MiB'),
                        ('rss_after_kb', 'rss after', 'MiB'), ('bytes_per_endpoint', 'bytes/endpoint', 'B'),
                        ('db_bytes', 'db on disk', 'MiB')):
    rows.append((lab, 'fill', path, unit, unit == 'reg/s'))
nr = max([r['round'] for r in runs] or [0])
print(f'\n== results over {nr} rounds (medians over rounds; ratio = skyport / seaport, paired per round)')
print(f"{'metric':<28}{'unit':>6}{'skyport':>12}{'seaport':>12}{'ratio':>8}  {'paired (min-max)':<18}{'better':>7}")
for lab, metric, path, unit, hib in rows:
    vals = {}
    for sysname in ('skyport', 'seaport'):
        vals[sysname] = {r['round']: get(r, path) for r in runs
                         if r['metric'] == metric and r['system'] == sysname and 'error' not in r}
        vals[sysname] = {k: v for k, v in vals[sysname].items() if v is not None}
    s, p = med(list(vals['skyport'].values())), med(list(vals['seaport'].values()))
    if s is None and p is None: continue
    pairs = [vals['skyport'][k] / vals['seaport'][k] for k in vals['skyport']
             if k in vals['seaport'] and vals['seaport'][k]]
    ratio = f'{s / p:.2f}' if s is not None and p else 'n/a'
    paired = f'{med(pairs):.2f} ({min(pairs):.2f}-{max(pairs):.2f})' if pairs else 'n/a'
    def show(v):  # MiB rows hold kB (RSS) or bytes (db)
        if v is None: return 'n/a'
        if unit == 'MiB': return f'{v / 1024:.1f}' if path.endswith('_kb') else f'{v / 2**20:.1f}'
        return f'{v:.2f}' if unit == 'ms' else f'{v:,.0f}'
    print(f"{lab:<28}{unit:>6}{show(s):>12}{show(p):>12}{ratio:>8}  {paired:<18}{'higher' if hib else 'lower':>7}")
goal = [get(r, 'notify.p99_ms') for r in runs if r['metric'] == 'fanout' and r['system'] == 'skyport']
goal = [g for g in goal if g is not None]
if goal:
    g = med(goal)
    print(f"\nfan-out goal (skyport p99 < 5 ms on loopback): {'MET' if g < 5 else 'MISSED'} - median p99 {g:.2f} ms "
          f"(per round: {', '.join(f'{x:.2f}' for x in goal)})")
errs = [(r['system'], r['metric'], r['round'], get(r, 'errors.total'), get(r, 'errors.first') or r.get('error'))
        for r in runs if (get(r, 'errors.total') or 0) > 0 or 'error' in r
        or (get(r, 'missing') or 0) > 0 or (get(r, 'stream_drops') or 0) > 0]
print('\nerrors / missing notifications / dropped streams: ' + ('none' if not errs else ''))
for e in errs: print(f'  {e[0]} {e[1]} round {e[2]}: errors={e[3]} first={e[4]!r}')
noisy = [r for r in runs if (r.get('other_cpu_pct') or 0) > r.get('noise_pct', 10)]
print(f"noisy runs kept (other processes > NOISE_PCT of a core): {len(noisy)}/{len(runs)}; "
      f"server log warnings/errors (skyport): {sum(r.get('server_log_warnings', 0) for r in runs if r['system'] == 'skyport')}")
print('notes: skyport register = Allocate+Register (2 RPCs, each durable: group-committed SQLite + fsync);')
print('  register-only = one Register with a client-chosen port; seaport register = one JSON line, port picked by the client,')
print('  confirmed when an observer connection sees the hub broadcast it (no reply, no disk). Fan-out latency = write issued ->')
print('  event read by a watcher (same process clock), over all watcher x change samples; all-100 = until the last watcher.')
PY
}

if [[ -n ${REPORT_FROM:-} ]]; then
  [[ -f $REPORT_FROM/runs.jsonl ]] || die "REPORT_FROM=$REPORT_FROM has no runs.jsonl"
  report "$REPORT_FROM"
  exit 0
fi

# ---------------------------------------------------------------- setup
[[ -x $REGISTRY_BIN ]] || die "$REGISTRY_BIN missing: ninja -C $BUILD skyport-registry registry_bench"
[[ -x $BENCH_BIN ]] || die "$BENCH_BIN missing: ninja -C $BUILD registry_bench"
command -v python3 >/dev/null || die "python3 is needed for the report"
command -v taskset >/dev/null || { log "taskset missing: running unpinned"; PIN=0; }
((PIN == 0)) || (($(nproc) >= 2)) || { log "1 CPU: running unpinned"; PIN=0; }

ensure_seaport() {
  [[ -f $SEAPORT_DIR/node_modules/seaport/package.json ]] && return 0
  command -v npm >/dev/null || return 1
  log "installing npm seaport@$SEAPORT_VERSION into $SEAPORT_DIR"
  mkdir -p "$SEAPORT_DIR"
  [[ -f $SEAPORT_DIR/package.json ]] || printf '{"name":"skyport-bench-node","private":true}\n' >"$SEAPORT_DIR/package.json"
  (cd "$SEAPORT_DIR" && npm install --no-audit --no-fund "seaport@$SEAPORT_VERSION" >/dev/null 2>&1) || return 1
  [[ -f $SEAPORT_DIR/node_modules/seaport/package.json ]]
}
HAVE_SEAPORT=1
ensure_seaport && command -v node >/dev/null || { log "seaport unavailable (node/npm?): measuring skyport alone"; HAVE_SEAPORT=0; }
export SEAPORT_DIR

exec 9>/tmp/run_registry_bench.lock
flock -n 9 || die "another run_registry_bench.sh is running (lock /tmp/run_registry_bench.lock)"

STARTED_PIDS=()
TMP=""
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $KEEP_TMP == 1 ]]; then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TMP=$(mktemp -d "$TMPROOT/registry_bench.XXXXXX")

stop_pid() {  # a pid we started (its own session via setsid); TERM, then KILL after 5 s
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=()
  for i in "${STARTED_PIDS[@]}"; do [[ $i == "$pid" ]] || keep+=("$i"); done
  STARTED_PIDS=("${keep[@]}")
}

PRIO_EXEC=$HERE/prio-exec.sh  # nice (and the session's autogroup) + taskset
cat >"$TMP/augment.py" <<'EOF'
# augment.py TOOL_JSON key=value... -> the tool's JSON plus run facts, one line
import json, sys
try:
    r = json.loads(sys.argv[1])
except ValueError:
    r = {"error": "unparsable output: " + sys.argv[1][:200]}
kv = dict(a.split("=", 1) for a in sys.argv[2:])
r.update(round=int(kv["round"]), metric=kv["metric"], system=kv["system"],
         rss_before_kb=int(kv["rss_before_kb"] or 0), server_log_warnings=int(kv["server_log_warnings"]),
         noise_pct=float(kv["noise_pct"]), wall_s=round(float(kv["wall_s"]), 2))
r["other_cpu_pct"] = round(max(0, int(kv["other_jiffies"])) * 100 / int(kv["hz"]) / max(float(kv["wall_s"]), 0.1), 1)
if r["system"] == "skyport" and r["metric"] == "fill":
    r["db_bytes"] = int(kv["db_bytes"])
if r.get("rss_after_kb") and r.get("registered"):
    r["bytes_per_endpoint"] = (r["rss_after_kb"] - r["rss_before_kb"]) * 1024 / r["registered"]
print(json.dumps(r))
EOF
cat >"$TMP/oneline.py" <<'EOF'
# oneline.py RUN_JSON -> a short progress line
import json, sys
r = json.loads(sys.argv[1])
if "error" in r:
    print("ERROR", str(r["error"])[:300]); sys.exit()
m = r["metric"]
if m == "fanout":
    n = r["notify"]
    s = "notify p50 %.2f p99 %.2f max %.2f ms, missing %d" % (n["p50_ms"], n["p99_ms"], n["max_ms"], r["missing"])
elif m == "fill":
    s = "%d in %.1f s (%.0f/s), rss %s -> %s kB" % (r["registered"], r["seconds"], r["per_sec"], r["rss_before_kb"], r.get("rss_after_kb"))
else:
    s = "%.0f reg/s p99 %.2f ms" % (r["per_sec"], r["latency"].get("p99_ms", 0))
print(s + ", errors %s, other cpu %s%%" % (r.get("errors", {}).get("total"), r["other_cpu_pct"]))
EOF
# pinned CPUS CMD... : execs CMD in its own session, so call it only in a subshell (`&` or $(...));
# the pid the caller sees ($!) is then CMD itself (every wrapper execs).
pinned() { local cpus=$1; shift; [[ $PIN == 1 ]] || cpus=-; exec setsid "$PRIO_EXEC" "$NICE" "$cpus" "$@"; }

# ---------------------------------------------------------------- CPU accounting (noise)
# busy jiffies of the whole machine, and of this shell's waited-for children (every process we
# start is our child and is waited for before the run ends): other = machine - ours.
machine_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
our_children() { awk '{print $16+$17}' /proc/$$/stat; }
HZ=$(getconf CLK_TCK)
wait_quiet() {  # up to QUIET_WAIT_S for the machine to be < NOISE_PCT busy over 1 s
  local i a b
  for ((i = 0; i < QUIET_WAIT_S; i++)); do
    a=$(machine_busy); sleep 1; b=$(machine_busy)
    (((b - a) * 100 / HZ <= NOISE_PCT)) && return 0
  done
  log "machine still busy ($(((b - a) * 100 / HZ))% of a core) after ${QUIET_WAIT_S}s; measuring anyway"
}

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- servers
SERVER_PID=""
REGISTRY_ADDR=""
start_skyport() {
  local d=$TMP/skyport-data
  rm -rf "$d" "$TMP/skyport.port"; mkdir -p "$d"
  pinned "$SERVER_CPUS" "$REGISTRY_BIN" --listen 127.0.0.1:0 --port-file "$TMP/skyport.port" --data "$d" \
    --token-file "$TMP/token" --metrics-listen '' --log-level warn --sync "$SKYPORT_SYNC" >"$TMP/skyport.log" 2>&1 </dev/null 9>&- &
  SERVER_PID=$!; STARTED_PIDS+=("$SERVER_PID")
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $TMP/skyport.port ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "skyport-registry exited: $(tail -5 "$TMP/skyport.log")"
    sleep 0.1
  done
  [[ -s $TMP/skyport.port ]] || die "skyport-registry wrote no port file in 10 s"
  REGISTRY_ADDR=127.0.0.1:$(cat "$TMP/skyport.port")
}
start_seaport() {
  pinned "$SERVER_CPUS" node "$SEAPORT_JS" server --port "$SEAPORT_PORT" >"$TMP/seaport.log" 2>&1 </dev/null 9>&- &
  SERVER_PID=$!; STARTED_PIDS+=("$SERVER_PID")
  local i
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SEAPORT_PORT") 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || die "seaport server exited: $(tail -5 "$TMP/seaport.log")"
    sleep 0.1
  done
  die "seaport did not listen on $SEAPORT_PORT in 10 s"
}

# client SYSTEM ARGS... -> prints the tool's JSON line
client() {
  local sys=$1; shift
  if [[ $sys == skyport ]]; then
    pinned "$LOAD_CPUS" "$BENCH_BIN" --registry "$REGISTRY_ADDR" --token-file "$TMP/token" "$@" 9>&-
  else
    pinned "$LOAD_CPUS" node "$SEAPORT_JS" "$1" --hub "127.0.0.1:$SEAPORT_PORT" "${@:2}" 9>&-
  fi
}

# measure ROUND METRIC SYSTEM -> appends one JSON line to runs.jsonl (+ discarded.jsonl when noisy)
measure() {
  local round=$1 metric=$2 sys=$3 try out extra m0 c0 m1 c1 other rss0=0 dbb=0 warn=0 pid t0 wall o
  for ((try = 0; ; try++)); do
    wait_quiet
    t0=$(date +%s.%N)
    m0=$(machine_busy); c0=$(our_children)
    if [[ $sys == skyport ]]; then start_skyport; else start_seaport; fi
    pid=$SERVER_PID
    sleep 0.5
    rss0=$(rss_kb "$pid")
    case $metric in
      register@*) out=$(client "$sys" register --concurrency "${metric#register@}" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP") || true ;;
      register-only@*) out=$(client "$sys" register --concurrency "${metric#register-only@}" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --explicit-port) || true ;;
      fanout) out=$(client "$sys" fanout --watchers "$WATCHERS" --changes "$CHANGES") || true ;;
      fill) out=$(client "$sys" fill --count "$FILL_COUNT" --concurrency "$FILL_CONC" --server-pid "$pid") || true ;;
    esac
    dbb=0; warn=0
    if [[ $sys == skyport ]]; then
      dbb=$(du -sb "$TMP/skyport-data" | cut -f1)
      warn=$(grep -ciE 'warn|error' "$TMP/skyport.log" || true)
      ((warn == 0)) || { log "skyport log ($metric round $round):"; tail -n 5 "$TMP/skyport.log" >&2; cp "$TMP/skyport.log" "$TMP/skyport-$metric-r$round.log"; }
    fi
    kill -0 "$pid" 2>/dev/null || log "WARNING: $sys server died during $metric round $round: $(tail -3 "$TMP/$sys.log")"
    stop_pid "$pid"
    m1=$(machine_busy); c1=$(our_children)
    other=$(( ((m1 - m0) - (c1 - c0)) ))
    [[ -n $out ]] || out='{"error":"no output"}'
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
    extra=$(python3 "$TMP/augment.py" "$out" round="$round" metric="$metric" system="$sys" rss_before_kb="$rss0" \
      db_bytes="$dbb" server_log_warnings="$warn" other_jiffies="$other" hz="$HZ" wall_s="$wall" noise_pct="$NOISE_PCT")
    o=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["other_cpu_pct"])' "$extra")
    if awk -v o="$o" -v n="$NOISE_PCT" 'BEGIN{exit !(o > n)}' && ((try < RETRY_NOISY)); then
      echo "$extra" >>"$TMP/discarded.jsonl"
      log "round $round $sys $metric: other work used ${o}% of a core - discarding and repeating"
      continue
    fi
    echo "$extra" >>"$TMP/runs.jsonl"
    log "round $round $sys $metric: $(python3 "$TMP/oneline.py" "$extra")"
    break
  done
}

# ---------------------------------------------------------------- main
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$TMP/token"
: >"$TMP/runs.jsonl"; : >"$TMP/discarded.jsonl"
METRICS=()
for c in $CONCURRENCY; do METRICS+=("register@$c"); done
if [[ $REGISTER_ONLY == 1 ]]; then for c in $CONCURRENCY; do METRICS+=("register-only@$c"); done; fi
METRICS+=(fanout fill)
[[ -n $ONLY ]] && read -r -a METRICS <<<"$ONLY"

echo "== run_registry_bench $(date -u +%FT%TZ) on $(hostname)"
echo "machine: nproc=$(nproc) cpu='$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)' kernel=$(uname -r) load=$(cut -d' ' -f1-3 /proc/loadavg)"
echo "data dir: $TMP on $(df -T "$TMP" | awk 'NR==2{print $2" ("$1")"}') - skyport --sync $SKYPORT_SYNC (full: SQLite WAL fsync per batch)"
echo "versions: skyport-registry $REGISTRY_BIN (built $(date -r "$REGISTRY_BIN" +%FT%T)), node $(node --version 2>/dev/null || echo none), seaport $( ((HAVE_SEAPORT)) && node -p "require('$SEAPORT_DIR/node_modules/seaport/package.json').version" || echo none)"
echo "layout: servers pinned to cpu $SERVER_CPUS, load generators to cpu $LOAD_CPUS (PIN=$PIN), nice $NICE; $ROUNDS rounds, fresh server per run"
echo "runs: register ${SECONDS_PER_RUN}s (+${WARMUP}s warm-up) at concurrency {$CONCURRENCY}; fanout $WATCHERS watchers x $CHANGES changes; fill $FILL_COUNT with $FILL_CONC clients"

SYSTEMS=(skyport); ((HAVE_SEAPORT)) && SYSTEMS+=(seaport)
for ((r = 1; r <= ROUNDS; r++)); do
  for metric in "${METRICS[@]}"; do
    order=("${SYSTEMS[@]}")
    ((r % 2 == 0 && ${#SYSTEMS[@]} == 2)) && order=(seaport skyport)
    for sys in "${order[@]}"; do
      [[ $sys == seaport && $metric == register-only@* ]] && continue  # seaport's register is already that
      measure "$r" "$metric" "$sys"
    done
  done
done

report "$TMP" | tee "$TMP/summary.txt"
if [[ -n $OUT_DIR ]]; then
  mkdir -p "$OUT_DIR"
  cp "$TMP/runs.jsonl" "$TMP/discarded.jsonl" "$TMP/summary.txt" "$OUT_DIR/"
  cp "$TMP"/skyport-*-r*.log "$OUT_DIR/" 2>/dev/null || true
  log "raw results copied to $OUT_DIR"
fi
