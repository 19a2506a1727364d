"""Fit and check the confidence (`dance.stream.Confidence`) on the real-music
development benchmark: per frame, the averaged length of the bar head's
vector against whether the phase is within 0.1 bar of the truth.

    python bench/confidence.py                      # the shipped model; fit, table, docs/confidence.png
    python bench/confidence.py --model checkpoints/beats/26.pt --picture /tmp/c.png

Prints the logistic fit (CONFIDENCE_SLOPE, CONFIDENCE_MIDPOINT for
dance/config.py) and the reliability of the confidence as configured now:
per bin of confidence, the frames, their mean phase error and the share
within 0.1 bar (a calibrated confidence has that share near the bin's value).
Frames of the first 5 s count too: the confidence should be low there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dance import config, metrics  # noqa: E402
from dance.evaluate import read_rendered  # noqa: E402
from dance.inference import DEFAULT_MODEL, load_model, predict  # noqa: E402

BINS = np.linspace(0, 1, 11)


def frames_of(model, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(averaged vector length, confidence, phase error) of every frame of every excerpt, at anticipation 0."""
    averages, confidences, errors = [], [], []
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["excerpts"]:
        item = read_rendered(folder / entry["file"])
        prediction = predict(model, item.samples, 0.0)
        errors.append(metrics.circular_distance(prediction.phases, item.true_phase(prediction.times, 0.0)))
        confidences.append(prediction.confidences)
        averages.append(averaged_lengths(prediction.confidences))
    return np.concatenate(averages), np.concatenate(confidences), np.concatenate(errors)


def averaged_lengths(confidences: np.ndarray) -> np.ndarray:
    """The averaged vector length behind each confidence (the logistic inverted)."""
    c = np.clip(confidences.astype(np.float64), 1e-9, 1 - 1e-9)
    return config.CONFIDENCE_MIDPOINT + np.log(c / (1 - c)) / config.CONFIDENCE_SLOPE


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """(slope, midpoint) of P(y) = 1 / (1 + exp(-slope (x - midpoint))), by Newton's method."""
    w = np.zeros(2)
    features = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-features @ w))
        gradient = features.T @ (y - p)
        hessian = (features * (p * (1 - p))[:, None]).T @ features + 1e-9 * np.eye(2)
        w += np.linalg.solve(hessian, gradient)
    return float(w[0]), float(-w[1] / w[0])


def reliability(confidences: np.ndarray, errors: np.ndarray) -> list[tuple[float, float, int, float, float]]:
    """(bin low, bin high, frames, mean error, share within LOCK_TOLERANCE) per confidence bin."""
    rows = []
    for low, high in zip(BINS[:-1], BINS[1:]):
        inside = (confidences >= low) & ((confidences < high) | (high == 1.0))
        if inside.any():
            rows.append((low, high, int(inside.sum()), float(errors[inside].mean()), float((errors[inside] < metrics.LOCK_TOLERANCE).mean())))
    return rows


def picture(rows, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = [(low + high) / 2 for low, high, *_ in rows]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot([0, 1], [0, 1], color="#bbb", lw=1, label="calibrated")
    ax.plot(centres, [r[4] for r in rows], "o-", color="#e63", label="share within 0.1 bar")
    ax.plot(centres, [r[3] for r in rows], "s--", color="#369", label="mean phase error (bars)")
    for centre, r in zip(centres, rows):
        ax.annotate(f"{r[2] / 1000:.0f}k", (centre, r[4]), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xlabel("confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Confidence on the development benchmark (frames per bin)", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=Path("data/devbench"), help="built by `python bench/devbench.py build`")
    parser.add_argument("--picture", type=Path, default=Path("docs/confidence.png"))
    args = parser.parse_args()
    if not (args.data / "manifest.json").exists():
        sys.exit(f"no development benchmark in {args.data}: run `python bench/devbench.py build` first")
    averages, confidences, errors = frames_of(load_model(args.model), args.data)
    slope, midpoint = fit_logistic(averages, (errors < metrics.LOCK_TOLERANCE).astype(float))
    print(f"{len(errors)} frames of {args.data}, model {args.model}")
    print(f"logistic fit of P(error < {metrics.LOCK_TOLERANCE} bar): CONFIDENCE_SLOPE = {slope:.2f}, CONFIDENCE_MIDPOINT = {midpoint:.2f}")
    print(f"as configured (slope {config.CONFIDENCE_SLOPE}, midpoint {config.CONFIDENCE_MIDPOINT}):\n")
    print("| confidence | frames | mean phase error (bars) | within 0.1 bar |\n|---|---|---|---|")
    rows = reliability(confidences, errors)
    for low, high, count, error, share in rows:
        print(f"| {low:.1f}–{high:.1f} | {count} | {error:.3f} | {share:.2f} |")
    picture(rows, args.picture)
    print(f"\nreliability plot -> {args.picture}")


if __name__ == "__main__":
    from dance.errors import run_script

    run_script(main, "confidence")
