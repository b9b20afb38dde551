#!/usr/bin/env bash
# Sets up what is missing, builds the release binary and runs the proxy on the embedded default
# config (extra arguments go to headroom, e.g. `-c conf/headroom.yaml` or `--port 8788`).
set -euo pipefail

case "${1:-}" in
  -h|--help)
    echo "Usage: scripts/run.sh [headroom args...]"
    echo "Installs what is missing (scripts/setup.sh), builds with cargo --release, runs headroom."
    exit 0 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --locked --release
exec ./target/release/headroom "$@"
