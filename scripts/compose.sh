#!/bin/bash
# `docker compose` where the plugin exists, Debian's docker-compose (v1)
# otherwise; the compose file works with both.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  exec docker compose "$@"
elif command -v docker-compose >/dev/null 2>&1; then
  exec docker-compose "$@"
fi
echo "compose: neither 'docker compose' nor docker-compose is installed (apt-get install docker-compose)" >&2
exit 1
