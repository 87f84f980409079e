#!/usr/bin/env bash
# The main job, on loopback: sets up, starts skyport-registry, runs the example
# web app for two commits under `skyport registry register -- CMD`, registers
# a static "say" entry for each, curls both, and prints `skyport registry show`.
# Leaves everything running; `scripts/demo.sh stop` stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${SKYPORT_DEMO_DIR:-/tmp/skyport-demo}
A=74336bc1db98478e02e69f59e7100895be207389
B=40548daf17f7d25ec0f1925b97d24bc05043e4ed

stop_demo() {
  # Only the process groups this script started, by their recorded ids.
  for f in "$STATE"/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

if [[ ${1:-} == stop ]]; then
  stop_demo
  echo "demo stopped"
  exit 0
fi

./scripts/setup.sh
BIN=$ROOT/build
stop_demo
rm -rf "$STATE/registry"   # a fresh cluster each run
mkdir -p "$STATE"
[[ -s $STATE/token ]] || (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE/token")

wait_file() {  # wait_file FILE SECONDS: poll until FILE exists
  local deadline=$((SECONDS + $2))
  until [[ -s $1 ]]; do
    ((SECONDS < deadline)) || { echo "demo: timed out waiting for $1" >&2; exit 1; }
    sleep 0.05
  done
}

rm -f "$STATE/registry.port"
setsid "$BIN/registry/skyport-registry" --listen 127.0.0.1:0 --port-file "$STATE/registry.port" \
  --data "$STATE/registry" --token-file "$STATE/token" --metrics-listen 127.0.0.1:0 \
  >"$STATE/registry.log" 2>&1 < /dev/null &
echo $! > "$STATE/registry.pid"
wait_file "$STATE/registry.port" 20
export SKYPORT_REGISTRY=127.0.0.1:$(cat "$STATE/registry.port")
export SKYPORT_TOKEN_FILE=$STATE/token
SKY=$BIN/cli/skyport
echo "registry listening on $SKYPORT_REGISTRY (log: $STATE/registry.log)"

# Two commits of the web app side by side, each kept alive by the CLI.
run_web() {  # run_web COMMIT GREETING NAME
  WEBAPP_GREETING=$2 setsid "$SKY" registry register "webapp@$1" http --host 127.0.0.1 --ttl 5 \
    -- python3 "$ROOT/examples/webapp/web.py" >"$STATE/$3.log" 2>&1 < /dev/null &
  echo $! > "$STATE/$3.pid"
}
run_web $A "beep boop" web-a
run_web $B "beepity boop!" web-b
# A static entry per commit for the "say" role (an external service).
"$SKY" registry register "webapp@$A" say --host 127.0.0.1 --port 13308 >/dev/null
"$SKY" registry register "webapp@$B" say --host 127.0.0.1 --port 10831 >/dev/null

port_of() {  # port_of COMMIT: the http port once registered (polls up to 20 s)
  local deadline=$((SECONDS + 20)) p=""
  while [[ -z $p ]]; do
    ((SECONDS < deadline)) || { echo "demo: $1 never registered" >&2; exit 1; }
    p=$("$SKY" registry query "webapp@$1" http --json | python3 -c \
        'import json,sys; print(next((e["port"] for e in json.load(sys.stdin)), ""))')
    [[ -n $p ]] || sleep 0.1
  done
  echo "$p"
}
PA=$(port_of $A)
PB=$(port_of $B)

echo
echo "\$ skyport registry show"
"$SKY" registry show
echo
echo "\$ curl 127.0.0.1:$PA        # commit ${A:0:7}"
curl -s "127.0.0.1:$PA"
echo "\$ curl 127.0.0.1:$PA/HUG"
curl -s "127.0.0.1:$PA/HUG"
echo "\$ curl 127.0.0.1:$PB        # commit ${B:0:7}"
curl -s "127.0.0.1:$PB"
echo
echo "\$ skyport registry show --table"
"$SKY" registry show --table
echo
echo "The cluster keeps running. Try: SKYPORT_REGISTRY=$SKYPORT_REGISTRY SKYPORT_TOKEN_FILE=$STATE/token $SKY registry watch"
echo "Stop it with: scripts/demo.sh stop"
