# shellcheck shell=bash
# headroom shell integration for bash and zsh. Add to ~/.zshrc or ~/.bashrc:
#
#   [ -f /path/to/headroom/launchd/shell-integration.sh ] && . /path/to/headroom/launchd/shell-integration.sh
#
# If the proxy answers http://127.0.0.1:$HEADROOM_PROXY_PORT/health (port 8787 by default), it
# exports ANTHROPIC_BASE_URL=http://localhost:PORT so Claude Code and the SDKs go through it.
# If it does not answer but the service is installed (LaunchAgent, or systemd user unit), it
# starts the service, waits a few seconds and checks again. It is quiet unless it started
# something or something is wrong, takes a few milliseconds when nothing is installed, runs
# once per shell, and leaves behind only ANTHROPIC_BASE_URL and the guard
# HEADROOM_SHELL_INTEGRATION_LOADED.
#
# Settings (environment): HEADROOM_PROXY_PORT (8787), HEADROOM_SERVICE_LABEL (launchd label
# com.headroom.proxy, or systemd unit headroom).
#
# This file is sourced into your interactive shell, so unlike the other scripts it does not
# `set -euo pipefail`: that would change your shell's own options.

if [ -z "${HEADROOM_SHELL_INTEGRATION_LOADED:-}" ]; then
  HEADROOM_SHELL_INTEGRATION_LOADED=1

  __headroom_shell_integration() {
    local port url label plist unit manager tries
    port="${HEADROOM_PROXY_PORT:-8787}"
    url="http://127.0.0.1:${port}/health"
    if ! command -v curl >/dev/null 2>&1; then
      echo "headroom: curl not found; cannot check the proxy, ANTHROPIC_BASE_URL not set" >&2
      return 0
    fi
    if curl -fsS --max-time 1 "${url}" 2>/dev/null | grep -q '"status" *: *"healthy"'; then
      export ANTHROPIC_BASE_URL="http://localhost:${port}"
      return 0
    fi

    plist="${HOME}/Library/LaunchAgents/${HEADROOM_SERVICE_LABEL:-com.headroom.proxy}.plist"
    unit="${HOME}/.config/systemd/user/${HEADROOM_SERVICE_LABEL:-headroom}.service"
    manager=""
    if [ -f "${plist}" ] && command -v launchctl >/dev/null 2>&1; then
      manager=launchd
      label="${HEADROOM_SERVICE_LABEL:-com.headroom.proxy}"
      # Not loaded: bootstrap it. Loaded but not answering: ask launchd to start it now.
      launchctl bootstrap "gui/$(id -u)" "${plist}" >/dev/null 2>&1 ||
        launchctl kickstart "gui/$(id -u)/${label}" >/dev/null 2>&1
    elif [ -f "${unit}" ] && command -v systemctl >/dev/null 2>&1; then
      manager=systemd
      label="${HEADROOM_SERVICE_LABEL:-headroom}"
      systemctl --user start "${label}.service" >/dev/null 2>&1
    else
      echo "headroom: no proxy answers on port ${port} and no service is installed (launchd/install.sh); ANTHROPIC_BASE_URL not set" >&2
      return 0
    fi

    tries=0
    while [ "${tries}" -lt 20 ]; do
      if curl -fsS --max-time 1 "${url}" 2>/dev/null | grep -q '"status" *: *"healthy"'; then
        export ANTHROPIC_BASE_URL="http://localhost:${port}"
        echo "headroom: started the proxy (${label}) on port ${port}"
        return 0
      fi
      sleep 0.25
      tries=$((tries + 1))
    done
    if [ "${manager}" = launchd ]; then
      echo "headroom: started ${label} but it does not answer on port ${port}; see ~/Library/Logs/headroom/ or run: headroom doctor" >&2
    else
      echo "headroom: started ${label} but it does not answer on port ${port}; see: journalctl --user -u ${label} -e, or run: headroom doctor" >&2
    fi
    return 0
  }

  __headroom_shell_integration
  unset -f __headroom_shell_integration
fi
