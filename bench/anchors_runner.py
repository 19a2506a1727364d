"""Runs the reference trackers inside their own virtual environment (made by
../shared/anchors/install.sh); called by bench/compare_trackers.py, never
imported by dance.

    VENV/bin/python bench/anchors_runner.py OUT.json AUDIO.wav [AUDIO.wav ...]

Writes, per file: madmom's offline downbeats (RNN + DBN) and BeatNet model 1's
online (causal) downbeats, with each tracker's processing seconds.
"""

import json
import sys
import time

import numpy as np

if not hasattr(np, "in1d"):  # BeatNet's particle filter predates NumPy 2.4
    np.in1d = np.isin

from BeatNet.BeatNet import BeatNet  # noqa: E402
from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor  # noqa: E402


def madmom_downbeats(path):
    activations = RNNDownBeatProcessor()(path)
    beats = DBNDownBeatTrackingProcessor(beats_per_bar=[2, 3, 4, 5, 6, 7], fps=100)(activations)
    return [float(t) for t, number in beats if int(number) == 1]


def beatnet_downbeats(path):
    np.random.seed(0)  # the particle filter is random
    tracker = BeatNet(1, mode="online", inference_model="PF", plot=[], thread=False)
    beats = tracker.process(path)
    return [float(t) for t, kind in beats if int(kind) == 1]


def main():
    out, files = sys.argv[1], sys.argv[2:]
    results = {}
    for path in files:
        row = {}
        for name, track in (("madmom", madmom_downbeats), ("beatnet", beatnet_downbeats)):
            start = time.perf_counter()
            row[name] = track(path)
            row[name + "_seconds"] = time.perf_counter() - start
        results[path] = row
        print(f"{path}: madmom {len(row['madmom'])}, BeatNet {len(row['beatnet'])} downbeats", file=sys.stderr, flush=True)
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
