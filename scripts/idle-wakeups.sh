#!/usr/bin/env bash
# Counts how often an idle headroom process is woken: the context switches of all its threads
# per second, over a quiet window after one request has gone through (so every timer the
# request path arms has been armed once).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/idle-wakeups.sh [--seconds N] [BINARY]

Starts BINARY (default target/release/headroom) on a free loopback port with the model off and
a small Python upstream on loopback answering a fixed Anthropic-shaped JSON, sends one
/v1/messages POST through it, waits 2 s, then prints the context switches of all its threads
per second over N seconds (default 10). A laptop service should sit near zero.
USAGE
}

seconds=10
bin=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --seconds)
      [[ $# -ge 2 ]] || { echo "idle-wakeups: --seconds needs a number" >&2; exit 2; }
      seconds="$2"; shift ;;
    *) bin="$1" ;;
  esac
  shift
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${bin:-${root}/target/release/headroom}"
[[ -x "${bin}" ]] || { echo "idle-wakeups: ${bin} is missing (cargo build --release)" >&2; exit 1; }

# shellcheck source=scripts/lib/loopback.sh
source "${root}/scripts/lib/loopback.sh"
up_port="$(free_port)"
port="$(free_port)"
python3 - "${up_port}" <<'PY' &
import http.server, sys
body = b'{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}'
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
pids+=("$!")
write_headroom_config "${work}/headroom.yaml" "${port}" "${up_port}" info "${work}/stats.json"
"${bin}" -c "${work}/headroom.yaml" >"${work}/headroom.log" 2>&1 &
hp="$!"
pids+=("${hp}")
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:${port}/health" && break
  sleep 0.1
done
curl -s -o /dev/null -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
  --data-binary '{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}' \
  "http://127.0.0.1:${port}/v1/messages"
sleep 2
switches() { cat /proc/"${hp}"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s}'; }
threads() { find /proc/"${hp}"/task -mindepth 1 -maxdepth 1 | wc -l; }
a="$(switches)"
sleep "${seconds}"
b="$(switches)"
echo "$(basename "${bin}"): $(threads) threads; $(( (b - a) / seconds )) context switches per second while idle (over ${seconds} s)"
