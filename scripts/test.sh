#!/usr/bin/env bash
# Sets up what is missing, then runs every check CI runs: formatting, clippy (warnings are
# errors), cargo-deny (licences, bans, sources; advisories when the RustSec database can be had)
# and the whole test suite (unit, integration, SDK, Prometheus, service scripts, fuzz-corpus
# replay) of every crate in the workspace. This is the command CI runs.
set -euo pipefail

case "${1:-}" in
  -h|--help)
    cat <<'USAGE'
Usage: scripts/test.sh [cargo test args...]

Installs what is missing (scripts/setup.sh), then runs, stopping at the first failure:
  cargo fmt --all --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
  cargo deny check            (see below)
  cargo test --locked --workspace --lib --bins --tests [args...]

cargo deny: licences, bans and sources are always checked (offline, from Cargo.lock and the
crates cargo already fetched). Advisories need the RustSec database from GitHub: it is used
when a copy exists under $CARGO_HOME/advisory-dbs or can be fetched; otherwise the advisories
check is skipped with a notice (set HEADROOM_REQUIRE_ADVISORIES=1 to make that an error).
USAGE
    exit 0 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'test: %s\n' "$*" >&2; }

scripts/setup.sh

say "cargo fmt --all --check"
cargo fmt --all --check

say "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings

# cargo-deny reads every platform's crates offline; a build fetches only this one's.
say "cargo fetch --locked"
cargo fetch --locked --quiet

db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
have_db() { compgen -G "$db_dir/*/crates" >/dev/null 2>&1; }
if ! have_db; then
  say "fetching the RustSec advisory database"
  timeout 120 cargo deny --log-level error fetch db >/dev/null 2>&1 || true
fi
if have_db; then
  say "cargo deny check (advisories from $db_dir, licences, bans, sources)"
  cargo deny --offline check
elif [ "${HEADROOM_REQUIRE_ADVISORIES:-0}" = 1 ]; then
  say "no RustSec advisory database in $db_dir and none could be fetched"
  exit 1
else
  say "NOTICE: no RustSec advisory database (offline?): advisories NOT checked"
  say "cargo deny check licenses bans sources"
  cargo deny --offline check licenses bans sources
fi

say "cargo test --locked --workspace --lib --bins --tests $*"
exec cargo test --locked --workspace --lib --bins --tests "$@"
