#!/usr/bin/env bash
# Profile-guided build: trains an instrumented build of headroom and of the load bench on the
# traffic the benches measure, merges the profile, and builds both again with it.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/pgo.sh [--profile-only]

1. Builds headroom and the load bench (whose bare Pingora passthrough is the baseline)
   instrumented (`-Cprofile-generate`) in target/pgo-gen.
2. Trains them on loopback: nginx answering a fixed Anthropic-shaped JSON; the passthrough on
   the system allocator and on mimalloc, and headroom in its default config (`info`, learned
   compressor loaded), each under `wrk` at 1 and at 32 connections; then `headroom compress`
   over every case of the real-output corpus (tests/fixtures/realworld/measure.py), so the
   compression paths are in the profile too and are not laid out as cold code.
3. Merges the profile into target/pgo.profdata (llvm-profdata from rustup's llvm-tools,
   installed when missing).
4. Unless --profile-only: builds the release binary and the load bench with
   `-Cprofile-use` in target/pgo-use, so headroom and its baseline are optimised alike.

Then measure with the same flags and target dir, e.g.
  RUSTFLAGS="-Cprofile-use=$PWD/target/pgo.profdata" CARGO_TARGET_DIR=target/pgo-use \
    LOAD_PARTS=load cargo bench --bench load
Needs what the load bench needs (nginx, wrk, curl) and the model files (scripts/setup-model.sh).
USAGE
}

build=yes
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --profile-only) build=no ;;
  "") ;;
  *) echo "pgo: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac
for tool in nginx wrk curl rustc rustup; do
  command -v "${tool}" >/dev/null 2>&1 || { echo "pgo: needs ${tool} on PATH" >&2; exit 1; }
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
profdata="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | awk '/^host:/ {print $2}')/bin/llvm-profdata"
if [[ ! -x "${profdata}" ]]; then
  rustup component add llvm-tools
fi
[[ -x "${profdata}" ]] || { echo "pgo: llvm-profdata is missing (rustup component add llvm-tools)" >&2; exit 1; }

gen="${root}/target/pgo-gen"
raw="${root}/target/pgo-raw"
merged="${root}/target/pgo.profdata"
RUSTFLAGS="-Cprofile-generate=${raw}" CARGO_TARGET_DIR="${gen}" \
  cargo bench --locked --bench load --no-run
# Build scripts ran instrumented too: only the training below goes into the profile.
rm -rf "${raw}"
mkdir -p "${raw}"

# shellcheck source=scripts/lib/loopback.sh
source "${root}/scripts/lib/loopback.sh"
bench="$(LOAD_BENCH="" load_bench "${gen}")"
[[ -n "${bench}" ]] || { echo "pgo: the instrumented load bench was not built" >&2; exit 1; }
up="$(free_port)"
start_answer_nginx "${up}"
ports=()
procs=()
for allocator in system mimalloc; do
  port="$(free_port)"
  LOAD_BARE_ALLOCATOR="${allocator}" "${bench}" --bare-pingora "127.0.0.1:${port}" \
    "127.0.0.1:${up}" >"${work}/bare-${allocator}.log" 2>&1 &
  procs+=("$!")
  pids+=("$!")
  ports+=("${port}")
done
port="$(free_port)"
# The default config's level and model: `info`, the learned compressor loaded.
write_headroom_config "${work}/headroom.yaml" "${port}" "${up}" info "${work}/stats.json"
sed -i '/^model:$/,$d' "${work}/headroom.yaml"
"${gen}/release/headroom" -c "${work}/headroom.yaml" >"${work}/headroom.log" 2>&1 &
procs+=("$!")
pids+=("$!")
ports+=("${port}")

write_post_lua "${work}/post.lua"
for p in "${ports[@]}"; do
  wait_for_post "${p}" 600 0.1
  for c in 1 32; do
    t=$(( c < 2 ? c : 2 ))
    wrk -t"${t}" -c"${c}" -d4s -s "${work}/post.lua" "http://127.0.0.1:${p}/v1/messages" >/dev/null
  done
done
python3 tests/fixtures/realworld/measure.py --headroom "${gen}/release/headroom" >/dev/null
# A clean exit writes each process's profile.
for p in "${procs[@]}"; do
  kill -TERM "${p}" 2>/dev/null || true
  wait "${p}" 2>/dev/null || true
done
shopt -s nullglob
files=("${raw}"/*.profraw)
[[ ${#files[@]} -gt 0 ]] || { echo "pgo: the training wrote no profile" >&2; exit 1; }
"${profdata}" merge -o "${merged}" "${files[@]}"
echo "pgo: merged ${#files[@]} profiles into ${merged}"
if [[ "${build}" == yes ]]; then
  RUSTFLAGS="-Cprofile-use=${merged}" CARGO_TARGET_DIR="${root}/target/pgo-use" \
    cargo bench --locked --bench load --no-run
  echo "pgo: optimised build in target/pgo-use/release (headroom and the load bench)"
fi
