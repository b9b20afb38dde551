#!/usr/bin/env bash
# Compares headroom builds (and the bare Pingora baseline) under the same load, rounds
# interleaved with the order rotating, so slow drifts of a shared VM hit every build alike.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/compare-builds.sh [--rounds N] [--seconds S] [--connections C] BINARY...

Starts nginx on loopback (a fixed Anthropic-shaped JSON answer), the load bench's bare Pingora
passthrough on the system allocator (`pingora`) and on mimalloc, headroom's allocator
(`pingora-mi`), and each headroom BINARY (copies of target/release/headroom built from the commits
to compare) with the same config (model off, `log.level: warn`), then runs `wrk` with C
connections for S seconds against each in turn, N rounds, the order rotating each round. A
BINARY is run as `BINARY -c CONFIG`: a script that edits CONFIG and then runs headroom compares
configs instead of builds. LOAD_BENCH=PATH takes the passthrough from another build.
Prints each path's median req/s and the CPU time its process spent per request (user + system
from /proc/PID/stat), both as ratios to bare Pingora, and its context switches per request.

  --rounds N        rounds (default 12; a multiple of the number of paths is fairest)
  --seconds S       seconds per measurement (default 3)
  --connections C   wrk connections (default 32)

Build the bare passthrough first: `cargo bench --bench load --no-run`. Needs nginx, wrk, curl.
USAGE
}

rounds=12
secs=3
conns=32
bins=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
    --seconds) secs="${2:?--seconds needs a number}"; shift ;;
    --connections) conns="${2:?--connections needs a number}"; shift ;;
    -*) echo "compare-builds: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) bins+=("$1") ;;
  esac
  shift
done
[[ ${#bins[@]} -gt 0 ]] || { usage >&2; exit 2; }
for tool in nginx wrk curl; do
  command -v "${tool}" >/dev/null 2>&1 || { echo "compare-builds: needs ${tool} on PATH" >&2; exit 1; }
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/loopback.sh
source "${root}/scripts/lib/loopback.sh"
bench="$(load_bench "${root}/target")"
[[ -n "${bench}" ]] || { echo "compare-builds: build the load bench first (cargo bench --bench load --no-run)" >&2; exit 1; }
up="$(free_port)"
start_answer_nginx "${up}"

names=(pingora pingora-mi)
ports=("$(free_port)" "$(free_port)")
procs=()
for j in 0 1; do
  allocator=system
  [[ "${j}" == 1 ]] && allocator=mimalloc
  LOAD_BARE_ALLOCATOR="${allocator}" "${bench}" --bare-pingora "127.0.0.1:${ports[$j]}" \
    "127.0.0.1:${up}" >"${work}/${names[$j]}.log" 2>&1 &
  procs+=("$!")
  pids+=("$!")
done
i=0
for bin in "${bins[@]}"; do
  [[ -x "${bin}" ]] || { echo "compare-builds: ${bin} is not an executable" >&2; exit 1; }
  port="$(free_port)"
  write_headroom_config "${work}/headroom${i}.yaml" "${port}" "${up}" warn "${work}/stats${i}.json"
  "${bin}" -c "${work}/headroom${i}.yaml" >"${work}/headroom${i}.log" 2>&1 &
  procs+=("$!")
  pids+=("$!")
  names+=("${i}:$(basename "${bin}")")
  ports+=("${port}")
  i=$((i + 1))
done

write_post_lua "${work}/post.lua"
threads=$(( conns < 2 ? conns : 2 ))
for j in "${!ports[@]}"; do
  wait_for_post "${ports[$j]}" 300 0.1
  wrk -t"${threads}" -c"${conns}" -d2s -s "${work}/post.lua" "http://127.0.0.1:${ports[$j]}/v1/messages" >/dev/null
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s}'; }
tck="$(getconf CLK_TCK)"
n="${#ports[@]}"
for r in $(seq 1 "${rounds}"); do
  for k in $(seq 0 $((n - 1))); do
    j=$(( (k + r) % n ))
    p="${procs[$j]}"
    c0="$(cpu_ticks "${p}")"; w0="$(switches "${p}")"
    out="$(wrk -t"${threads}" -c"${conns}" -d"${secs}s" -s "${work}/post.lua" "http://127.0.0.1:${ports[$j]}/v1/messages")"
    c1="$(cpu_ticks "${p}")"; w1="$(switches "${p}")"
    reqs="$(awk '/requests in/ {print $1}' <<<"${out}")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"${out}")"
    echo "${names[$j]} ${rps} $(( c1 - c0 )) $(( w1 - w0 )) ${reqs}"
  done
done | python3 -c '
import statistics as st, sys
tck = float(sys.argv[1])
rows = [l.split() for l in sys.stdin if l.strip()]
order = []
for r in rows:
    if r[0] not in order:
        order.append(r[0])
def med(name, f):
    return st.median(f(r) for r in rows if r[0] == name)
rps = {n: med(n, lambda r: float(r[1])) for n in order}
cpu = {n: med(n, lambda r: float(r[2]) / tck / float(r[4]) * 1e6) for n in order}
csw = {n: med(n, lambda r: float(r[3]) / float(r[4])) for n in order}
base = "pingora"
mi = "pingora-mi"
print("%-22s %7s  %-12s %-12s %10s  %-12s %-12s %s" % ("path", "req/s", "(vs pingora)", "(vs -mi)", "CPU us/req", "(vs pingora)", "(vs -mi)", "switches/req"))
for n in sorted(order, key=lambda n: (n != base, n != mi, n)):
    print("%-22s %7.0f  %6.3fx       %6.3fx       %10.2f  %6.3fx       %6.3fx       %.3f" % (n, rps[n], rps[n] / rps[base], rps[n] / rps[mi], cpu[n], cpu[n] / cpu[base], cpu[n] / cpu[mi], csw[n]))
' "${tck}"
