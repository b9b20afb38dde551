#!/usr/bin/env bash
# Counts the CPU instructions a proxy spends per small request, under valgrind's callgrind
# (instruction counts stay stable on a busy machine, unlike wall-clock figures), or with
# --strace the system calls it makes for them.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/callgrind-requests.sh [--requests N] [--connections N] [--log-level LEVEL]
                                    [--strace] [--mimalloc] [--cache-sim] [--model]
                                    [headroom|pingora|pingora-timeouts]

Starts nginx on loopback (a fixed Anthropic-shaped JSON answer), then the chosen proxy under
`valgrind --tool=callgrind` with instrumentation off; warms up with 50 requests, turns
instrumentation on for N keep-alive `/v1/messages` POSTs on one connection (curl), and prints
the instructions counted per request.

  headroom   target/release/headroom (or $HEADROOM_BIN), model disabled unless --model (the
             small-request path never runs it)
  pingora    the load bench's bare Pingora passthrough (`load --bare-pingora`)
  pingora-timeouts
             the same passthrough with headroom's default timeouts set (client body read,
             upstream connect/read/write/idle): Pingora's own cost of those timeouts is then
             in the floor, and headroom minus this is what headroom itself adds
  (headroom runs on mimalloc; the passthrough on the system allocator unless --mimalloc)

Build first: `cargo bench --bench load --no-run` (builds both in target/release). HEADROOM_BIN
and LOAD_BENCH (the load bench binary) take both from another build, e.g. scripts/pgo.sh's.
Needs valgrind, nginx and curl (and strace for --strace). The callgrind profile is kept for
callgrind_annotate.

Options:
  --requests N       requests to count (default 1000)
  --connections N    instead of curl on one connection, wrk on N keep-alive connections
                     (2 threads) for 3 s of warm-up and 8 s counted; every request wrk
                     completed is counted (needs wrk; not with --strace)
  --log-level LEVEL  headroom's `log.level` (default warn, as in the load bench; the default
                     config's `info` adds the per-request access line)
  --model            keep headroom's learned compressor enabled (the default config's): what
                     a loaded but unused model costs the small-request path
  --mimalloc         run the bare Pingora passthrough on mimalloc, headroom's allocator (the
                     load bench's `pingora-mi`), so the two differ only in headroom's own work
  --cache-sim        also simulate the caches and branch predictor (callgrind's --cache-sim
                     and --branch-sim) and print, per request, the L1 instruction and data
                     misses and the mispredicted conditional and indirect branches: where CPU
                     time per request differs by more than the instruction counts do
  --strace           run the proxy natively and count its system calls over the N requests
                     (`strace -c -f` attached after the warm-up) instead of instructions
  --perf             run the proxy natively under `wrk` (32 connections unless --connections
                     says otherwise) and sample where its CPU time goes with `perf record -e
                     cpu-clock` (software sampling: works where the VM exposes no hardware
                     counters); prints µs per request in the kernel and in user space (sampling
                     slows the proxy, so compare two targets measured the same way) and keeps
                     the profile as target/perf-TARGET.data for `perf report -i`; also
                     counts the context switches and page faults per request (`perf stat`);
                     `scripts/perf-compare.py pingora headroom` then sets two such
                     profiles side by side, µs per request by where the time went
  -h, --help         show this help
USAGE
}

requests=1000
connections=1
target=headroom
level=warn
mode=callgrind
bare_allocator=system
model=off
sim=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --requests)
      [[ $# -ge 2 ]] || { echo "callgrind-requests: --requests needs a number" >&2; exit 2; }
      requests="$2"; shift ;;
    --connections)
      [[ $# -ge 2 ]] || { echo "callgrind-requests: --connections needs a number" >&2; exit 2; }
      connections="$2"; shift ;;
    --log-level)
      [[ $# -ge 2 ]] || { echo "callgrind-requests: --log-level needs a level" >&2; exit 2; }
      level="$2"; shift ;;
    --strace) mode=strace ;;
    --mimalloc) bare_allocator=mimalloc ;;
    --model) model=on ;;
    --cache-sim) sim=(--cache-sim=yes --branch-sim=yes) ;;
    --perf) mode=perf ;;
    headroom | pingora | pingora-timeouts) target="$1" ;;
    *) echo "callgrind-requests: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools=(nginx curl valgrind callgrind_control)
[[ "${mode}" == strace ]] && tools=(nginx curl strace)
if [[ "${mode}" == perf ]]; then
  tools=(nginx curl wrk perf)
  [[ "${connections}" != 1 ]] || connections=32
elif [[ "${connections}" != 1 ]]; then
  [[ "${mode}" == callgrind ]] || { echo "callgrind-requests: --connections is not for --strace" >&2; exit 2; }
  tools+=(wrk)
fi
for tool in "${tools[@]}"; do
  command -v "${tool}" >/dev/null 2>&1 || { echo "callgrind-requests: needs ${tool} on PATH" >&2; exit 1; }
done
# shellcheck source=scripts/lib/loopback.sh
source "${root}/scripts/lib/loopback.sh"
up_port="$(free_port)"
proxy_port="$(free_port)"
start_answer_nginx "${up_port}"

case "${target}" in
  headroom)
    write_headroom_config "${work}/headroom.yaml" "${proxy_port}" "${up_port}" "${level}" \
      "${work}/stats.json"
    # The default config's model section: the learned compressor loaded.
    if [[ "${model}" == on ]]; then sed -i '/^model:$/,$d' "${work}/headroom.yaml"; fi
    cmd=("${HEADROOM_BIN:-${root}/target/release/headroom}" -c "${work}/headroom.yaml") ;;
  pingora | pingora-timeouts)
    bench="$(load_bench "${root}/target")"
    [[ -n "${bench}" ]] || { echo "callgrind-requests: build the load bench first (cargo bench --bench load --no-run)" >&2; exit 1; }
    cmd=("${bench}" --bare-pingora "127.0.0.1:${proxy_port}" "127.0.0.1:${up_port}")
    [[ "${target}" == pingora-timeouts ]] && cmd+=(--timeouts)
    export LOAD_BARE_ALLOCATOR="${bare_allocator}" ;;
esac
[[ -x "${cmd[0]}" ]] || { echo "callgrind-requests: ${cmd[0]} is missing (cargo bench --bench load --no-run)" >&2; exit 1; }

out="${work}/callgrind.out"
if [[ "${mode}" != callgrind ]]; then
  "${cmd[@]}" >"${work}/proxy.log" 2>&1 &
else
  valgrind --tool=callgrind "${sim[@]}" --instr-atstart=no --callgrind-out-file="${out}.%p" "${cmd[@]}" >"${work}/valgrind.log" 2>&1 &
fi
vg="$!"
pids+=("${vg}")

send() {
  local urls=() i
  for ((i = 0; i < $1; i++)); do urls+=("http://127.0.0.1:${proxy_port}/v1/messages"); done
  curl -s -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
    --data-binary "${REQUEST}" "${urls[@]}" | grep -o '"msg_01"' | wc -l
}
wait_for_post "${proxy_port}" 600 0.2
send 50 >/dev/null
if [[ "${mode}" == strace ]]; then
  strace -c -f -p "${vg}" -o "${work}/strace.txt" 2>/dev/null &
  st="$!"
  sleep 1
  answered="$(send "${requests}")"
  sleep 0.5
  kill -INT "${st}"
  wait "${st}" 2>/dev/null || true
  echo "${target}: ${answered} of ${requests} requests answered; system calls over them:"
  cat "${work}/strace.txt"
  exit 0
fi
if [[ "${mode}" == perf || "${connections}" != 1 ]]; then
  write_post_lua "${work}/post.lua"
  url="http://127.0.0.1:${proxy_port}/v1/messages"
  wrk -t2 -c"${connections}" -d3s -s "${work}/post.lua" "${url}" >/dev/null
  if [[ "${mode}" == perf ]]; then
    keep="${root}/target/perf-${target}.data"
    # One sample per this many µs of CPU time; saved with the request count for perf-compare.py.
    sample_us=200
    perf record -q -e cpu-clock -c "$((sample_us * 1000))" -g -p "${vg}" -o "${keep}" -- sleep 8 >/dev/null 2>&1 &
    pr="$!"
    perf stat -x, -e context-switches,page-faults -p "${vg}" -o "${work}/stat.txt" -- sleep 8 \
      >/dev/null 2>&1 &
    ps_="$!"
    sleep 0.1
    wrk -t2 -c"${connections}" -d8s -s "${work}/post.lua" "${url}" >"${work}/wrk.txt"
    wait "${pr}" || true
    wait "${ps_}" || true
    requests="$(awk '/requests in/ {print $1}' "${work}/wrk.txt")"
    echo "${requests} ${sample_us}" >"${keep%.data}.requests"
    awk -F, -v n="${requests}" -v t="${target}" '
      $3 == "context-switches" { cs = $1 } $3 == "page-faults" { pf = $1 }
      END { printf "%s: per request, context switches %.3f, page faults %.4f\n", t, cs / n, pf / n }' \
      "${work}/stat.txt"
    perf report -i "${keep}" --no-children --sort dso -g none -q -n 2>/dev/null |
      awk -v n="${requests}" -v t="${target}" -v k="${keep}" -v s="${sample_us}" '
        { if ($3 == "[kernel.kallsyms]") kernel += $2; else user += $2 }
        END { us = s / n
              printf "%s: %d requests on %s connections; CPU per request while sampled: kernel %.1f µs, user %.1f µs (profile: %s)\n", t, n, c, kernel * us, user * us, k }' c="${connections}"
    exit 0
  fi
  callgrind_control -i on "${vg}" >/dev/null 2>&1
  wrk -t2 -c"${connections}" -d8s -s "${work}/post.lua" "${url}" >"${work}/wrk.txt"
  requests="$(awk '/requests in/ {print $1}' "${work}/wrk.txt")"
  failed="$(awk '/Non-2xx/ {print $NF}' "${work}/wrk.txt")"
  answered="$((requests - ${failed:-0}))"
else
  callgrind_control -i on "${vg}" >/dev/null 2>&1
  answered="$(send "${requests}")"
fi
callgrind_control -d "${vg}" >/dev/null 2>&1
callgrind_control -i off "${vg}" >/dev/null 2>&1
profile="${out}.${vg}.1"
total="$(awk '/^summary:/ {print $2}' "${profile}")"
keep="${root}/target/callgrind-${target}.out"
cp "${profile}" "${keep}"
echo "${target}: ${answered} of ${requests} requests answered; $((total / requests)) instructions per request (profile: ${keep})"
if [[ ${#sim[@]} -gt 0 ]]; then
  # Each total by the event name the profile's `events:` line gives it.
  awk -v n="${requests}" '/^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
    /^summary:/ { for (e in col) v[e] = $col[e] / n
      printf "per request: L1 instruction misses %.0f, L1 data misses %.0f (read) + %.0f (write), conditional branches %.0f (%.0f mispredicted), indirect %.0f (%.0f mispredicted)\n",
        v["I1mr"], v["D1mr"], v["D1mw"], v["Bc"], v["Bcm"], v["Bi"], v["Bim"] }' "${profile}"
fi
