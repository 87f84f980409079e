#!/bin/sh
# Compose health checks.
#   skyport-healthcheck http://127.0.0.1:6010/healthz   an HTTP endpoint answers 2xx
#   skyport-healthcheck drone NAME                     the hub sees drone NAME attached
set -eu
case "${1:-}" in
  http://*)
    exec curl -fsS -o /dev/null --max-time 3 "$1" ;;
  drone)
    name=${2:?drone NAME}
    skyport --timeout 3 drones --json | python3 -c '
import json, sys
sys.exit(0 if any(d.get("name") == sys.argv[1] and d.get("connected") for d in json.load(sys.stdin)) else 1)' "$name" ;;
  *)
    echo "usage: skyport-healthcheck URL | drone NAME" >&2
    exit 2 ;;
esac
