#!/usr/bin/env bash
# The compose cluster's scenario, checked step by step (exits non-zero at the first
# step that does not hold):
#   1. push examples/webapp (commit A), deploy it: `registry show` lists it on every
#      drone under the drone's own address; curl through the router; the say role directly
#   2. push commit B ("beepity boop!"), deploy it beside A; the newest commit takes the router
#   3. `skyport split webapp A=50 B=50`: first visits see both commits, a cookie keeps a user on one
#   4. under a load loop, `docker kill` of the container drone-3: its entries leave the registry
#      within the lease TTL, the load loop sees no failed request, traffic continues
#   5. start it again: the hub redeploys A and B there, its entries come back
#
# On the host (Docker Engine with compose v2, or docker-compose v1), from anywhere:
#   docker/scenario.sh
# makes the token if missing, `docker compose up -d` (builds the image the first time),
# runs steps 1-3 in the `client` container, kills drone-3 from the host, and so on.
# COMPOSE (the command, e.g. docker-compose) and COMPOSE_FILE (then no token is made: the
# files name their own) are honoured; SCENARIO_SKIP_BACK=1 leaves out step 5.
#
# Inside a container (or against any cluster), one phase at a time:
#   docker/scenario.sh client deploy|load|load-wait|drone-gone|drone-back
# configured by SKYPORT_HUB, SKYPORT_REGISTRY, SKYPORT_TOKEN_FILE and SCENARIO_*
# (below; docker-compose.yml sets them for `client`).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)

# ---------------------------------------------------------------- host side

compose() {
  if [[ -z ${COMPOSE:-} ]]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"
    elif command -v docker-compose >/dev/null; then COMPOSE=docker-compose
    else echo "scenario: needs docker compose (v2) or docker-compose (v1)" >&2; exit 1
    fi
  fi
  # shellcheck disable=SC2086 # COMPOSE is a command with arguments
  if [[ -n ${COMPOSE_FILE:-} ]]; then $COMPOSE "$@"; else $COMPOSE -f "$HERE/../docker-compose.yml" "$@"; fi
}

in_client() {  # in_client [-e K=V]... PHASE
  local env=()
  while [[ ${1:-} == -e ]]; do env+=("$1" "$2"); shift 2; done
  compose exec -T "${env[@]}" client bash /opt/skyport/src/docker/scenario.sh client "$@"
}

host_main() {
  [[ -n ${COMPOSE_FILE:-} ]] || "$HERE/make-token.sh"
  compose up -d
  local victim=${SCENARIO_STOP_SERVICE:-drone-3}  # the service of the client's SCENARIO_STOPPED_DRONE
  in_client deploy
  echo
  echo "# a load loop in the client container, then: docker kill (SIGKILL) of $victim"
  compose exec -T -d client bash /opt/skyport/src/docker/scenario.sh client load
  in_client load-wait
  local killed_at
  echo "\$ docker compose kill $victim      # SIGKILL, as docker kill"
  compose kill "$victim"
  killed_at=$(date +%s.%N)  # when the kill has returned: the container is dead (a lease's TTL counts from here)
  in_client -e "SCENARIO_KILLED_AT=$killed_at" drone-gone
  if [[ -z ${SCENARIO_SKIP_BACK:-} ]]; then
    echo
    echo "\$ docker compose start $victim"
    compose start "$victim"
    in_client drone-back
  fi
  echo
  echo "scenario: all steps passed. The cluster keeps running: http://localhost:${SKYPORT_HTTP_PORT:-8080}/"
  echo "  docker compose exec client skyport registry show    |    docker compose down -v  (removes it and its data)"
}

# ---------------------------------------------------------------- client side

ROUTER=${SCENARIO_ROUTER:-http://router:8080}
ROUTER_ADMIN=${SCENARIO_ROUTER_ADMIN:-http://router:6003}
GIT_BASE=${SCENARIO_GIT:-http://hub:6002}
DOMAIN=${SCENARIO_DOMAIN:-localhost}
# The drones as NAME=ADDRESS (--name and --advertise), and the one that gets stopped.
read -r -a DRONES <<< "${SCENARIO_DRONES:-drone-1=drone-1 drone-2=drone-2 drone-3=drone-3}"
STOPPED=${SCENARIO_STOPPED_DRONE:-drone-3}
EXAMPLES=${SCENARIO_EXAMPLES:-$HERE/../examples}
STATE=${SCENARIO_STATE:-/tmp/skyport-scenario}
APP=webapp
HOST_HEADER="Host: $APP.$DOMAIN"

step() { printf '\n== %s\n' "$*"; }
show() {  # prints the command (arguments with spaces in single quotes), then runs it
  local a line=\$
  for a in "$@"; do [[ $a == *" "* ]] && line+=" '$a'" || line+=" $a"; done
  echo "$line"
  "$@"
}
fail() { echo "scenario: FAILED: $*" >&2; exit 1; }
pass() { echo "scenario: ok: $*"; }

wait_for() {  # wait_for SECONDS WHAT CMD...: poll CMD until it succeeds
  local secs=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for $what"
    sleep 0.5
  done
}

token() { tr -d ' \n' < "${SKYPORT_TOKEN_FILE:?SKYPORT_TOKEN_FILE}"; }

# Where APP@COMMIT ROLE runs: its entries as DRONE=HOST, sorted, on one line.
placement() {
  skyport registry query "$APP@$1" "${2:-web}" --json |
    python3 -c 'import json,sys; print(" ".join(sorted("%s=%s" % (e["drone"], e["host"]) for e in json.load(sys.stdin))))'
}
expected_placement() {  # expected_placement [EXCEPT]: DRONES sorted, less drone EXCEPT
  printf '%s\n' "${DRONES[@]}" | grep -v "^${1:-/}=" | sort | paste -sd' ' -
}
placed() { [[ $(placement "$1" "${3:-web}") == "$2" ]]; }
# The web instances (HOST:PORT) drone $1 runs, one a line.
instances_on() {
  skyport registry query "$APP" web --json |
    python3 -c 'import json,sys; [print("%s:%s" % (e["host"], e["port"])) for e in json.load(sys.stdin) if e["drone"] == sys.argv[1]]' "$1"
}

drones_attached() {
  [[ $(skyport drones --json | python3 -c 'import json,sys; print(sum(bool(d["connected"]) for d in json.load(sys.stdin)))') \
      -ge ${#DRONES[@]} ]]
}
router_up() { curl -fsS -o /dev/null --max-time 2 "$ROUTER_ADMIN/healthz"; }
# (Output is captured before matching: `grep -q` in a pipe can fail it under pipefail.)
router_has_weight() {
  local routes
  routes=$(curl -fsS --max-time 2 -H "Authorization: Bearer $(token)" "$ROUTER_ADMIN/routes") &&
    [[ $routes == *"\"weight\":$1"* ]]
}
router_serves() {  # router_serves COMMIT: a first visit gets COMMIT
  local head
  head=$(curl -s -o /dev/null -D - --max-time 3 -H "$HOST_HEADER" "$ROUTER/" | tr -d '\r') &&
    grep -qix "x-skyport-commit: $1" <<< "$head"
}

# visits N [JAR]: N requests through the router (first visits without JAR); writes
# "STATUS COMMIT INSTANCE BODY" lines to $STATE/visits.
visits() {
  local n=$1 jar=${2:-} out=$STATE/visits
  : > "$out"
  for ((i = 0; i < n; i++)); do
    local args=(-s --max-time 5 -o "$STATE/body" -D "$STATE/head" -H "$HOST_HEADER")
    [[ -n $jar ]] && args+=(-b "$jar" -c "$jar")
    curl "${args[@]}" "$ROUTER/" || { echo "000 - - curl-failed" >> "$out"; continue; }
    tr -d '\r' < "$STATE/head" | awk -v body="$(head -c 60 "$STATE/body")" '
      NR == 1 { status = $2 }
      tolower($1) == "x-skyport-commit:" { commit = $2 }
      tolower($1) == "x-skyport-instance:" { inst = $2 }
      END { printf "%s %s %s %s\n", status, commit ? commit : "-", inst ? inst : "-", body }' >> "$out"
  done
}
visits_all_ok() {
  local bad
  bad=$(awk '$1 != 200' "$STATE/visits" | head -3)
  [[ -z $bad ]] || fail "not every request through the router got 200: $bad"
}
# Every response body matches its commit (A says "beep boop", B "beepity boop!").
visits_bodies_match() {
  local a=$1 b=$2
  awk -v a="$a" -v b="$b" '
    $2 == a && $0 !~ / beep boop$/ { print; bad = 1 }
    $2 == b && $0 !~ / beepity boop!$/ { print; bad = 1 }
    END { exit bad }' "$STATE/visits" || fail "a response body does not match its commit (above)"
}
count_commit() { awk -v c="$1" '$2 == c' "$STATE/visits" | wc -l; }
summary() { awk '{ print substr($2, 1, 7), "via", $3 }' "$STATE/visits" | sort | uniq -c; }

phase_deploy() {
  mkdir -p "$STATE"
  step "the cluster is up: ${#DRONES[@]} drones attached, the router answers"
  wait_for 120 "${#DRONES[@]} drones attached to the hub" drones_attached
  wait_for 60 "the router's admin /healthz" router_up
  show skyport drones

  step "push examples/webapp (commit A) with git"
  local src=$STATE/webapp-src
  rm -rf "$src"
  cp -r "$EXAMPLES/webapp" "$src"
  rm -rf "$src/__pycache__"
  g() { git -C "$src" -c user.name=scenario -c user.email=scenario@example.com "$@"; }
  g init -q -b master
  g add -A
  g commit -qm "webapp: beep boop"
  local A B url
  A=$(g rev-parse HEAD)
  url="${GIT_BASE%%://*}://skyport:$(token)@${GIT_BASE#*://}/$APP.git"
  g push -q "$url" master
  pass "pushed ${A:0:7}"

  step "deploy commit A on every drone"
  show skyport deploy "$APP" "${A:0:7}"
  show skyport registry show "$APP"
  local want
  want=$(expected_placement)
  placed "$A" "$want" || fail "web of ${A:0:7} is on [$(placement "$A")], want [$want]"
  placed "$A" "$want" say || fail "say of ${A:0:7} is on [$(placement "$A" say)], want [$want]"
  pass "registry lists ${A:0:7} web and say on each drone's own address: $want"

  step "curl through the router, and the say role at its registered address"
  wait_for 20 "the router to serve ${A:0:7}" router_serves "$A"
  show curl -s -H "$HOST_HEADER" "$ROUTER/"
  show curl -s -H "$HOST_HEADER" "$ROUTER/HUG"
  [[ $(curl -s -H "$HOST_HEADER" "$ROUTER/HUG") == "HUG ALL HUMANS" ]] || fail "/HUG through the router"
  local say_addr
  say_addr=$(skyport registry query "$APP@$A" say --json | python3 -c 'import json,sys; e=json.load(sys.stdin)[0]; print("%s:%s" % (e["host"], e["port"]))')
  show curl -s "http://$say_addr/?text=hello"
  [[ $(curl -s "http://$say_addr/?text=hello") == "beep boop says: hello" ]] || fail "the say role at $say_addr"
  pass "router and say role answer"

  step "push commit B (beepity boop!) and deploy it beside A"
  sed -i 's/"beep boop"/"beepity boop!"/' "$src/web.py"
  g commit -qam "newlines, beepity"
  B=$(g rev-parse HEAD)
  g push -q "$url" master
  show skyport deploy "$APP" "${B:0:7}"
  show skyport registry show "$APP" --table
  placed "$A" "$want" || fail "A is no longer on every drone: [$(placement "$A")]"
  placed "$B" "$want" || fail "web of ${B:0:7} is on [$(placement "$B")], want [$want]"
  echo "$A $B" > "$STATE/commits"
  instances_on "$STOPPED" > "$STATE/stopped-instances"  # to tell its traffic apart later
  [[ -s $STATE/stopped-instances ]] || fail "no web instance on $STOPPED"
  wait_for 20 "the router to send first visits to the newest commit" router_serves "$B"
  show curl -s -H "$HOST_HEADER" "$ROUTER/"
  pass "A and B run side by side; with no split the newest (B) takes the router"

  step "split 50/50 between A and B"
  show skyport split "$APP" "${A:0:7}=50" "${B:0:7}=50"
  wait_for 20 "the router to pick up the split" router_has_weight 50
  first_visits "$A" "$B" 200
  sticky_users
}

# first_visits A B N: N first visits (no cookie) all get 200, see both commits, and
# each body matches its commit. Leaves them in $STATE/visits.
first_visits() {
  local A=$1 B=$2 n=$3
  visits "$n"
  visits_all_ok
  visits_bodies_match "$A" "$B"
  echo "# $n first visits (no cookie): commit, instance"
  summary
  local na nb
  na=$(count_commit "$A")
  nb=$(count_commit "$B")
  ((na >= n / 5 && nb >= n / 5)) || fail "split 50/50 but A got $na and B $nb of $n"
  pass "both commits through the router: A $na, B $nb of $n"
}

# sticky_users: five users with a cookie jar each keep their commit over six visits.
sticky_users() {
  local u
  for u in 1 2 3 4 5; do
    rm -f "$STATE/jar$u"
    visits 6 "$STATE/jar$u"
    visits_all_ok
    [[ $(awk '{ print $2 }' "$STATE/visits" | sort -u | wc -l) -eq 1 ]] ||
      fail "user $u moved between commits: $(awk '{ print substr($2, 1, 7) }' "$STATE/visits" | paste -sd' ' -)"
    echo "user $u: 6 visits, all on $(awk 'NR == 1 { print substr($2, 1, 7) }' "$STATE/visits")"
  done
  pass "each user (cookie) stays on one commit"
}

commits() { [[ -s $STATE/commits ]] || fail "run the deploy phase first"; read -r A B < "$STATE/commits"; }

# The load loop: one request at a time through the router (a new connection each) until
# $STATE/load.stop appears (or SCENARIO_LOAD_MAX_S, 300 s, pass); a line per request in $STATE/load: "ok|fail T STATUS INSTANCE SECONDS"
# (T: when it ended, in seconds since the epoch, the clock the host's `date` shares; SECONDS: how
# long it took), then $STATE/load.done.
phase_load() {
  mkdir -p "$STATE"
  rm -f "$STATE/load.stop" "$STATE/load.done"
  : > "$STATE/load"
  local r deadline=$((SECONDS + ${SCENARIO_LOAD_MAX_S:-300}))  # a failed scenario leaves no endless loop behind
  until [[ -e $STATE/load.stop ]] || ((SECONDS >= deadline)); do
    r=$(curl -s -o /dev/null --max-time 5 -H "$HOST_HEADER" \
        -w '%{http_code} %header{x-skyport-instance} %{time_total}' "$ROUTER/") || true
    if [[ $r == "200 "?*" "* ]]; then echo "ok $EPOCHREALTIME $r"; else echo "fail $EPOCHREALTIME ${r:-000}"; fi >> "$STATE/load"
  done
  touch "$STATE/load.done"
}
load_oks() { awk -v t="${1:-0}" '$1 == "ok" && $2 > t' "$STATE/load" | wc -l; }
loaded() { [[ -s $STATE/load && $(load_oks "${1:-0}") -ge ${2:-20} ]]; }
phase_load_wait() {
  wait_for 30 "the load loop's first 20 answers" loaded 0 20
  pass "load loop running: $(load_oks) requests answered"
}
stop_load() {
  touch "$STATE/load.stop"
  wait_for 15 "the load loop to stop" test -e "$STATE/load.done"
}
no_entries_of() {  # no_entries_of DRONE: the registry lists nothing of $APP on DRONE
  [[ $(skyport registry query "$APP" --json |
      python3 -c 'import json,sys; print(sum(e["drone"] == sys.argv[1] for e in json.load(sys.stdin)))' "$1") == 0 ]]
}

phase_drone_gone() {
  local A B
  commits
  local ttl=${SCENARIO_LEASE_TTL:-5} killed_at=${SCENARIO_KILLED_AT:-}
  [[ -n $killed_at ]] || fail "SCENARIO_KILLED_AT (when the host killed $STOPPED) is not set"
  step "$STOPPED was killed: its entries leave the registry within the lease TTL (${ttl}s)"
  local gone_at
  until no_entries_of "$STOPPED"; do
    python3 -c 'import sys,time; sys.exit(time.time() - float(sys.argv[1]) > float(sys.argv[2]) + 30)' "$killed_at" "$ttl" ||
      fail "$STOPPED's entries still in the registry 30s after the lease TTL"
    sleep 0.1
  done
  gone_at=$EPOCHREALTIME
  local took
  took=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$gone_at" "$killed_at")
  show skyport registry show "$APP" --table
  # (+1 s: the registry's expiry sweep and this loop's polling)
  python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]) + 1)' "$took" "$ttl" ||
    fail "$STOPPED's entries left ${took}s after the kill; the lease TTL is ${ttl}s"
  local want
  want=$(expected_placement "$STOPPED")
  placed "$A" "$want" || fail "A is on [$(placement "$A")], want [$want]"
  placed "$B" "$want" || fail "B is on [$(placement "$B")], want [$want]"
  pass "no entry on $STOPPED ${took}s after the kill; A and B on $want"

  step "the load loop through the kill: no failed request"
  wait_for 30 "50 more answers after the entries left" loaded "$gone_at" 50
  stop_load
  local oks fails during
  oks=$(grep -c '^ok ' "$STATE/load" || true)
  fails=$(grep '^fail ' "$STATE/load" | head -5 || true)
  during=$(awk -v a="$killed_at" -v b="$gone_at" '$1 == "ok" && $2 > a && $2 <= b' "$STATE/load" | wc -l)
  [[ -z $fails ]] || fail "failed requests in the load loop ($oks ok): $fails"
  if awk 'NR == FNR { gone[$1] = 1; next } $1 == "ok" && $2 > t && $4 in gone { found = 1 } END { exit !found }' \
      t="$gone_at" "$STATE/stopped-instances" "$STATE/load"; then
    fail "the router sent requests to $STOPPED after its entries left"
  fi
  local slowest
  slowest=$(awk '$1 == "ok" && $5 > m { m = $5 } END { printf "%.2f", m }' "$STATE/load")
  pass "load loop: $oks ok, 0 failed ($during answered between the kill and the entries leaving; slowest ${slowest}s)"

  step "traffic continues on the other drones"
  first_visits "$A" "$B" 100
  if awk 'NR == FNR { gone[$1] = 1; next } $3 in gone { found = 1 } END { exit !found }' \
      "$STATE/stopped-instances" "$STATE/visits"; then
    fail "the router still sent requests to $STOPPED ($(paste -sd' ' - < "$STATE/stopped-instances"))"
  fi
  pass "no request went to $STOPPED"
  sticky_users
}

phase_drone_back() {
  local A B
  commits
  step "$STOPPED is back: the hub redeploys A and B there"
  local want
  want=$(expected_placement)
  wait_for 180 "A on every drone again" placed "$A" "$want"
  wait_for 180 "B on every drone again" placed "$B" "$want"
  show skyport registry show "$APP" --table
  pass "A and B on $want again"
  first_visits "$A" "$B" 100
  sticky_users
}

client_main() {
  case "${1:-}" in
    deploy) phase_deploy ;;
    load) phase_load ;;
    load-wait) phase_load_wait ;;
    drone-gone) phase_drone_gone ;;
    drone-back) phase_drone_back ;;
    *) echo "usage: $0 client deploy|load|load-wait|drone-gone|drone-back" >&2; exit 2 ;;
  esac
}

if [[ ${1:-} == client ]]; then
  shift
  client_main "$@"
else
  host_main
fi
