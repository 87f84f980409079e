#!/bin/sh
# Container entrypoint: copies the cluster token (a compose secret, readable by root
# only when the host file is 0600) to a file the `skyport` user owns, makes sure the
# data directory is that user's, and runs the command as `skyport`.
# skyport-drone is the exception: it stays root, with the token root's alone, and runs
# each app as a uid of its own (--app-uids in docker-compose.yml), so no app can read the
# token, another app's files or processes, or become the drone's user.
# Run as another user (docker run --user), it just runs the command.
# The copy's path goes in the program's own variable (docs/operations.md, "Settings"):
# SKYPORT_DRONE_TOKEN_FILE for skyport-drone, ..., and SKYPORT_TOKEN_FILE for the CLI
# (set for every program, so that `skyport` run inside any container finds it).
set -eu

token_var() {
  case "$(basename "$1")" in
    skyport-registry) echo SKYPORT_REGISTRY_TOKEN_FILE ;;
    skyport-hub) echo SKYPORT_HUB_TOKEN_FILE ;;
    skyport-drone) echo SKYPORT_DRONE_TOKEN_FILE ;;
    skyport-router) echo SKYPORT_ROUTER_TOKEN_FILE ;;
    *) echo SKYPORT_TOKEN_FILE ;;
  esac
}

if [ "$(id -u)" -ne 0 ]; then
  # No copy to make: the program's own variable names the secret itself (a daemon does not read
  # the CLI's SKYPORT_TOKEN_FILE that the compose file sets), unless it is set already.
  var=$(token_var "$1")
  eval "own=\${$var:-}"
  if [ -z "$own" ] && [ -n "${SKYPORT_TOKEN_FILE:-}" ]; then export "$var=$SKYPORT_TOKEN_FILE"; fi
  exec "$@"
fi

secret=${SKYPORT_TOKEN_FILE:-/run/secrets/skyport_token}
if [ ! -f "$secret" ] || [ ! -s "$secret" ]; then
  echo "skyport-entrypoint: no cluster token at $secret." >&2
  echo "  On the host, run docker/make-token.sh (writes docker/secrets/token), then docker compose up again." >&2
  exit 1
fi
if [ "$(basename "$1")" = skyport-drone ]; then
  install -d -m 0700 -o root -g root /run/skyport
  install -m 0600 -o root -g root "$secret" /run/skyport/token
  export SKYPORT_TOKEN_FILE=/run/skyport/token "$(token_var "$1")=/run/skyport/token" HOME=/var/lib/skyport
  # The app user reaches its checkouts under DATA/deploy, nothing else of the drone's.
  chown root:root /var/lib/skyport/drone
  chmod 0711 /var/lib/skyport /var/lib/skyport/drone
  exec "$@"
fi
install -d -m 0700 -o skyport -g skyport /run/skyport
install -m 0600 -o skyport -g skyport "$secret" /run/skyport/token
export SKYPORT_TOKEN_FILE=/run/skyport/token "$(token_var "$1")=/run/skyport/token" HOME=/var/lib/skyport

# A named volume is created with the image's ownership; a bind mount may not be.
for d in /var/lib/skyport /var/lib/skyport/*; do
  if [ -d "$d" ] && [ "$(stat -c %U "$d")" != skyport ]; then chown skyport:skyport "$d"; fi
done

exec setpriv --reuid=skyport --regid=skyport --init-groups -- "$@"
