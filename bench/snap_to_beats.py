"""An offline experiment on a model with a beat head: move the bar phase onto
the nearest beat of the beat phase, and score both on the development
benchmark at anticipation 0 (README section 8).

    python bench/snap_to_beats.py --model checkpoints/beats/26.pt

The beats per bar N come from the two phases' rates over the last --window
frames (unwrapped rise of the beat phase / that of the bar phase, rounded);
the snapped bar phase is (round(N*phase - beat) + beat) / N. Causal: each
frame uses only frames before it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dance import metrics  # noqa: E402
from dance.evaluate import read_rendered  # noqa: E402
from dance.inference import load_model, predict  # noqa: E402


def unwrap(phases: np.ndarray) -> np.ndarray:
    return phases[0] + np.concatenate([[0.0], np.cumsum(np.mod(np.diff(phases) + 0.5, 1.0) - 0.5)])


def snapped(bar: np.ndarray, beat: np.ndarray, window: int) -> np.ndarray:
    bar, beat = bar.astype(np.float64), beat.astype(np.float64)
    bar_rise, beat_rise = unwrap(bar), unwrap(beat)
    out = bar.copy()
    for t in range(10, len(bar)):
        start = max(0, t - window)
        bars = bar_rise[t] - bar_rise[start]
        if bars <= 0.05:
            continue
        n = int(round((beat_rise[t] - beat_rise[start]) / bars))
        if 1 <= n <= 12:
            out[t] = np.mod((np.round(bar[t] * n - beat[t]) + beat[t]) / n, 1.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a checkpoint with a beat head")
    parser.add_argument("--data", type=Path, default=Path("data/devbench"))
    parser.add_argument("--window", type=int, default=100, help="frames for the beats-per-bar estimate (default 100: 2 s)")
    args = parser.parse_args()
    model = load_model(args.model)
    scores: dict = defaultdict(lambda: defaultdict(list))
    for entry in json.loads((args.data / "manifest.json").read_text())["excerpts"]:
        item = read_rendered(args.data / entry["file"])
        p = predict(model, item.samples, 0.0)
        if not p.has_beats:
            sys.exit(f"{args.model} has no beat head")
        truth = item.true_phase(p.times, 0.0)
        reference = item.bar_starts[(item.bar_starts > 0) & (item.bar_starts <= p.times[-1])]
        for variant, phases in (("raw", p.phases), ("snapped", snapped(p.phases, p.beat_phases, args.window))):
            for group in (entry["slice"], "all"):
                scores[group][variant].append((metrics.phase_error(p.times, phases, truth),
                                               metrics.downbeat_f1(reference, metrics.downbeats(p.times, phases))))
    print("| slice | raw: error / F1 | snapped: error / F1 |\n|---|---|---|")
    for group, variants in scores.items():
        cells = [" / ".join(f"{v:.3f}" for v in np.nanmean(np.array(variants[name]), axis=0)) for name in ("raw", "snapped")]
        print(f"| {group} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    from dance.errors import run_script

    run_script(main, "snap_to_beats")
