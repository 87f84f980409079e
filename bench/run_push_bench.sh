#!/usr/bin/env bash
# run_push_bench.sh - `git push` of a fresh 50 MB repository to skyport-hub's git smart-HTTP vs
# git's own `git http-backend` (run as CGI per request by bench/git_http_backend.py), same git
# client, same machine, side by side in the same run.
#
# Usage:
#   BUILD=/work/build-bench2 bash bench/run_push_bench.sh
#   (builds nothing: needs $BUILD/hub/skyport-hub, e.g. ninja -C $BUILD skyport-hub)
#
# Knobs (environment): BUILD=/work/main/build ROUNDS=5 REPO_MB=50 COMMITS=5 TEXT_PCT=30
#   (share of the bytes that are text; the rest is random, incompressible)
#   PIN=1 LOAD_CPUS=0 SERVER_CPUS=1 NICE=-10 (as root)   OUT_DIR=<keep runs.tsv + summary>  KEEP_TMP=0
#
# Every round pushes the same source repository to a NEW repository on each server (skyport: a
# new app name; http-backend: a new bare repository with http.receivepack=true), so every push
# sends the whole history; the order alternates per round. The push is timed around the git
# client (`git push -q URL master`); the ref is then checked (ls-remote; on disk for skyport-hub,
# which serves push only).
#
# Safety: binds only 127.0.0.1, everything in a mktemp dir (on disk, not tmpfs, if /tmp is disk),
# each server in its own session; on exit it stops exactly the process groups it started.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${BUILD:-/work/main/build}
ROUNDS=${ROUNDS:-5}
REPO_MB=${REPO_MB:-50}
COMMITS=${COMMITS:-5}
TEXT_PCT=${TEXT_PCT:-30}
PIN=${PIN:-1}
LOAD_CPUS=${LOAD_CPUS:-0}
SERVER_CPUS=${SERVER_CPUS:-1}
NICE=${NICE:-$([[ $(id -u) -eq 0 ]] && echo -10 || echo 0)}
OUT_DIR=${OUT_DIR:-}
KEEP_TMP=${KEEP_TMP:-0}
TMPROOT=${TMPROOT:-/tmp}
HUB_BIN=$BUILD/hub/skyport-hub

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -x $HUB_BIN ]] || die "$HUB_BIN missing: ninja -C $BUILD skyport-hub"
[[ -x /usr/lib/git-core/git-http-backend ]] || die "git http-backend not found"
command -v taskset >/dev/null || { log "taskset missing: running unpinned"; PIN=0; }
((PIN == 0)) || (($(nproc) >= 2)) || { log "1 CPU: running unpinned"; PIN=0; }

exec 9>/tmp/run_push_bench.lock
flock -n 9 || die "another run_push_bench.sh is running (lock /tmp/run_push_bench.lock)"

STARTED_PIDS=()
TMP=""
stop_group() {
  local pid=$1 i
  kill -0 -- "-$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${STARTED_PIDS[@]}"; do stop_group "$pid"; done
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $KEEP_TMP == 1 ]]; then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TMP=$(mktemp -d "$TMPROOT/push_bench.XXXXXX")

PRIO_EXEC=$HERE/prio-exec.sh  # nice (and the session's autogroup) + taskset
server() {  # NAME CMD... : own session, SERVER_CPUS
  local name=$1 cpus=$SERVER_CPUS; shift
  [[ $PIN == 1 ]] || cpus=-
  setsid "$PRIO_EXEC" "$NICE" "$cpus" "$@" >"$TMP/$name.log" 2>&1 </dev/null 9>&- &
  STARTED_PIDS+=("$!")
  LAST_PID=$!
}
client() {  # CMD... on LOAD_CPUS
  if [[ $PIN == 1 ]]; then "$PRIO_EXEC" "$NICE" "$LOAD_CPUS" "$@"; else "$@"; fi
}
wait_file() {
  local i
  for ((i = 0; i < 150; i++)); do
    [[ -s $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited: $(tail -5 "$TMP/$3.log")"
    sleep 0.1
  done
  die "$3 wrote no $1 in 15 s"
}

export HOME=$TMP GIT_TERMINAL_PROMPT=0 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com \
  GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

# ---------------------------------------------------------------- the source repository
log "generating a ${REPO_MB} MB repository ($COMMITS commits, ${TEXT_PCT}% text)"
mkdir -p "$TMP/src"
git -C "$TMP/src" init -q -b master
python3 - "$TMP/src" "$REPO_MB" "$COMMITS" "$TEXT_PCT" <<'PY'
import os, random, subprocess, sys
root, mb, commits, text_pct = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(42)
words = ["deploy", "drone", "hub", "registry", "commit", "lease", "port", "route", "skyport", "seaport",
         "propagit", "http", "git", "fetch", "checkout", "ready", "health", "allocate", "watch", "stream"]
per_commit = mb * 2**20 // commits
for c in range(commits):
    d = os.path.join(root, f"part{c}")
    os.makedirs(d, exist_ok=True)
    text = per_commit * text_pct // 100
    for i in range(max(1, text // (100 * 1024))):  # ~100 KB text files
        with open(os.path.join(d, f"notes{i}.txt"), "w") as f:
            n = 0
            while n < 100 * 1024:
                line = " ".join(rnd.choice(words) for _ in range(12)) + f" {rnd.randrange(10**6)}\n"
                f.write(line); n += len(line)
    blob = per_commit - text
    for i in range(max(1, blob // 2**20)):  # 1 MiB random files
        with open(os.path.join(d, f"blob{i}.bin"), "wb") as f:
            f.write(rnd.randbytes(2**20))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", f"part {c}"], cwd=root, check=True)
PY
TREE_MB=$(du -sm --exclude=.git "$TMP/src" | cut -f1)
PACK_MB=$(git -C "$TMP/src" count-objects -vH | awk -F': ' '/size-pack|^size:/{printf "%s ", $2}')
NOBJ=$(git -C "$TMP/src" count-objects -v | awk -F': ' '/^count|in-pack/{s+=$2} END{print s}')

# ---------------------------------------------------------------- servers
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$TMP/token"; chmod 600 "$TMP/token"
TOKEN=$(cat "$TMP/token")
server skyport-hub "$HUB_BIN" --listen 127.0.0.1:0 --git-listen 127.0.0.1:0 --data "$TMP/hub-data" \
  --token-file "$TMP/token" --port-file "$TMP/hub.port" --metrics-listen '' --console-listen ''
wait_file "$TMP/hub.port" "$LAST_PID" skyport-hub
read -r _ HUB_GIT <"$TMP/hub.port"
mkdir -p "$TMP/backend-root"
server http-backend python3 "$HERE/git_http_backend.py" --root "$TMP/backend-root" --port-file "$TMP/backend.port"
wait_file "$TMP/backend.port" "$LAST_PID" http-backend
BACKEND_PORT=$(cat "$TMP/backend.port")

echo "== run_push_bench $(date -u +%FT%TZ) on $(hostname)"
echo "machine: nproc=$(nproc) cpu='$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)' kernel=$(uname -r) load=$(cut -d' ' -f1-3 /proc/loadavg); $TMP on $(df -T "$TMP" | awk 'NR==2{print $2}')"
echo "versions: skyport-hub $HUB_BIN (built $(date -r "$HUB_BIN" +%FT%T)), $(git --version), python $(python3 -V | cut -d' ' -f2)"
echo "repository: $TREE_MB MB work tree, $COMMITS commits, $NOBJ objects, packed: $PACK_MB(size / size-pack)"
echo "layout: servers on cpu $SERVER_CPUS, git client on cpu $LOAD_CPUS (PIN=$PIN), nice $NICE; $ROUNDS rounds"

: >"$TMP/runs.tsv"
push_one() {  # ROUND SYSTEM
  local r=$1 sys=$2 url t0 t1 rc=0 head
  if [[ $sys == skyport ]]; then
    url=http://skyport:$TOKEN@127.0.0.1:$HUB_GIT/big$r.git
  else
    git init -q --bare "$TMP/backend-root/big$r.git"
    git -C "$TMP/backend-root/big$r.git" config http.receivepack true
    url=http://127.0.0.1:$BACKEND_PORT/big$r.git
  fi
  sync; sleep 0.5
  t0=$(date +%s%N)
  client git -C "$TMP/src" push -q "$url" master 2>"$TMP/push-$sys-$r.err" || rc=$?
  t1=$(date +%s%N)
  if [[ $sys == skyport ]]; then  # the hub serves push only: read the ref on disk
    head=$(git --git-dir "$TMP/hub-data/repos/big$r.git" rev-parse -q --verify refs/heads/master 2>/dev/null) || true
  else
    head=$(client git ls-remote "$url" refs/heads/master 2>/dev/null | cut -f1) || true
  fi
  local ok=1
  [[ $rc == 0 && $head == "$(git -C "$TMP/src" rev-parse HEAD)" ]] || ok=0
  printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$sys" "$(( (t1 - t0) / 1000000 ))" "$rc" "$ok" >>"$TMP/runs.tsv"
  local why=""; ((rc == 0)) || why=": $(tail -3 "$TMP/push-$sys-$r.err")"
  log "round $r $sys: $(( (t1 - t0) / 1000000 )) ms (exit $rc, ref ok $ok)$why"
}
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then push_one "$r" skyport; push_one "$r" http-backend
  else push_one "$r" http-backend; push_one "$r" skyport; fi
done

python3 - "$TMP/runs.tsv" <<'PY' | tee "$TMP/summary.txt"
import statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]) if l.strip()]
ms = {}
for r, sysname, t, rc, ok in rows:
    if rc == '0' and ok.strip() == '1':
        ms.setdefault(sysname, {})[int(r)] = int(t)
bad = [(r, s, rc) for r, s, t, rc, ok in rows if rc != '0' or ok.strip() != '1']
print('\n== git push of the whole repository, ms (median / min / max over rounds)')
for s in ('skyport', 'http-backend'):
    v = list(ms.get(s, {}).values())
    if v: print(f"  {s:<14}{statistics.median(v):>8.0f}{min(v):>8}{max(v):>8}   n={len(v)}")
a, b = ms.get('skyport', {}), ms.get('http-backend', {})
pairs = [a[k] / b[k] for k in a if k in b]
if pairs:
    ratio = statistics.median(a.values()) / statistics.median(b.values())
    print(f"  ratio skyport / http-backend: {ratio:.2f} (medians); paired {statistics.median(pairs):.2f} "
          f"({min(pairs):.2f}-{max(pairs):.2f})")
    print(f"  goal (no slower than git http-backend): {'MET' if ratio <= 1.05 else 'MISSED'}"
          + ('' if ratio <= 1.05 else f' - {100 * (ratio - 1):.0f}% slower'))
print('failed pushes: ' + ('none' if not bad else ', '.join(f'{s} round {r} (exit {rc})' for r, s, rc in bad)))
PY
if [[ -n $OUT_DIR ]]; then
  mkdir -p "$OUT_DIR"; cp "$TMP/runs.tsv" "$TMP/summary.txt" "$TMP"/*.log "$OUT_DIR/" 2>/dev/null || true
  cp "$TMP"/push-*.err "$OUT_DIR/" 2>/dev/null || true
  log "raw results copied to $OUT_DIR"
fi
