#!/usr/bin/env bash
# Sets up a fresh Debian machine for dance: system packages (FluidSynth, three
# General MIDI soundfonts, MMA) and the Python package with its test tools.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(fluidsynth fluid-soundfont-gm musescore-general-soundfont-small timgm6mb-soundfont mma)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -o DPkg::Lock::Timeout=600 -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
# the CPU build of torch first, so nothing pulls a multi-GB CUDA build
"$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -e ".[test]"
echo "setup done: $(fluidsynth --version | head -1), mma $(mma -v 2>&1 | head -1 | tr -d '\n'), dance $("$PY" -c 'import dance.cli; print("ok")')"
