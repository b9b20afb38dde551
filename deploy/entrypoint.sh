#!/bin/sh
# Entrypoint of the headroom image: checks the mounted config, then execs the proxy on it so
# the proxy is PID 1's direct child signal target (SIGTERM drains, see docs/team.md).
#   HEADROOM_CONFIG   config file (default /etc/headroom/headroom.yaml); mount it read-only
#   HEADROOM_REDIS_URL, HEADROOM_HOST, HEADROOM_PROXY_PORT   override the file's values
# Any arguments are passed to `headroom` after `-c FILE` (e.g. `check`).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
config="${HEADROOM_CONFIG:-/etc/headroom/headroom.yaml}"
if [ ! -r "$config" ]; then
  echo "headroom entrypoint: no readable config at $config: mount one (see deploy/headroom-team.yaml) or set HEADROOM_CONFIG" >&2
  exit 2
fi
if [ "$#" -gt 0 ]; then
  exec "$here/headroom" -c "$config" "$@"
fi
exec "$here/headroom" -c "$config"
