#!/usr/bin/env bash
# Sets up what is missing, then runs the whole test suite (unit, integration, SDK, Prometheus,
# service scripts, fuzz-corpus replay). This is the command CI runs.
set -euo pipefail

case "${1:-}" in
  -h|--help)
    echo "Usage: scripts/test.sh [cargo test args...]"
    echo "Installs what is missing (scripts/setup.sh), then runs: cargo test --lib --bins --tests"
    exit 0 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
exec cargo test --locked --lib --bins --tests "$@"
