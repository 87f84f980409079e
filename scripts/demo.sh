#!/usr/bin/env bash
# The main job, on loopback: sets up, starts a local cluster (skyport-registry,
# skyport-hub, two skyport-drone, skyport-router), pushes examples/webapp in two
# commits with the real git client, deploys both side by side on both drones,
# prints `skyport registry show`, splits traffic 50/50 between the commits with
# `skyport split`, and sends requests through the router (sticky per user).
# Leaves everything running; `scripts/demo.sh stop` stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${SKYPORT_DEMO_DIR:-/tmp/skyport-demo}

stop_demo() {
  # Only the process groups this script started, by their recorded ids.
  for f in "$STATE"/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
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
rm -rf "$STATE"   # a fresh cluster each run
mkdir -p "$STATE"
(umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE/token")

wait_file() {  # wait_file FILE SECONDS: poll until FILE is non-empty
  local deadline=$((SECONDS + $2))
  until [[ -s $1 ]]; do
    ((SECONDS < deadline)) || { echo "demo: timed out waiting for $1" >&2; exit 1; }
    sleep 0.05
  done
}
start() {  # start NAME CMD...: in its own session, logs in $STATE/NAME.log
  local name=$1; shift
  setsid "$@" >"$STATE/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/$name.pid"
}

start registry "$BIN/registry/skyport-registry" --listen 127.0.0.1:0 --port-file "$STATE/registry.port" \
  --data "$STATE/registry" --token-file "$STATE/token" --metrics-listen 127.0.0.1:0
wait_file "$STATE/registry.port" 20
export SKYPORT_REGISTRY=127.0.0.1:$(cat "$STATE/registry.port")
start hub "$BIN/hub/skyport-hub" --listen 127.0.0.1:0 --git-listen 127.0.0.1:0 --port-file "$STATE/hub.port" \
  --data "$STATE/hub" --token-file "$STATE/token" --metrics-listen 127.0.0.1:0 --console-listen 127.0.0.1:0 \
  --registry "$SKYPORT_REGISTRY" --gate-interval-ms 1000
wait_file "$STATE/hub.port" 20
read -r HUB_PORT GIT_PORT < "$STATE/hub.port"
export SKYPORT_HUB=127.0.0.1:$HUB_PORT SKYPORT_TOKEN_FILE=$STATE/token
for d in drone-1 drone-2; do
  start "$d" "$BIN/drone/skyport-drone" --hub "$SKYPORT_HUB" --registry "$SKYPORT_REGISTRY" --name "$d" \
    --advertise 127.0.0.1 --data "$STATE/$d" --token-file "$STATE/token"
done
start router "$BIN/router/skyport-router" --registry "$SKYPORT_REGISTRY" --hub "$SKYPORT_HUB" --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
  --port-file "$STATE/router.port" --token-file "$STATE/token" --name router-1 \
  --new-users-address-burst 100000   # the demo's curl loops stand for many users on one address
wait_file "$STATE/router.port" 20
read -r ROUTER_PORT ADMIN_PORT < "$STATE/router.port"
SKY=$BIN/cli/skyport
# The console's port is in the hub's "listening" line (written just after its port file).
deadline=$((SECONDS + 10))
until CONSOLE_PORT=$(grep -o 'console_port=[0-9]*' "$STATE/hub.log" | tail -1 | cut -d= -f2) && [[ -n $CONSOLE_PORT ]]; do
  ((SECONDS < deadline)) || { echo "demo: the hub did not say its console port" >&2; exit 1; }
  sleep 0.05
done
echo "registry $SKYPORT_REGISTRY, hub $SKYPORT_HUB, git http://127.0.0.1:$GIT_PORT, router http://127.0.0.1:$ROUTER_PORT (logs in $STATE)"
deadline=$((SECONDS + 20))
until [[ $("$SKY" drones --json | python3 -c 'import json,sys; print(sum(d["connected"] for d in json.load(sys.stdin)))') == 2 ]]; do
  ((SECONDS < deadline)) || { echo "demo: drones did not attach" >&2; exit 1; }
  sleep 0.1
done

# The example app, pushed in two commits with the real git client.
SRC=$STATE/webapp-src
cp -r "$ROOT/examples/webapp" "$SRC"
git() { command git -C "$SRC" -c user.name=demo -c user.email=demo@example.com "$@"; }
git init -q -b master
git add -A && git commit -qm "webapp: beep boop"
A=$(git rev-parse HEAD)
PUSH_URL="http://skyport:$(cat "$STATE/token")@127.0.0.1:$GIT_PORT/webapp.git"
git push -q "$PUSH_URL" master
sed -i 's/"beep boop"/"beepity boop!"/' "$SRC/web.py"
git commit -qam "newlines, beepity"
B=$(git rev-parse HEAD)
git push -q "$PUSH_URL" master

echo
echo "\$ skyport deploy webapp ${A:0:7}"
"$SKY" deploy webapp "${A:0:7}"
echo
echo "\$ skyport deploy webapp ${B:0:7}"
"$SKY" deploy webapp "${B:0:7}"
echo
echo "\$ skyport registry show webapp      # (the router registers itself too: app skyport-router)"
"$SKY" registry show webapp
echo
echo "\$ skyport ps"
"$SKY" ps
echo
for c in "$A" "$B"; do
  for port in $("$SKY" registry query "webapp@$c" web --json | python3 -c 'import json,sys; print(" ".join(str(e["port"]) for e in json.load(sys.stdin)))'); do
    echo "\$ curl 127.0.0.1:$port        # commit ${c:0:7}"
    curl -s "127.0.0.1:$port"
  done
done
echo "\$ curl 127.0.0.1:$port/HUG"
curl -s "127.0.0.1:$port/HUG"
echo
ROUTER=http://127.0.0.1:$ROUTER_PORT
echo "\$ curl -H 'Host: webapp.localhost' $ROUTER/     # no split yet: the newest commit takes all traffic"
curl -s -D "$STATE/headers" -H 'Host: webapp.localhost' "$ROUTER/"
grep -i '^x-skyport-commit' "$STATE/headers"
echo
echo "\$ skyport split webapp ${A:0:7}=50 ${B:0:7}=50"
"$SKY" split webapp "${A:0:7}=50" "${B:0:7}=50"
# The router sees the new route config through its registry watch within milliseconds.
deadline=$((SECONDS + 10))
until curl -s -H "Authorization: Bearer $(cat "$STATE/token")" "http://127.0.0.1:$ADMIN_PORT/routes" | grep -q "\"weight\":50"; do
  ((SECONDS < deadline)) || { echo "demo: the router did not pick up the split" >&2; exit 1; }
  sleep 0.05
done
echo
echo "# 1000 first visits (no cookie) through the router: which commit answered"
for _ in $(seq 1000); do echo "url = \"$ROUTER/\""; echo 'header = "Host: webapp.localhost"'; echo 'output = /dev/null'; echo 'dump-header = -'; done |
  curl -s --parallel --parallel-max 16 -K - 2>/dev/null | grep -i '^x-skyport-commit' | tr -d '\r' | sort | uniq -c
echo
echo "# one user (cookie jar) keeps their commit:"
rm -f "$STATE/jar"
for _ in 1 2 3 4 5; do
  curl -s -o /dev/null -D - -b "$STATE/jar" -c "$STATE/jar" -H 'Host: webapp.localhost' "$ROUTER/" | grep -i '^x-skyport-commit' | tr -d '\r'
done
echo
echo "# 200 more users: each visits, every fourth buys (POST /_skyport/events with the user's cookie)"
for i in $(seq 200); do
  rm -f "$STATE/user.jar"
  curl -s -o /dev/null -c "$STATE/user.jar" -H 'Host: webapp.localhost' "$ROUTER/"
  if ((i % 4 == 0)); then
    curl -s -o /dev/null -b "$STATE/user.jar" -H 'Host: webapp.localhost' -H 'Content-Type: application/json' \
      -d '{"event": "purchase", "value": 20}' "$ROUTER/_skyport/events"
  fi
done
# The router ships exposures and events to the hub about once a second.
deadline=$((SECONDS + 10))
until [[ $("$SKY" stats webapp --event purchase --json 2>/dev/null | python3 -c 'import json,sys
d=json.load(sys.stdin); print(sum(a.get("converted",0) for b in d.get("experiment",{}).get("buckets",[]) for a in b["arms"]))' 2>/dev/null || echo 0) -ge 50 ]]; do
  ((SECONDS < deadline)) || break
  sleep 0.2
done
echo
echo "\$ skyport stats webapp --event purchase"
# Stats are handed from the proxy threads once a second: wait until all requests show.
deadline=$((SECONDS + 10))
until [[ $("$SKY" stats webapp --json 2>/dev/null | python3 -c 'import json,sys
d=json.load(sys.stdin); print(sum(a.get("requests",0) for app in d.get("apps",{}).values() for a in app.get("arms",{}).values()))' 2>/dev/null || echo 0) -ge 1206 ]]; do
  ((SECONDS < deadline)) || break
  sleep 0.2
done
"$SKY" stats webapp --event purchase
echo
echo "# A flight (examples/webapp/flight.yaml): ${B:0:7} to 20% of Linux users, gated on error rate, 50%, promoted"
sed -e "s/CONTROL_COMMIT/${A:0:7}/" -e "s/TREATMENT_COMMIT/${B:0:7}/" "$ROOT/examples/webapp/flight.yaml" > "$STATE/flight.yaml"
echo "\$ skyport flight start flight.yaml"
"$SKY" flight start "$STATE/flight.yaml"
LINUX_UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'
flight_state() { "$SKY" flight status beepity-rollout --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
deadline=$((SECONDS + 90))
while [[ $(flight_state) == running ]] && ((SECONDS < deadline)); do
  # Linux visitors for the gate to judge (each a new user).
  for _ in $(seq 100); do echo "url = \"$ROUTER/\""; echo 'header = "Host: webapp.localhost"'; echo 'output = /dev/null'; done |
    curl -s --parallel --parallel-max 8 -A "$LINUX_UA" -K - 2>/dev/null || true
done
echo
echo "\$ skyport flight status beepity-rollout"
"$SKY" flight status beepity-rollout
echo
echo "\$ skyport flight log beepity-rollout"
"$SKY" flight log beepity-rollout
echo
echo "The cluster keeps running. Router: curl -H 'Host: webapp.localhost' $ROUTER/"
echo "Console: http://127.0.0.1:$CONSOLE_PORT/ (log in with the token in $STATE/token; the experiment page: #/apps/webapp/experiment?event=purchase)"
echo "Try: export SKYPORT_REGISTRY=$SKYPORT_REGISTRY SKYPORT_HUB=$SKYPORT_HUB SKYPORT_TOKEN_FILE=$STATE/token"
echo "     $SKY logs webapp -f    |    $SKY registry watch"
echo "Stop it with: scripts/demo.sh stop"
