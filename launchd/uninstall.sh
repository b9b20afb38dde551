#!/usr/bin/env bash
# Removes the headroom per-user service installed by install.sh. Safe to run again.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: launchd/uninstall.sh [options]

Stops the headroom service and removes its service file:
  macOS  `launchctl bootout gui/UID/LABEL`, removes ~/Library/LaunchAgents/LABEL.plist
  Linux  `systemctl --user disable --now LABEL`, removes ~/.config/systemd/user/LABEL.service
Running it when nothing is installed is not an error.

Options:
  --label L        service label (default: com.headroom.proxy on macOS, headroom on Linux)
  --remove-logs    macOS: also delete this service's logs in ~/Library/Logs/headroom (and the
                   directory once it is empty). Without it you are asked in a terminal;
                   with --unattended the logs are kept.
  --platform P     macos or linux (default: detected with uname -s)
  --unattended     never ask
  -h, --help       show this help
EOF
}

say() { printf 'headroom uninstall: %s\n' "$*"; }
fail() { printf 'headroom uninstall: error: %s\n' "$*" >&2; exit 1; }

label=""
platform=""
remove_logs=0
unattended=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --label | --platform)
      [[ $# -ge 2 ]] || fail "$1 needs a value (see --help)"
      if [[ "$1" == --label ]]; then label="$2"; else platform="$2"; fi
      shift
      ;;
    --remove-logs) remove_logs=1 ;;
    --unattended) unattended=1 ;;
    *) fail "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

interactive=0
if [[ ${unattended} -eq 0 && -t 0 && -t 1 ]]; then interactive=1; fi

if [[ -z "${platform}" ]]; then
  case "$(uname -s)" in
    Darwin) platform=macos ;;
    Linux) platform=linux ;;
    *) fail "unsupported system $(uname -s)" ;;
  esac
fi
[[ "${platform}" == macos || "${platform}" == linux ]] || fail "--platform must be macos or linux, not '${platform}'"
if [[ -z "${label}" ]]; then
  if [[ "${platform}" == macos ]]; then label=com.headroom.proxy; else label=headroom; fi
fi
[[ "${label}" =~ ^[A-Za-z0-9_][A-Za-z0-9._-]*$ ]] || fail "label '${label}' may only contain letters, digits, '.', '-' and '_'"

uninstall_macos() {
  local target plist log_dir out_log err_log answer removed=0
  target="gui/$(id -u)/${label}"
  plist="${HOME}/Library/LaunchAgents/${label}.plist"
  log_dir="${HOME}/Library/Logs/headroom"
  if [[ "${label}" == com.headroom.proxy ]]; then
    out_log="${log_dir}/proxy.log"
    err_log="${log_dir}/proxy-error.log"
  else
    out_log="${log_dir}/${label}.log"
    err_log="${log_dir}/${label}-error.log"
  fi

  if launchctl print "${target}" >/dev/null 2>&1; then
    launchctl bootout "${target}" >/dev/null 2>&1 || launchctl bootout "gui/$(id -u)" "${plist}" >/dev/null 2>&1 || true
    say "stopped ${label}"
    removed=1
  fi
  if [[ -f "${plist}" ]]; then
    rm -f "${plist}"
    say "removed ${plist}"
    removed=1
  fi
  [[ ${removed} -eq 1 ]] || say "${label} is not installed; nothing to stop or remove"

  if [[ -e "${out_log}" || -e "${err_log}" ]]; then
    if [[ ${remove_logs} -eq 0 && ${interactive} -eq 1 ]]; then
      read -r -p "Delete the logs (${out_log}, ${err_log})? [y/N] " answer
      [[ ! "${answer}" =~ ^[Yy] ]] || remove_logs=1
    fi
    if [[ ${remove_logs} -eq 1 ]]; then
      # This service's logs and any rotated copies of them; other instances keep theirs.
      rm -f "${out_log}" "${out_log}".* "${err_log}" "${err_log}".*
      say "removed the logs of ${label}"
    else
      say "kept the logs in ${log_dir} (remove them with --remove-logs)"
    fi
  fi
  if [[ ${remove_logs} -eq 1 && -d "${log_dir}" ]] && rmdir "${log_dir}" 2>/dev/null; then
    say "removed ${log_dir}"
  fi
}

uninstall_linux() {
  local unit removed=0
  unit="${HOME}/.config/systemd/user/${label}.service"
  if command -v systemctl >/dev/null 2>&1; then
    if systemctl --user is-active --quiet "${label}.service" 2>/dev/null || [[ -f "${unit}" ]]; then
      systemctl --user disable --now "${label}.service" >/dev/null 2>&1 || true
      say "stopped and disabled ${label}"
      removed=1
    fi
  fi
  if [[ -f "${unit}" ]]; then
    rm -f "${unit}"
    if command -v systemctl >/dev/null 2>&1; then systemctl --user daemon-reload >/dev/null 2>&1 || true; fi
    say "removed ${unit}"
    removed=1
  fi
  [[ ${removed} -eq 1 ]] || say "${label} is not installed; nothing to stop or remove"
  if [[ -f "${HOME}/.config/headroom/env" ]]; then
    say "kept ${HOME}/.config/headroom/env (it may hold ANTHROPIC_API_KEY; delete it yourself if unused)"
  fi
  say "logs stay in the journal: journalctl --user -u ${label}"
}

if [[ "${platform}" == macos ]]; then uninstall_macos; else uninstall_linux; fi
