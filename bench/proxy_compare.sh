#!/usr/bin/env bash
# proxy_compare.sh - side-by-side loopback benchmark of HTTP/1.1 reverse proxies
# that split traffic 90/10 between two backend versions (A and B).
#
# (Copied unchanged from the shared bench kit so the repo is self-contained;
#  bench/run_router_bench.sh drives it with skyport-router as the candidate.)
#
# Proxies under test (all pinned to the same CPU set, 1 worker process/thread):
#   direct    - wrk straight at backend A (the ceiling, no proxy)
#   nginx     - split_clients 90/10 + sticky cookie emulation, keepalive upstreams
#   haproxy   - weighted roundrobin 90/10, cookie insert, http-reuse always
#   bouncy    - npm "bouncy" (the original JavaScript peer), weighted per connection
#   candidate - anything you start with CANDIDATE_CMD listening on CANDIDATE_PORT
#
# Usage:
#   bash proxy_compare.sh
#   CANDIDATE_NAME=router CANDIDATE_PORT=18501 \
#   CANDIDATE_CMD='/path/to/router --listen 127.0.0.1:$CANDIDATE_PORT \
#       --backend-a $BENCH_BACKEND_A --backend-b $BENCH_BACKEND_B --weight-a $BENCH_WEIGHT_A' \
#     bash proxy_compare.sh
#   (single-quote CANDIDATE_CMD: it is run by bash -c with these variables exported:
#    CANDIDATE_PORT, BENCH_BACKEND_A / _B (127.0.0.1:PORT), BENCH_BACKEND_A_PORT / _B_PORT,
#    BENCH_WEIGHT_A / _B, BENCH_WORKERS (=1), BENCH_TMP (a scratch dir you may write to).)
#
# Knobs (environment): ROUNDS=5 DURATION=10s WARMUP=2s CONNS=64 THREADS=1
#   PROXIES="direct nginx haproxy bouncy candidate"  (order inside a round)
#   PIN=1 LOAD_CPUS=0 PROXY_CPUS=1   (taskset layout; PIN=0 lets the scheduler decide)
#   WEIGHT_A=90 BODY_BYTES=32 SPLIT_TOL_PP=2 BOUNCY_DIR=~/.cache/proxy-compare-node
#   CANDIDATE_READY_S=15 OUT_DIR=<dir to keep raw runs.tsv + summary.txt> KEEP_TMP=0
#   QUIET_WAIT_S=60 (wait up to this long for other CPU work on the machine to stop first)
#   NICE=-10 (as root; priority of every benchmark process, to shrink the effect of other work)
#   NOISE_PCT=10 RETRY_NOISY=2 (a run during which other processes used > NOISE_PCT% of a core
#   is discarded and repeated up to RETRY_NOISY times)
#   REPORT_FROM=<OUT_DIR of an earlier run>  re-prints its report and starts nothing
#
# Read results as ratios within one run (paired per-round ratio, CPU us/request); on this
# 2-vCPU VM absolute req/s drift 15-35% between rounds. On a 2-core VM nginx and HAProxy
# measure alike (within 5%), direct is about 1.5x nginx and bouncy about 0.45x.
#
# Safety: binds only 127.0.0.1, ports 18101-18499 (+ CANDIDATE_PORT), temp files in a
# mktemp dir, and kills only the process groups it started itself (trap on exit).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
PIN=${PIN:-1}
LOAD_CPUS=${LOAD_CPUS:-0}
PROXY_CPUS=${PROXY_CPUS:-1}
WEIGHT_A=${WEIGHT_A:-90}
WEIGHT_B=$((100 - WEIGHT_A))
BODY_BYTES=${BODY_BYTES:-32}
SPLIT_TOL_PP=${SPLIT_TOL_PP:-2}
BOUNCY_DIR=${BOUNCY_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/proxy-compare-node}
CANDIDATE_NAME=${CANDIDATE_NAME:-candidate}
CANDIDATE_READY_S=${CANDIDATE_READY_S:-15}
KEEP_TMP=${KEEP_TMP:-0}
OUT_DIR=${OUT_DIR:-}
QUIET_WAIT_S=${QUIET_WAIT_S:-60}
NOISE_PCT=${NOISE_PCT:-10}
RETRY_NOISY=${RETRY_NOISY:-2}
HZ=100
NICE=${NICE:-$([[ $(id -u) -eq 0 ]] && echo -10 || echo 0)}

PORT_A=18101
PORT_B=18102
PORT_NGINX=18201
PORT_HAPROXY=18301
PORT_BOUNCY=18401

if [[ -n "${CANDIDATE_CMD:-}" ]]; then
  : "${CANDIDATE_PORT:?CANDIDATE_CMD is set, so CANDIDATE_PORT must be set too}"
  DEFAULT_PROXIES="direct nginx haproxy bouncy candidate"
else
  DEFAULT_PROXIES="direct nginx haproxy bouncy"
fi
PROXIES=${PROXIES:-$DEFAULT_PROXIES}

STATE_FILE=/tmp/proxy_compare.state   # "pid starttime" of groups we started (crash recovery)

log()  { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- install if missing
ensure_debian_pkgs() {
  local missing=() cmd pkg
  for pair in nginx:nginx haproxy:haproxy wrk:wrk taskset:util-linux curl:curl ss:iproute2; do
    cmd=${pair%%:*}; pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing missing Debian packages: ${missing[*]}"
    [[ $(id -u) -eq 0 ]] || die "need root to apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1 || {
      apt-get update >/dev/null 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
    }
  fi
}

ensure_bouncy() {
  [[ -f "$BOUNCY_DIR/node_modules/bouncy/index.js" ]] && return 0
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  log "installing npm package bouncy into $BOUNCY_DIR"
  mkdir -p "$BOUNCY_DIR"
  [[ -f "$BOUNCY_DIR/package.json" ]] || printf '{"name":"bench-node","private":true}\n' >"$BOUNCY_DIR/package.json"
  (cd "$BOUNCY_DIR" && npm install --no-audit --no-fund bouncy@3 >/dev/null 2>&1) || return 1
  [[ -f "$BOUNCY_DIR/node_modules/bouncy/index.js" ]]
}

# ---------------------------------------------------------------- process control
STARTED_PIDS=()
TMP=""

proc_starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

kill_group() {  # $1 = pid that is also the pgid of a group we started
  local pid=$1 i
  kill -0 -- "-$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

reap_stale() {  # groups (and the temp dir) left by an earlier run of this script that was SIGKILLed
  [[ -f $STATE_FILE ]] || return 0
  local pid st live=()
  while read -r pid st; do
    if [[ $pid == tmpdir ]]; then
      [[ $st == /tmp/proxy_compare.* && -d $st ]] && rm -rf "$st"
      continue
    fi
    [[ -n $pid && -d /proc/$pid && "$(proc_starttime "$pid")" == "$st" ]] || continue
    log "killing leftover process group $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-60)) from an earlier run"
    kill -TERM -- "-$pid" 2>/dev/null || true
    live+=("$pid")
  done <"$STATE_FILE"
  if ((${#live[@]})); then
    sleep 1
    for pid in "${live[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  fi
  rm -f "$STATE_FILE"
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${STARTED_PIDS[@]}"; do kill_group "$pid"; done
  rm -f "$STATE_FILE"
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $KEEP_TMP == 1 ]]; then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}

port_busy() { [[ -n "$(ss -ltnH "sport = :$1" 2>/dev/null)" ]]; }

write_prio_exec() {  # wrapper: own session (setsid by the caller) + autogroup nice + nice + taskset
  # The kernel here groups CPU time by session ("autogroup"), so plain nice would not beat
  # other sessions' work; the session's autogroup gets the same nice value.
  cat >"$TMP/prio-exec.sh" <<'EOF'
#!/usr/bin/env bash
n=$1 cpus=$2; shift 2
[[ -w /proc/self/autogroup ]] && echo "$n" >/proc/self/autogroup 2>/dev/null
if [[ $cpus == - ]]; then exec nice -n "$n" "$@"; else exec nice -n "$n" taskset -c "$cpus" "$@"; fi
EOF
  chmod +x "$TMP/prio-exec.sh"
}

pinned() {  # $1 = cpu list, rest = command; runs it in its own session at priority NICE, pinned when PIN=1
  local cpus=$1; shift
  [[ $PIN == 1 ]] || cpus=-
  setsid "$TMP/prio-exec.sh" "$NICE" "$cpus" "$@"
}

# start NAME CPUS PORT LOGFILE cmd...   -> sets LAST_PID (also its pgid, via setsid)
start_server() {
  local name=$1 cpus=$2 port=$3 logf=$4; shift 4
  port_busy "$port" && die "port $port ($name) is already in use by something this script did not start: $(ss -ltnpH "sport = :$port" | head -1)"
  [[ $PIN == 1 ]] || cpus=-
  setsid "$TMP/prio-exec.sh" "$NICE" "$cpus" "$@" >"$logf" 2>&1 </dev/null 9>&- &
  LAST_PID=$!
  STARTED_PIDS+=("$LAST_PID")
  sleep 0.05
  echo "$LAST_PID $(proc_starttime "$LAST_PID")" >>"$STATE_FILE"
}

wait_port() {  # $1 name $2 port $3 pid $4 timeout-s
  local name=$1 port=$2 pid=$3 t=$4 i
  for ((i = 0; i < t * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { log "$name exited before listening on $port"; return 1; }
    sleep 0.1
  done
  log "$name did not listen on 127.0.0.1:$port within ${t}s"
  return 1
}

# ---------------------------------------------------------------- configs
write_backend_conf() {  # $1 = A|B, $2 = port
  local v=$1 port=$2 body
  body="version $v $(head -c "$BODY_BYTES" /dev/zero | tr '\0' 'x')"
  body=${body:0:$BODY_BYTES}
  cat >"$TMP/backend-$v.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $TMP/backend-$v.pid;
error_log $TMP/backend-$v.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$port backlog=4096;
    location = /__stub { stub_status; }
    location / {
      add_header X-Backend-Version $v always;
      return 200 "$body\n";
    }
  }
}
EOF
}

write_nginx_conf() {
  cat >"$TMP/nginx-proxy.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $TMP/nginx-proxy.pid;
error_log $TMP/nginx-proxy.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream ver_a { server 127.0.0.1:$PORT_A; keepalive 128; keepalive_requests 10000000; }
  upstream ver_b { server 127.0.0.1:$PORT_B; keepalive 128; keepalive_requests 10000000; }
  # new client: random $WEIGHT_A/$WEIGHT_B split; returning client: follow cookie rv
  split_clients "\${request_id}" \$rv_new { $WEIGHT_A% a; * b; }
  map \$cookie_rv \$rv { a a; b b; default \$rv_new; }
  map \$cookie_rv \$rv_set_cookie { a ""; b ""; default "rv=\$rv_new; Path=/"; }
  server {
    listen 127.0.0.1:$PORT_NGINX backlog=4096;
    location / {
      proxy_pass http://ver_\$rv;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      add_header Set-Cookie \$rv_set_cookie;
    }
  }
}
EOF
}

write_haproxy_conf() {
  cat >"$TMP/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
frontend fe
  bind 127.0.0.1:$PORT_HAPROXY
  default_backend be
backend be
  balance roundrobin
  cookie rv insert indirect
  server a 127.0.0.1:$PORT_A weight $WEIGHT_A cookie a
  server b 127.0.0.1:$PORT_B weight $WEIGHT_B cookie b
EOF
}

write_bouncy_js() {
  cat >"$TMP/bouncy-split.js" <<'EOF'
// bouncy routes a whole client connection by its first request (it pipes raw bytes),
// so the split is per connection, not per request. A cookie rv=a|b is honoured.
const bouncy = require(process.env.BOUNCY_DIR + '/node_modules/bouncy');
const A = +process.env.BENCH_BACKEND_A_PORT, B = +process.env.BENCH_BACKEND_B_PORT;
const WA = +process.env.BENCH_WEIGHT_A;
const server = bouncy(function (req, res, bounce) {
  const m = /(?:^|;\s*)rv=(a|b)\b/.exec(req.headers.cookie || '');
  const v = m ? m[1] : (Math.random() * 100 < WA ? 'a' : 'b');
  bounce(v === 'a' ? A : B, { host: '127.0.0.1' });
});
server.listen(+process.env.LISTEN_PORT, '127.0.0.1');
EOF
}

write_wrk_lua() {
  cat >"$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKSTAT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
EOF
}

# ---------------------------------------------------------------- measurement helpers
stub_requests() {  # requests counter of a backend nginx instance
  local n
  n=$(curl -s --max-time 2 "http://127.0.0.1:$1/__stub" | awk 'NR==3{print $3}')
  echo "${n:-0}"
}


cpu_busy_ticks() {  # "busy total" ticks summed over a cpu list like 1 or 0,2-3 ($1); busy includes
  # irq/softirq (tick accounting charges those to the interrupted process too) and steal
  local list=$1 part cpus=""
  for part in ${list//,/ }; do
    if [[ $part == *-* ]]; then cpus+=" $(seq -s ' ' "${part%-*}" "${part#*-}")"; else cpus+=" $part"; fi
  done
  awk -v cpus=" $cpus " '$1 ~ /^cpu[0-9]+$/ && index(cpus, " " substr($1, 4) " ") {
      b += $2 + $3 + $4 + $7 + $8 + $9; t += $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }
    END { print b + 0, t + 0 }' /proc/stat
}

machine_busy_pct() {  # busy % of all cores over $1 seconds (what else is running)
  local b0 t0 b1 t1
  read -r b0 t0 < <(awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6 + $9 }' /proc/stat)
  sleep "$1"
  read -r b1 t1 < <(awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6 + $9 }' /proc/stat)
  echo $(( t1 > t0 ? 100 * (b1 - b0) / (t1 - t0) : 0 ))
}

QUIET_BG=0
wait_quiet() {  # wait up to QUIET_WAIT_S for other work to stop; sets QUIET_BG = last busy % (all cores)
  local waited=0
  QUIET_BG=$(machine_busy_pct 2)
  while ((QUIET_BG > NOISE_PCT && waited < QUIET_WAIT_S)); do
    log "machine ${QUIET_BG}% busy with other work; waiting for quiet (${waited}/${QUIET_WAIT_S}s)"
    sleep 3; waited=$((waited + 5)); QUIET_BG=$(machine_busy_pct 2)
  done
}

port_of() {
  case $1 in
    direct) echo $PORT_A ;; nginx) echo $PORT_NGINX ;; haproxy) echo $PORT_HAPROXY ;;
    bouncy) echo $PORT_BOUNCY ;; candidate) echo "$CANDIDATE_PORT" ;;
  esac
}
label_of() { if [[ $1 == candidate ]]; then echo "$CANDIDATE_NAME"; else echo "$1"; fi; }

declare -A PGID_OF=()

smoke_test() {  # $1 proxy key -> appends "key label status version sticky" to smoke.tsv
  local p=$1 port code first_ver sticky i v jar="$TMP/jar-$1" hdr="$TMP/hdr-$1"
  port=$(port_of "$p")
  rm -f "$jar"
  code=$(curl -s -o "$TMP/body-$p" -D "$hdr" -c "$jar" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/") || code=000
  first_ver=$(awk -F': *' 'tolower($1)=="x-backend-version"{gsub(/\r/,"",$2); print $2}' "$hdr" 2>/dev/null)
  if [[ $p == direct ]]; then sticky="n/a"
  elif ! grep -qi '^set-cookie:' "$hdr" 2>/dev/null; then sticky="no Set-Cookie"
  else
    sticky=yes
    for i in 1 2 3 4 5 6 7 8 9 10; do
      v=$(curl -s -o /dev/null -D - -b "$jar" --max-time 5 "http://127.0.0.1:$port/" |
        awk -F': *' 'tolower($1)=="x-backend-version"{gsub(/\r/,"",$2); print $2}')
      [[ $v == "$first_ver" ]] || { sticky="NO (got $v after $first_ver)"; break; }
    done
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$p" "$(label_of "$p")" "$code" "${first_ver:-?}" "$sticky" >>"$TMP/smoke.tsv"
}


OUR_PGIDS=""
BACKEND_PGIDS=""
our_cpu_ticks() {  # "proxy_group all_our_groups backends" utime+stime ticks; $1 = proxy pgid or 0
  cat /proc/[0-9]*/stat 2>/dev/null |
    awk -v pg="$1" -v pgs=",$OUR_PGIDS," -v bes=",$BACKEND_PGIDS," '{ sub(/^.*\) /, "")
        if ($3 == pg) t += $12 + $13
        if (index(pgs, "," $3 ",")) all += $12 + $13
        if (index(bes, "," $3 ",")) be += $12 + $13 }
      END { print t + 0, all + 0, be + 0 }'
}
sys_proc_ticks() {  # user+nice+system+irq+softirq+steal over all cores; with tick-based accounting
  # (this kernel) irq/softirq ticks are also charged to the interrupted process, so include them
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
times_children_ticks() {  # $1 = file holding the output of the bash builtin `times`; prints children CPU in ticks
  awk -v hz="$HZ" 'NR == 2 { n = split($0, a, " "); t = 0
      for (i = 1; i <= n; i++) { split(a[i], ms, "m"); sub(/s$/, "", ms[2]); t += ms[1] * 60 + ms[2] }
      printf "%d\n", t * hz }' "$1"
}

measure_one() {  # $1 proxy key, $2 round -> appends one line to runs.tsv
  local p=$1 r=$2 port pg wrk_out line a0 a1 b0 b1 g0 g1 o0 o1 e0 e1 other oP oL c0 c0t c1 c1t l0 l0t l1 l1t s0 s1 w0 w1
  port=$(port_of "$p")
  pg=$([[ $p == direct ]] && echo 0 || echo "${PGID_OF[$p]}")
  pinned "$LOAD_CPUS" wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "http://127.0.0.1:$port/" >/dev/null 2>&1 9>&- || true
  a0=$(stub_requests $PORT_A); b0=$(stub_requests $PORT_B)
  read -r g0 o0 e0 < <(our_cpu_ticks "$pg")
  read -r c0 c0t < <(cpu_busy_ticks "$PROXY_CPUS")
  read -r l0 l0t < <(cpu_busy_ticks "$LOAD_CPUS")
  s0=$(sys_proc_ticks)
  times >"$TMP/times0"   # builtin, must run in this shell (not in $(...)) to see wrk's CPU afterwards
  wrk_out=$(pinned "$LOAD_CPUS" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$TMP/report.lua" "http://127.0.0.1:$port/" 2>&1 9>&-) || true
  times >"$TMP/times1"
  s1=$(sys_proc_ticks)
  w0=$(times_children_ticks "$TMP/times0"); w1=$(times_children_ticks "$TMP/times1")
  read -r g1 o1 e1 < <(our_cpu_ticks "$pg")
  read -r c1 c1t < <(cpu_busy_ticks "$PROXY_CPUS")
  read -r l1 l1t < <(cpu_busy_ticks "$LOAD_CPUS")
  a1=$(stub_requests $PORT_A); b1=$(stub_requests $PORT_B)
  echo "$wrk_out" >>"$TMP/wrk-$p.txt"
  line=$(grep '^WRKSTAT' <<<"$wrk_out" || true)
  if [[ -z $line ]]; then
    log "round $r $(label_of "$p"): wrk produced no result: $(tail -3 <<<"$wrk_out")"
    printf '%s\t%d\tNA\tNA\tNA\tNA\t0\t0\t0\t0\t0\tNA\tNA\tNA\tNA\tNA\n' "$p" "$r" >>"$TMP/runs.tsv"
    return 0
  fi
  # CPU used by other processes during the run, in ticks. With pinning, per core: proxy core minus
  # our proxies, load core minus backends and wrk. Both cores count even for the direct run: other
  # work on the idle proxy core was seen to cut direct req/s by a third (shared host resources).
  if [[ $PIN == 1 ]]; then
    oP=$(( (c1 - c0) - ((o1 - o0) - (e1 - e0)) )); ((oP > 0)) || oP=0
    oL=$(( (l1 - l0) - (e1 - e0) - (w1 - w0) )); ((oL > 0)) || oL=0
    other=$((oP + oL))
  else
    other=$(( (s1 - s0) - (o1 - o0) - (w1 - w0) ))
  fi
  awk -v p="$p" -v r="$r" -v ha=$((a1 - a0 - 1)) -v hb=$((b1 - b0 - 1)) \
      -v g=$((g1 - g0)) -v hz="$HZ" -v cb=$((c1 - c0)) -v ct=$((c1t - c0t)) \
      -v lb=$((l1 - l0)) -v lt=$((l1t - l0t)) -v other="$other" \
      -v direct="$([[ $p == direct ]] && echo 1 || echo 0)" '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); s[kv[1]] = kv[2] } }
    END {
      secs = s["duration_us"] / 1e6
      rps = s["requests"] / secs
      sock = s["connect"] + s["read"] + s["write"] + s["timeout"]
      pcpu = direct ? "NA" : sprintf("%.1f", 100 * g / hz / secs)
      pusr = (direct || !s["requests"]) ? "NA" : sprintf("%.2f", 1e6 * g / hz / s["requests"])
      oth = 100 * other / hz / secs; if (oth < 0) oth = 0
      printf "%s\t%d\t%.1f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.1f\t%.1f\t%s\t%.1f\n", p, r, rps,
        s["p50_us"], s["p99_us"], s["max_us"], s["requests"], s["status"], sock, ha, hb,
        pcpu, (ct ? 100 * cb / ct : 0), (lt ? 100 * lb / lt : 0), pusr, oth
    }' <<<"$line" >>"$TMP/runs.tsv"
  log "round $r/$ROUNDS $(label_of "$p"): $(tail -1 "$TMP/runs.tsv" | awk -F'\t' '{printf "%.0f req/s  p50 %.2fms  p99 %.2fms  err %d/%d  proxy-cpu %s%%  other-cpu %s%%%s", $3, $4/1000, $5/1000, $8, $9, $12, $16, ($16 > 10 ? "  (NOISY: other work was running)" : "")}')"
}

# ---------------------------------------------------------------- main
main() {
  [[ $(id -u) -eq 0 ]] || log "warning: not root; apt-get installs will fail if anything is missing"
  ensure_debian_pkgs
  exec 9>/tmp/proxy_compare.lock
  flock -n 9 || die "another proxy_compare.sh is running (lock /tmp/proxy_compare.lock); not touching it"
  reap_stale
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  TMP=$(mktemp -d /tmp/proxy_compare.XXXXXX)
  [[ $KEEP_TMP == 1 ]] || echo "tmpdir $TMP" >>"$STATE_FILE"
  export BENCH_TMP=$TMP

  local want_bouncy=0 p
  for p in $PROXIES; do
    case $p in
      direct|nginx|haproxy) ;;
      bouncy) want_bouncy=1 ;;
      candidate) [[ -n "${CANDIDATE_CMD:-}" ]] || die "PROXIES names candidate but CANDIDATE_CMD is empty" ;;
      *) die "unknown proxy '$p' in PROXIES" ;;
    esac
  done
  if ((want_bouncy)) && ! ensure_bouncy; then
    log "bouncy unavailable (npm install failed?) - skipping it"
    PROXIES=$(echo " $PROXIES " | sed 's/ bouncy / /; s/^ //; s/ $//')
  fi

  export BENCH_BACKEND_A="127.0.0.1:$PORT_A" BENCH_BACKEND_B="127.0.0.1:$PORT_B"
  export BENCH_BACKEND_A_PORT=$PORT_A BENCH_BACKEND_B_PORT=$PORT_B
  export BENCH_WEIGHT_A=$WEIGHT_A BENCH_WEIGHT_B=$WEIGHT_B BENCH_WORKERS=1 BOUNCY_DIR
  [[ -n "${CANDIDATE_PORT:-}" ]] && export CANDIDATE_PORT

  write_backend_conf A $PORT_A; write_backend_conf B $PORT_B
  write_nginx_conf; write_haproxy_conf; write_wrk_lua; write_prio_exec
  nginx -t -q -c "$TMP/nginx-proxy.conf" -p "$TMP/" 2>"$TMP/nginx-t.err" || { cat "$TMP/nginx-t.err" >&2; die "nginx proxy config invalid"; }
  haproxy -c -q -f "$TMP/haproxy.cfg" || die "haproxy config invalid"

  # machine facts + settings
  local cpu_model
  cpu_model=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
  echo "== proxy_compare $(date -u +%FT%TZ) on $(hostname)"
  echo "machine: nproc=$(nproc) cpu='$cpu_model' kernel=$(uname -r) load=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "versions: $(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v | head -1 | awk '{print "haproxy/"$3}'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk/"$2}'), node/$(node --version 2>/dev/null || echo none)"
  echo "load: wrk -t$THREADS -c$CONNS -d$DURATION --latency (warm-up $WARMUP before every run), $ROUNDS rounds, order per round: $PROXIES"
  if [[ $PIN == 1 ]]; then
    echo "cpu budget: every proxy pinned with taskset to cpu $PROXY_CPUS and given 1 worker (nginx worker_processes 1, haproxy nbthread 1, node single thread, candidate BENCH_WORKERS=1); wrk + both backends pinned to cpu $LOAD_CPUS"
  else
    echo "cpu budget: every proxy 1 worker process/thread; no pinning (PIN=0), wrk/backends/proxy share all $(nproc) cores"
  fi
  echo "priority: every benchmark process (servers, proxies, wrk) runs at nice $NICE in its own session with autogroup nice $NICE$( ((NICE < 0)) && echo ' (other work on the machine gets a smaller CPU share during runs)')"
  echo "backends: 2 x nginx (1 worker each), A=127.0.0.1:$PORT_A B=127.0.0.1:$PORT_B, fixed ${BODY_BYTES}-byte 200 body; split target $WEIGHT_A/$WEIGHT_B"

  # start backends
  start_server backend-A "$LOAD_CPUS" $PORT_A "$TMP/backend-A.log" nginx -c "$TMP/backend-A.conf" -p "$TMP/"
  BACKEND_PGIDS=$LAST_PID
  wait_port backend-A $PORT_A "$LAST_PID" 10 || die "backend A failed: $(cat "$TMP/backend-A.log" "$TMP/backend-A.err" 2>/dev/null)"
  start_server backend-B "$LOAD_CPUS" $PORT_B "$TMP/backend-B.log" nginx -c "$TMP/backend-B.conf" -p "$TMP/"
  BACKEND_PGIDS+=",$LAST_PID"
  wait_port backend-B $PORT_B "$LAST_PID" 10 || die "backend B failed: $(cat "$TMP/backend-B.log" "$TMP/backend-B.err" 2>/dev/null)"

  # start proxies
  local active=() ok
  for p in $PROXIES; do
    ok=1
    case $p in
      direct) ;;
      nginx)
        start_server nginx "$PROXY_CPUS" $PORT_NGINX "$TMP/nginx.log" nginx -c "$TMP/nginx-proxy.conf" -p "$TMP/"
        wait_port nginx $PORT_NGINX "$LAST_PID" 10 || ok=0 ;;
      haproxy)
        start_server haproxy "$PROXY_CPUS" $PORT_HAPROXY "$TMP/haproxy.log" haproxy -db -f "$TMP/haproxy.cfg"
        wait_port haproxy $PORT_HAPROXY "$LAST_PID" 10 || ok=0 ;;
      bouncy)
        write_bouncy_js
        export LISTEN_PORT=$PORT_BOUNCY
        start_server bouncy "$PROXY_CPUS" $PORT_BOUNCY "$TMP/bouncy.log" node "$TMP/bouncy-split.js"
        wait_port bouncy $PORT_BOUNCY "$LAST_PID" 10 || ok=0 ;;
      candidate)
        start_server "$CANDIDATE_NAME" "$PROXY_CPUS" "$CANDIDATE_PORT" "$TMP/candidate.log" bash -c "$CANDIDATE_CMD"
        wait_port "$CANDIDATE_NAME" "$CANDIDATE_PORT" "$LAST_PID" "$CANDIDATE_READY_S" || ok=0
        if ((ok)) && ss -ltnH "sport = :$CANDIDATE_PORT" | awk '{print $4}' | grep -qv '^127\.0\.0\.1:'; then
          log "WARNING: $CANDIDATE_NAME listens on $(ss -ltnH "sport = :$CANDIDATE_PORT" | awk '{print $4}' | tr '\n' ' ')- make it bind 127.0.0.1 only"
        fi ;;
    esac
    [[ $p == direct ]] || PGID_OF[$p]=$LAST_PID
    if ((ok)); then active+=("$p"); else
      log "$(label_of "$p") failed to start; log tail:"; tail -n 20 "$TMP/$( [[ $p == candidate ]] && echo candidate || echo "$p").log" >&2 || true
      FAILED+=("$p")
    fi
  done
  ((${#active[@]})) || die "nothing to measure"
  OUR_PGIDS=$(IFS=,; echo "${STARTED_PIDS[*]}")
  HZ=$(getconf CLK_TCK)

  # smoke test: status, which version answered, cookie stickiness
  for p in "${active[@]}"; do smoke_test "$p"; done

  # wait (bounded) for the machine to be quiet before measuring
  local bg
  wait_quiet; bg=$QUIET_BG
  echo "background: all cores ${bg}% busy over 2 s before the first run (servers idle)$( ((bg > NOISE_PCT)) && echo ' - WARNING: something else is using CPU; results will be noisy')"

  # rounds: A B C A B C ...; a run during which other processes used > NOISE_PCT% of a core
  # is set aside (discarded.tsv) and repeated up to RETRY_NOISY times after waiting for quiet
  local r try oth
  : >"$TMP/discarded.tsv"
  printf 'proxy\tround\trps\tp50_us\tp99_us\tmax_us\trequests\tstatus_err\tsock_err\thits_a\thits_b\tproxy_cpu_pct\tproxy_core_busy_pct\tload_core_busy_pct\tproxy_cpu_us_per_req\tother_cpu_pct\n' >"$TMP/runs.tsv"
  for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${active[@]}"; do
      for ((try = 0; ; try++)); do
        measure_one "$p" "$r"
        oth=$(tail -1 "$TMP/runs.tsv" | cut -f16)
        [[ $oth != NA ]] && awk -v o="$oth" -v n="$NOISE_PCT" 'BEGIN { exit !(o > n) }' || break
        ((try < RETRY_NOISY)) || break
        tail -1 "$TMP/runs.tsv" >>"$TMP/discarded.tsv"; sed -i '$d' "$TMP/runs.tsv"
        log "round $r $(label_of "$p"): other work used ${oth}% of a core - discarding and repeating this run"
        wait_quiet
      done
    done
  done

  bg=$(machine_busy_pct 2)
  echo "background: all cores ${bg}% busy over 2 s after the last run$( ((bg > NOISE_PCT)) && echo ' - WARNING: something else is using CPU; results may be noisy')"
  report "$TMP" | tee "$TMP/summary.txt"
  if [[ -n $OUT_DIR ]]; then
    mkdir -p "$OUT_DIR"
    cp "$TMP/runs.tsv" "$TMP/smoke.tsv" "$TMP/discarded.tsv" "$TMP/summary.txt" "$OUT_DIR/"
    for p in "${active[@]}"; do cp "$TMP/wrk-$p.txt" "$OUT_DIR/" 2>/dev/null || true; done
    log "raw results copied to $OUT_DIR"
  fi
  ((${#FAILED[@]} == 0)) || { log "failed to start: ${FAILED[*]}"; return 2; }
}

FAILED=()

report() {  # $1 = dir holding runs.tsv and smoke.tsv
  local dir=$1 nrounds
  nrounds=$(awk -F'\t' 'FNR > 1 && $3 != "NA" && $2 > m { m = $2 } END { print m + 0 }' "$dir/runs.tsv")
  echo
  echo "== results over $nrounds rounds (medians; ratio = proxy / nginx: req/s higher is better, latency and CPU per request lower is better)"
  awk -F'\t' -v wa="$WEIGHT_A" -v tol="$SPLIT_TOL_PP" -v noise="$NOISE_PCT" '
    function median(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function med(arr, p, cnt,   i, tmp) { for (i = 1; i <= cnt; i++) tmp[i] = arr[p, i]; return median(tmp, cnt) }
    function mmin(arr, p, cnt,   i, m) { m = arr[p, 1]; for (i = 2; i <= cnt; i++) if (arr[p, i] < m) m = arr[p, i]; return m }
    function mmax(arr, p, cnt,   i, m) { m = arr[p, 1]; for (i = 2; i <= cnt; i++) if (arr[p, i] > m) m = arr[p, i]; return m }
    FILENAME ~ /smoke\.tsv$/ { lab[$1] = $2; code[$1] = $3; ver[$1] = $4; sticky[$1] = $5; next }
    FNR == 1 { next }
    {
      p = $1; if (!(p in seen)) { seen[p] = 1; order[++np] = p }
      if ($3 == "NA") { failed[p]++; next }
      k = ++n[p]; rnd[p, k] = $2
      rps[p, k] = $3; p50[p, k] = $4; p99[p, k] = $5
      req[p] += $7; st[p] += $8; so[p] += $9; ha[p] += $10; hb[p] += $11
      if ($12 != "NA") { nc[p]++; cpu[p, nc[p]] = $12; usr[p, nc[p]] = $15 }
      pc[p, k] = $13; lc[p, k] = $14; lcap[p, k] = ($14 > 0) ? $3 / ($14 / 100) : 0
      if ($16 + 0 > noise) noisy[p]++
      if (p == "nginx") { ngx_rps[$2] = $3; ngx_us[$2] = $15 }
    }
    END {
      # paired per-round ratios against nginx of the same round
      for (i = 1; i <= np; i++) {
        p = order[i]
        for (k = 1; k <= n[p]; k++) {
          r = rnd[p, k]
          if (r in ngx_rps && ngx_rps[r] > 0) { pr[p, ++npr[p]] = rps[p, k] / ngx_rps[r] }
        }
      }
      for (i = 1; i <= np; i++) {
        p = order[i]; c = 0
        for (k = 1; k <= n[p]; k++) {
          r = rnd[p, k]
          if (p != "direct" && (r in ngx_us) && ngx_us[r] > 0 && k <= nc[p]) { pu[p, ++npu[p]] = usr[p, k] / ngx_us[r] }
        }
      }
      if (n["nginx"]) { nr = med(rps, "nginx", n["nginx"]); n50 = med(p50, "nginx", n["nginx"]); n99 = med(p99, "nginx", n["nginx"]) }
      printf "%-12s %3s %8s %8s %8s %5s %7s %7s %7s %7s %7s %-19s %7s %7s %5s\n",
        "proxy", "n", "req/s", "min", "max", "sprd%", "p50ms", "p99ms", "non2xx*", "sockerr", "rps/ngx", "paired (min-max)", "p50/ngx", "p99/ngx", "noisy"
      for (i = 1; i <= np; i++) {
        p = order[i]; L = (p in lab) ? lab[p] : p
        if (!n[p]) { printf "%-12s  (no successful runs)\n", L; continue }
        m = med(rps, p, n[p]); lo = mmin(rps, p, n[p]); hi = mmax(rps, p, n[p])
        m50 = med(p50, p, n[p]); m99 = med(p99, p, n[p])
        pair = npr[p] ? sprintf("%.3f (%.2f-%.2f)", med(pr, p, npr[p]), mmin(pr, p, npr[p]), mmax(pr, p, npr[p])) : "n/a"
        printf "%-12s %3d %8.0f %8.0f %8.0f %5.1f %7.3f %7.3f %7d %7d %7s %-19s %7s %7s %5s\n",
          L, n[p], m, lo, hi, 100 * (hi - lo) / m, m50 / 1000, m99 / 1000, st[p], so[p],
          (nr ? sprintf("%.3f", m / nr) : "n/a"), pair,
          (n50 ? sprintf("%.2f", m50 / n50) : "n/a"), (n99 ? sprintf("%.2f", m99 / n99) : "n/a"), (noisy[p] + 0) "/" n[p]
      }
      print ""
      printf "%-12s %6s %8s %-17s %6s %6s %5s %7s %9s %5s %8s %5s %4s %s\n", "proxy", "cpu%", "cpuus/rq", "us/ngx paired", "core%P",
        "core%L", "limit", "L-cap", "backendB%", "split", "hits/req", "smoke", "1st", "sticky cookie"
      for (i = 1; i <= np; i++) {
        p = order[i]; L = (p in lab) ? lab[p] : p
        if (!n[p]) continue
        mp = med(pc, p, n[p]); ml = med(lc, p, n[p])
        lim = (mp >= 90 ? "P" : "") ((mp >= 90 && ml >= 90) ? "+" : "") (ml >= 90 ? "L" : ""); if (lim == "") lim = "-"
        if (p == "direct") lim = "L"
        bshare = (ha[p] + hb[p]) ? 100 * hb[p] / (ha[p] + hb[p]) : 0
        split_ok = (p == "direct") ? "n/a" : ((bshare - (100 - wa) <= tol && (100 - wa) - bshare <= tol) ? "yes" : "NO")
        pu_s = npu[p] ? sprintf("%.2f (%.2f-%.2f)", med(pu, p, npu[p]), mmin(pu, p, npu[p]), mmax(pu, p, npu[p])) : "n/a"
        printf "%-12s %6s %8s %-17s %6.0f %6.0f %5s %7.0f %9.2f %5s %8.3f %5s %4s %s\n", L,
          (nc[p] ? sprintf("%.1f", med(cpu, p, nc[p])) : "NA"), (nc[p] ? sprintf("%.2f", med(usr, p, nc[p])) : "NA"), pu_s,
          mp, ml, lim, med(lcap, p, n[p]), bshare, split_ok, (req[p] ? (ha[p] + hb[p]) / req[p] : 0),
          code[p], ver[p], sticky[p]
      }
    }' "$dir/smoke.tsv" "$dir/runs.tsv"
  echo
  echo "notes: req/s = median over rounds (min/max/sprd% = spread); paired = median of per-round ratios to nginx measured in the"
  echo "  same round (robust to drift between rounds; min-max shows how stable the ratio is); p50/p99 = medians of per-round wrk percentiles;"
  echo "  non2xx* = wrk 'Non-2xx or 3xx' count (HTTP status >= 400) summed over rounds; sockerr = connect+read+write+timeout;"
  echo "  cpu% = proxy process-group CPU during the run (100 = one full core); cpuus/rq = proxy CPU microseconds per request;"
  echo "  core%P / core%L = busy % of the proxy core / the load core (wrk + backends); limit = which core was >= 90% busy (P proxy, L load):"
  echo "  when L is saturated the req/s ratios are compressed toward 1 (cannot exceed the direct ceiling), so read cpuus/rq too;"
  echo "  L-cap = req/s / (core%L/100): the req/s the load core could feed through this proxy at 100% busy (the rig's own limit);"
  echo "  backendB% = share of requests that reached backend B (target $WEIGHT_B%, ok within +-${SPLIT_TOL_PP}pp); hits/req = backend hits / wrk requests;"
  echo "  noisy = kept rounds during which other processes used > ${NOISE_PCT}% of a core (runs repeated because of that: $(($(wc -l <"$dir/discarded.tsv" 2>/dev/null || echo 0))));"
  echo "  bouncy routes whole connections (first request decides), so its split is per connection ($CONNS connections per run)."
}

if [[ -n ${REPORT_FROM:-} ]]; then   # re-print the report from a saved OUT_DIR, start nothing
  [[ -f $REPORT_FROM/runs.tsv && -f $REPORT_FROM/smoke.tsv ]] || { echo "REPORT_FROM=$REPORT_FROM lacks runs.tsv/smoke.tsv" >&2; exit 1; }
  report "$REPORT_FROM"
  exit 0
fi

main "$@"
