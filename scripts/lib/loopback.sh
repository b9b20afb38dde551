# Shared by the measurement scripts (sourced, not run): a scratch directory removed on exit
# with every process started through it, free loopback ports, the release load bench binary,
# nginx answering a fixed Anthropic-shaped JSON, headroom's config for these runs, and the small
# `/v1/messages` POST they all send.
# shellcheck shell=bash

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "${p}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "${work}"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The newest load bench binary under TARGET_DIR/release/deps (empty when none is built), or
# $LOAD_BENCH when set: the bare passthrough from another build (e.g. one with other profile
# settings, built with CARGO_TARGET_DIR elsewhere).
load_bench() {
  local f found=""
  if [[ -n "${LOAD_BENCH:-}" ]]; then
    echo "${LOAD_BENCH}"
    return
  fi
  for f in "$1"/release/deps/load-*; do
    [[ -x "${f}" && "${f}" != *.d && ( -z "${found}" || "${f}" -nt "${found}" ) ]] && found="${f}"
  done
  echo "${found}"
}

ANSWER='{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"An empty list gives None."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":9,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}'

# The small `/v1/messages` body every run sends (the load bench's).
REQUEST='{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"What does this function return when the list is empty?"}]}'

# Writes FILE: a wrk script POSTing REQUEST with the headers an Anthropic client sends.
write_post_lua() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = '${REQUEST}'
wrk.headers["content-type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
LUA
}

# Waits until 127.0.0.1:PORT answers a POST to /v1/messages: up to TRIES tries, PAUSE seconds
# apart (then goes on; the run's own requests show what answers).
wait_for_post() {
  local port="$1" tries="$2" pause="$3" _
  for _ in $(seq 1 "${tries}"); do
    curl -s -o /dev/null -X POST "http://127.0.0.1:${port}/v1/messages" && return 0
    sleep "${pause}"
  done
}

# Starts one nginx worker on 127.0.0.1:PORT answering every request with ANSWER.
start_answer_nginx() {
  local port="$1"
  mkdir -p "${work}/nginx/tmp"
  cat >"${work}/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid ${work}/nginx/nginx.pid;
error_log ${work}/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${work}/nginx/tmp;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location / { default_type application/json; return 200 '${ANSWER}'; }
  }
}
CONF
  nginx -p "${work}/nginx" -c "${work}/nginx/nginx.conf" &
  pids+=("$!")
}

# Writes FILE: headroom on 127.0.0.1:PORT in front of 127.0.0.1:UPSTREAM_PORT, log level LEVEL,
# its stats in STATS, the model off (the small-request path never runs it).
write_headroom_config() {
  local file="$1" port="$2" upstream="$3" level="$4" stats="$5"
  cat >"${file}" <<CONF
listen: 127.0.0.1:${port}
upstreams:
  anthropic: http://127.0.0.1:${upstream}
  openai: http://127.0.0.1:${upstream}
log:
  level: ${level}
stats:
  path: ${stats}
model:
  enabled: false
CONF
}
