#!/usr/bin/env bash
# Prepares a machine to build, run and test headroom: system packages, Python packages, the ONNX
# Runtime library and the default model. Safe to run again: it skips what is already there.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/setup.sh [--no-system] [--no-model] [--help]

Installs what headroom needs on a fresh machine:
  - system packages (Debian/Ubuntu via apt-get, as root or with sudo): cmake, pkg-config, curl, openssl,
    zsh, shellcheck, libxml2-utils, prometheus, wrk and valgrind (load bench, instruction counts),
    script (bsdutils), systemd-analyze (systemd), chromium (the dashboard's browser test),
    redis-server and nginx (the team-gateway tests start their own, as this user) — build
    tools and test equipment
  - Python packages from scripts/requirements.txt (pip, user or system site)
  - the ONNX Runtime library and the default model under .runtime/ and models/
    (scripts/setup-model.sh)
  - cargo-deny from crates.io (cargo install --locked; a few minutes, only when missing)

  --no-system   skip system packages
  --no-model    skip the runtime library and model
USAGE
}

system=1
model=1
for arg in "$@"; do
  case "$arg" in
    --no-system) system=0 ;;
    --no-model) model=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf 'setup: %s\n' "$*" >&2; }

install_system() {
  local wanted=(cmake pkg-config curl openssl bsdutils zsh shellcheck libxml2-utils prometheus wrk valgrind systemd chromium redis-server nginx)
  local missing=()
  local p
  if ! command -v dpkg >/dev/null 2>&1; then
    say "not a Debian-like system: install cmake (and, for the tests, prometheus, zsh, shellcheck, xmllint, wrk, valgrind, chromium) yourself"
    return 0
  fi
  for p in "${wanted[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      say "need root to install: ${missing[*]}"; return 1
    fi
  fi
  say "installing system packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
  local py="${PYTHON:-python3}"
  if ! command -v "$py" >/dev/null 2>&1; then
    say "python3 not found: install Python 3.9+ first"; return 1
  fi
  if "$py" - <<'PY' 2>/dev/null
import importlib.util, sys
mods = ["anthropic", "openai", "numpy", "onnx", "onnxruntime", "safetensors", "kubernetes_validate"]
sys.exit(0 if all(importlib.util.find_spec(m) for m in mods) else 1)
PY
  then
    return 0
  fi
  say "installing Python packages (scripts/requirements.txt)"
  "$py" -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt \
    || "$py" -m pip install --quiet --disable-pip-version-check --user -r scripts/requirements.txt \
    || "$py" -m pip install --quiet --disable-pip-version-check --break-system-packages -r scripts/requirements.txt
}

install_cargo_deny() {
  if cargo deny --version >/dev/null 2>&1; then
    return 0
  fi
  say "installing cargo-deny from crates.io (compiles for a few minutes, once)"
  cargo install --locked --quiet cargo-deny
}

[ "$system" -eq 1 ] && install_system
install_python
install_cargo_deny
if [ "$model" -eq 1 ]; then
  if [ -x scripts/setup-model.sh ]; then
    scripts/setup-model.sh
  else
    say "scripts/setup-model.sh missing: skipping the model"
  fi
fi
say "ready"
