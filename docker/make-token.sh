#!/bin/sh
# Writes a new cluster token to docker/secrets/token (mode 0600) unless one is there.
# docker-compose.yml hands it to every container as the secret `skyport_token`.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)/secrets
mkdir -p "$dir"
if [ -s "$dir/token" ]; then
  echo "token exists: $dir/token"
  exit 0
fi
(umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/token")
echo "wrote $dir/token"
