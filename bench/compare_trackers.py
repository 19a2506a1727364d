"""Benchmark: dance side by side with madmom (offline RNN + DBN, non-causal)
and BeatNet model 1 (online CRNN + particle filter, causal) on the same audio.

    python bench/compare_trackers.py [--rendered data/rendered/validation]
        [--anchors-venv ../anchors-venv] [--per-subset 6] [--seconds 40] [--out results/compare]

Subsets, cut from rendered validation songs (unseen songs, rendered with a
soundfont no model trained on, so every subset is also "unseen timbre"):
by meter; around a tempo change; around a meter change; excerpts that start
mid-bar. Metrics come from dance.metrics; an anchor's phase is causal: the
time since its last downbeat over its last bar length. Writes compare.md,
compare.json and PNG charts to --out. The anchors are installed with
`../shared/anchors/install.sh VENV`; without them only dance is measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import soundfile  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

from dance import config, metrics  # noqa: E402
from dance.data.labels import frame_instants, phase_at  # noqa: E402
from dance.data.formats import find_labelled  # noqa: E402
from dance.evaluate import Labelled, read_rendered, score  # noqa: E402
from dance.inference import DEFAULT_MODEL, load_model, predict_phase  # noqa: E402

ANCHOR_RATE = 44100  # madmom's models expect 44.1 kHz; BeatNet resamples itself


def excerpt(item: Labelled, start: float, seconds: float, name: str, subset: str, change: float | None = None):
    """(subset, excerpt, time of the change within the excerpt or None)."""
    first, last = int(start * config.SAMPLE_RATE), int((start + seconds) * config.SAMPLE_RATE)
    starts = item.bar_starts - start
    cut = replace(item, name=name, samples=item.samples[first:last], bar_starts=starts,
                  truth=lambda times, a, starts=starts: phase_at(times, starts),
                  beat_starts=None if item.beat_starts is None else item.beat_starts - start)
    return subset, cut, None if change is None else change - start


def choose(items: list[Labelled], per_subset: int, seconds: float) -> list[tuple[str, Labelled, float | None]]:
    """(subset, excerpt) pairs: up to per_subset per meter and per change kind, and mid-bar starts."""
    chosen, counts = [], defaultdict(int)
    for item in items:
        lengths = np.diff(item.bar_starts)
        meter_changes = [item.bar_starts[i] for i in range(1, len(item.meters)) if item.meters[i] != item.meters[i - 1]]
        tempo_changes = [p for p in metrics.change_points(item.bar_starts) if p not in meter_changes]
        if item.meter != "changes" and counts[f"meter {item.meter}"] < per_subset:
            counts[f"meter {item.meter}"] += 1
            chosen.append(excerpt(item, 0.0, seconds, f"{item.name}", f"meter {item.meter}"))
        for kind, points in (("tempo change", tempo_changes), ("meter change", meter_changes)):
            if points and counts[kind] < per_subset and points[0] > 10:
                counts[kind] += 1
                start = points[0] - 15 if points[0] > 15 else 0.0
                chosen.append(excerpt(item, start, seconds, f"{item.name}-{kind.split()[0]}", kind, points[0]))
        if counts["mid-bar start"] < per_subset and len(lengths) > 8:
            counts["mid-bar start"] += 1
            start = float(item.bar_starts[3] + 0.4 * lengths[3])
            chosen.append(excerpt(item, start, seconds, f"{item.name}-midbar", "mid-bar start"))
    return chosen


def phase_from_downbeats(times: np.ndarray, downbeats: list[float]) -> np.ndarray:
    """Causal phase from a tracker's downbeats: time since the last one over the
    last bar length; 0 until two downbeats are known."""
    d = np.asarray(downbeats, dtype=float)
    phases = np.zeros_like(times)
    k = np.searchsorted(d, times, side="right") - 1
    known = k >= 1
    length = d[k[known]] - d[k[known] - 1]
    phases[known] = np.mod((times[known] - d[k[known]]) / length, 1.0)
    return phases


def run_anchors(venv: Path, items: list, folder: Path) -> dict | None:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"no anchors venv at {venv} (make one with ../shared/anchors/install.sh {venv}); measuring dance alone", file=sys.stderr)
        return None
    paths = []
    for _, item, _ in items:
        path = folder / f"{item.name}.wav"
        soundfile.write(str(path), resample_poly(item.samples, 441, 160).astype(np.float32), ANCHOR_RATE)
        paths.append(str(path))
    out = folder / "anchors.json"
    subprocess.run([str(python), str(Path(__file__).with_name("anchors_runner.py")), str(out), *paths], check=True)
    results = json.loads(out.read_text())
    return {Path(p).stem: r for p, r in results.items()}


def measure(items, model, anchors) -> tuple[list[dict], dict, dict]:
    """Rows of scores, seconds of processing per second of audio, and the
    phase error around each tempo change (tracker -> list of (t - change, error))."""
    rows, speed, around_changes = [], defaultdict(lambda: [0.0, 0.0]), defaultdict(list)

    def record(subset, item, change, tracker, times, predicted, anticipation):
        rows.append({**score(item, times, predicted, anticipation), "subset": subset, "tracker": tracker})
        if subset == "tempo change":
            error = metrics.circular_distance(predicted, item.true_phase(times, anticipation))
            around_changes[tracker].append((times - change, error))

    for subset, item, change in items:
        seconds = len(item.samples) / config.SAMPLE_RATE
        for anticipation in (0.0, config.ANTICIPATION_MAX):
            start = time.perf_counter()
            times, predicted = predict_phase(model, item.samples, anticipation)
            speed["dance (PyTorch, streaming)"][0] += time.perf_counter() - start
            speed["dance (PyTorch, streaming)"][1] += seconds
            record(subset, item, change, f"dance @ {anticipation:.1f} s", times, predicted, anticipation)
        if anchors is not None:
            times = frame_instants(len(item.samples) // config.FRAME_SIZE)
            for name, label in (("beatnet", "BeatNet (online)"), ("madmom", "madmom (offline)")):
                found = anchors[item.name]
                record(subset, item, change, label, times, phase_from_downbeats(times, found[name]), 0.0)
                speed[label][0] += found[f"{name}_seconds"]
                speed[label][1] += seconds
    return rows, {k: v[0] / v[1] for k, v in speed.items()}, around_changes


def summarise(rows: list[dict]) -> dict:
    table = defaultdict(dict)
    for subset in sorted({r["subset"] for r in rows}):
        for tracker in dict.fromkeys(r["tracker"] for r in rows):
            group = [r for r in rows if r["subset"] == subset and r["tracker"] == tracker]
            locks = [r["lock_bars"] for r in group]
            table[subset][tracker] = {
                "files": len(group),
                "downbeat_f1": float(np.nanmean([r["downbeat_f1"] for r in group])),
                "phase_error": float(np.nanmean([r["phase_error"] for r in group])),
                "median_lock_bars": float(np.nanmedian(locks)) if not np.all(np.isnan(locks)) else float("nan"),
            }
    return table


def markdown(table: dict, speed: dict) -> str:
    lines = ["| subset | tracker | files | downbeat F1 | phase error (bars) | median time to lock (bars) |", "|---|---|---|---|---|---|"]
    for subset, trackers in table.items():
        for tracker, s in trackers.items():
            lock = "never" if np.isnan(s["median_lock_bars"]) else f"{s['median_lock_bars']:.1f}"
            lines.append(f"| {subset} | {tracker} | {s['files']} | {s['downbeat_f1']:.3f} | {s['phase_error']:.3f} | {lock} |")
    lines += ["", "| tracker | processing seconds per second of audio |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in speed.items()]
    return "\n".join(lines)


def f1_chart(table: dict, out: Path) -> None:
    subsets = list(table)
    trackers = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(trackers)
    for i, tracker in enumerate(trackers):
        values = [table[s].get(tracker, {}).get("downbeat_f1", np.nan) for s in subsets]
        ax.bar(np.arange(len(subsets)) + i * width, values, width, label=tracker)
    ax.set_xticks(np.arange(len(subsets)) + 0.4 - width / 2, subsets, rotation=20, ha="right")
    ax.set_ylabel("downbeat F1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=4)
    ax.set_title("downbeat F1 by subset (unseen songs, unseen soundfont)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def change_chart(around_changes: dict, out: Path) -> None:
    """Mean phase error against time since a tempo change, per tracker."""
    grid = np.arange(-10, 20, 0.25)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    for tracker, curves in around_changes.items():
        errors = [np.interp(grid, t, e, left=np.nan, right=np.nan) for t, e in curves]
        ax.plot(grid, np.nanmean(errors, axis=0), label=f"{tracker} ({len(curves)} songs)")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("seconds since the tempo change")
    ax.set_ylabel("mean phase error (bars)")
    ax.set_ylim(0, 0.5)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rendered", type=Path, default=Path("data/rendered/validation"))
    parser.add_argument("--anchors-venv", type=Path, default=Path("../anchors-venv"))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--per-subset", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--limit", type=int, help="read only the first N songs (smoke runs)")
    parser.add_argument("--out", type=Path, default=Path("results/compare"))
    args = parser.parse_args()

    items = choose([read_rendered(p) for p in find_labelled(args.rendered)[: args.limit]], args.per_subset, args.seconds)
    if not items:
        sys.exit(f"no excerpts could be cut from {args.rendered}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dance-compare-") as tmp:
        anchors = run_anchors(args.anchors_venv, items, Path(tmp))
    rows, speed, around_changes = measure(items, load_model(args.model), anchors)
    table = summarise(rows)
    (args.out / "compare.json").write_text(json.dumps({"rows": rows, "summary": table, "speed": speed}, indent=2))
    (args.out / "compare.md").write_text(markdown(table, speed) + "\n")
    f1_chart(table, args.out / "f1_by_subset.png")
    if around_changes:
        change_chart(around_changes, args.out / "error_after_tempo_change.png")
    print(markdown(table, speed))


if __name__ == "__main__":
    main()
