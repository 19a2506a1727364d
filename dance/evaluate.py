"""`dance eval`: the metrics (README section 7, "Prediction, evaluation, pictures") of a model on labelled audio, per file and
overall, at anticipation 0 and ANTICIPATION_MAX; a table, JSON and a picture
per file.

Labelled audio is either a rendered song (`x.ogg` + `x.bars.csv`, from
`dance data render`) or a chunk (`x.ogg` + `x.phase`, and `x.beat`).
A model with a beat head is also scored on beats (beat F1, by the same rule
and tolerance as downbeats), against the beats of the bar grid
(`dance.data.labels`' beat rule)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dance import config, metrics
from dance.data.audio import read_audio
from dance.data.dataset import read_chunk_audio
from dance.data.formats import find_labelled, read_bar_grid, read_labels
from dance.data.labels import beat_starts, frame_instants, future_phase, phase_at
from dance.inference import check_audio, predict
from dance.plots import prediction_picture

ANTICIPATIONS = (0.0, config.ANTICIPATION_MAX)


@dataclass
class Labelled:
    name: str
    samples: np.ndarray
    meter: str  # "4/4", "7/8", "changes", or "chunk" when unknown
    bar_starts: np.ndarray  # true downbeats, seconds
    meters: list[tuple[int, int]] | None
    truth: object  # (times, anticipation) -> true phases
    beat_starts: np.ndarray | None  # true beats, seconds; None where unknown (a chunk without .beat)

    def true_phase(self, times: np.ndarray, anticipation: float) -> np.ndarray:
        return self.truth(times, anticipation)


def read_rendered(ogg: Path) -> Labelled:
    starts, meters = read_bar_grid(ogg.with_suffix(".bars.csv"))
    distinct = Counter(meters)
    meter = f"{meters[0][0]}/{meters[0][1]}" if len(distinct) == 1 else "changes"
    return Labelled(ogg.stem, read_audio(ogg), meter, starts, meters, lambda times, a: phase_at(times, starts),
                    beat_starts(starts, meters))


def read_chunk(ogg: Path) -> Labelled:
    labels = read_labels(ogg.with_suffix(".phase"))
    samples = read_chunk_audio(ogg).astype(np.float32) / 32768.0
    instants = frame_instants(len(labels))

    def truth(times, anticipation):
        return future_phase(labels, anticipation, len(times)).numpy()

    beats = read_labels(ogg.with_suffix(".beat"))
    return Labelled(ogg.stem, samples, "chunk", metrics.downbeats(instants, labels), None, truth,
                    None if np.isnan(beats).any() else metrics.downbeats(instants, beats))


def score(item: Labelled, times: np.ndarray, predicted: np.ndarray, anticipation: float,
          beat_phases: np.ndarray | None = None) -> dict:
    """Metrics of one bar phase curve (and beat phase curve, when given) against the item's truth."""
    truth = item.true_phase(times, anticipation)
    reference = item.bar_starts[(item.bar_starts > 0) & (item.bar_starts <= times[-1])]
    bar_lengths = np.diff(item.bar_starts)
    lock_start = metrics.time_to_lock(times, predicted, truth, times[0], float(bar_lengths[0]))
    after_changes = []
    for point in metrics.change_points(item.bar_starts, item.meters):
        if not times[0] <= point <= times[-1]:
            continue
        local_bar = float(bar_lengths[min(np.searchsorted(item.bar_starts, point), len(bar_lengths) - 1)])
        after_changes.append(metrics.time_to_lock(times, predicted, truth, point, local_bar) / local_bar)
    return {
        "file": item.name, "meter": item.meter, "anticipation": anticipation,
        "phase_error": metrics.phase_error(times, predicted, truth),
        "bar_rate_ratio": metrics.bar_rate_ratio(times, predicted, truth),
        "downbeat_f1": metrics.downbeat_f1(reference, metrics.downbeats(times, predicted)),
        "beat_f1": (metrics.downbeat_f1(item.beat_starts[item.beat_starts <= times[-1]], metrics.downbeats(times, beat_phases))
                    if beat_phases is not None and item.beat_starts is not None else float("nan")),
        "lock_seconds": lock_start,
        "lock_bars": lock_start / float(bar_lengths[0]),
        "lock_bars_after_changes": float(np.nanmean(after_changes)) if after_changes and not np.all(np.isnan(after_changes)) else None,
        "changes": len(after_changes),
    }


def mean_or_nan(values: list[float]) -> float:
    return float("nan") if np.all(np.isnan(values)) else float(np.nanmean(values))


def summarise(rows: list[dict]) -> dict:
    """Mean phase error and F1, median bars to lock; overall and per meter, per anticipation."""
    groups = defaultdict(list)
    for r in rows:
        groups[("all", r["anticipation"])].append(r)
        groups[(r["meter"], r["anticipation"])].append(r)
    summary = {}
    for (meter, a), group in sorted(groups.items(), key=lambda kv: (kv[0][0] != "all", kv[0])):
        locks = [r["lock_bars"] for r in group]
        summary[f"{meter} @ {a:.1f}s"] = {
            "files": len(group),
            "phase_error": float(np.nanmean([r["phase_error"] for r in group])),
            "downbeat_f1": float(np.nanmean([r["downbeat_f1"] for r in group])),
            "beat_f1": mean_or_nan([r.get("beat_f1", float("nan")) for r in group]),
            "median_lock_bars": float(np.nanmedian(locks)) if not np.all(np.isnan(locks)) else float("nan"),
            "never_locked": int(np.sum(np.isnan(locks))),
        }
    return summary


def table(summary: dict) -> str:
    lines = ["| subset @ anticipation | files | phase error (bars) | downbeat F1 | beat F1 | median time to lock (bars) | never locked |",
             "|---|---|---|---|---|---|---|"]
    def number(value: float, digits: int) -> str:
        return "–" if np.isnan(value) else f"{value:.{digits}f}"

    for name, s in summary.items():
        lines.append(f"| {name} | {s['files']} | {number(s['phase_error'], 3)} | {number(s['downbeat_f1'], 3)} | {number(s['beat_f1'], 3)} "
                     f"| {number(s['median_lock_bars'], 2)} | {s['never_locked']} |")
    if any(s["never_locked"] for s in summary.values()):
        lines.append("")
        lines.append(f"time to lock: bars until the phase error stays under {metrics.LOCK_TOLERANCE} bar for {metrics.LOCK_BARS} bars; "
                     "'never locked' counts files where that never happens, and '–' means no file of the row locked "
                     "(usual for a briefly trained model such as the quickstart's).")
    return "\n".join(lines)


@torch.no_grad()
def evaluate(model: torch.nn.Module, folder: Path, out: Path, pictures: bool = True, limit: int | None = None) -> dict:
    files = find_labelled(folder)[:limit]
    rows = []
    out.mkdir(parents=True, exist_ok=True)
    for ogg in tqdm(files, desc="eval", unit="file"):
        item = read_rendered(ogg) if ogg.with_suffix(".bars.csv").exists() else read_chunk(ogg)
        check_audio(item.samples, item.name)
        for anticipation in ANTICIPATIONS:
            prediction = predict(model, item.samples, anticipation)
            times, predicted = prediction.times, prediction.phases
            rows.append(score(item, times, predicted, anticipation, prediction.beat_phases if prediction.has_beats else None))
            if pictures and anticipation == 0.0:
                r = rows[-1]
                title = f"{item.name} ({item.meter}): phase error {r['phase_error']:.3f} bar, downbeat F1 {r['downbeat_f1']:.2f}"
                prediction_picture(times, predicted, out / f"{item.name}.png", title,
                                   item.true_phase(times, anticipation), item.bar_starts[item.bar_starts <= times[-1]])
    summary = summarise(rows)
    (out / "eval.json").write_text(json.dumps({"folder": str(folder), "summary": summary, "files": rows}, indent=2))
    (out / "eval.md").write_text(table(summary) + "\n")
    return summary
