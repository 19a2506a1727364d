"""The metrics of README section 7 ("Prediction, evaluation, pictures"), shared by `dance eval` and every benchmark.

Inputs are per-frame phases at stated instants (seconds); predicted downbeats
are where the predicted phase wraps."""

from __future__ import annotations

import mir_eval
import numpy as np

SKIP_SECONDS = 5.0  # the start excluded from phase error and downbeat F1
LOCK_TOLERANCE = 0.1  # bars
LOCK_BARS = 2  # the error must stay under tolerance this many bars
CHANGE_THRESHOLD = 0.05  # relative bar-length change that counts as a tempo change


def circular_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    d = np.abs(np.asarray(p) - np.asarray(q)) % 1.0
    return np.minimum(d, 1.0 - d)


def phase_error(times: np.ndarray, predicted: np.ndarray, truth: np.ndarray) -> float:
    keep = times >= SKIP_SECONDS
    return float(circular_distance(predicted[keep], truth[keep]).mean()) if keep.any() else float("nan")


def signed_phase_error(times: np.ndarray, predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Predicted minus true phase in [-0.5, 0.5) bar (negative: behind), frame
    by frame after the first SKIP_SECONDS; its absolute mean is phase_error."""
    keep = times >= SKIP_SECONDS
    return (np.asarray(predicted)[keep] - np.asarray(truth)[keep] + 0.5) % 1.0 - 0.5


def bar_rate_ratio(times: np.ndarray, predicted: np.ndarray, truth: np.ndarray) -> float:
    """How many bars the predicted phase advanced per true bar, after the first
    SKIP_SECONDS: 1 follows the bar rate, 2 hears every bar as two (a half-bar
    meter), 0.5 hears two bars as one. Both curves are unwrapped, so a phase
    that stalls or runs backwards lowers the ratio."""
    keep = times >= SKIP_SECONDS
    if keep.sum() < 2:
        return float("nan")
    advance = [np.unwrap(2 * np.pi * np.asarray(curve)[keep]) / (2 * np.pi) for curve in (predicted, truth)]
    true_bars = advance[1][-1] - advance[1][0]
    return float((advance[0][-1] - advance[0][0]) / true_bars) if true_bars > 0 else float("nan")


class DownbeatRule:
    """The downbeat rule, one frame at a time (the live runtime applies it as
    rows arrive; `downbeats` applies it to a whole curve): a downbeat is where
    the phase wraps (a drop of more than 0.5), interpolated between the two
    frames, counted only if the phase passed through 0.25-0.75 since the last one."""

    def __init__(self) -> None:
        self.armed = True
        self.previous: tuple[float, float] | None = None  # (time, phase) of the last frame

    def step(self, time: float, phase: float) -> float | None:
        """The downbeat instant between the previous frame and this one, or None."""
        found = None
        if 0.25 <= phase <= 0.75:
            self.armed = True
        if self.armed and self.previous is not None and self.previous[1] - phase > 0.5:
            before_time, before = self.previous
            fraction = (1.0 - before) / (phase + 1.0 - before)
            found = before_time + fraction * (time - before_time)
            self.armed = False
        self.previous = (time, phase)
        return found


def downbeats(times: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Every downbeat of a phase curve, by `DownbeatRule`."""
    rule = DownbeatRule()
    found = [rule.step(float(t), float(p)) for t, p in zip(times, phases)]
    return np.array([t for t in found if t is not None])


def downbeat_f1(reference: np.ndarray, estimated: np.ndarray) -> float:
    """mir_eval's F-measure, +-70 ms, both lists trimmed of the first 5 s."""
    reference = mir_eval.beat.trim_beats(np.asarray(reference, dtype=float), min_beat_time=SKIP_SECONDS)
    estimated = mir_eval.beat.trim_beats(np.asarray(estimated, dtype=float), min_beat_time=SKIP_SECONDS)
    if len(reference) == 0:
        return float("nan")
    if len(estimated) == 0:  # no downbeat predicted: F1 is 0 (mir_eval would say so with a warning)
        return 0.0
    return float(mir_eval.beat.f_measure(reference, estimated, f_measure_threshold=0.07))


def change_points(bar_starts: np.ndarray, meters: list[tuple[int, int]] | None = None) -> list[float]:
    """Bar starts where the bar length jumps by more than CHANGE_THRESHOLD or the meter changes."""
    lengths = np.diff(bar_starts)
    points = []
    for i in range(1, len(lengths)):
        jump = abs(lengths[i] / lengths[i - 1] - 1) > CHANGE_THRESHOLD
        if jump or (meters is not None and meters[i] != meters[i - 1]):
            points.append(float(bar_starts[i]))
    return points


def time_to_lock(times: np.ndarray, predicted: np.ndarray, truth: np.ndarray, start: float, bar_seconds: float) -> float:
    """Seconds from `start` until the error stays under LOCK_TOLERANCE for
    LOCK_BARS bars; NaN if it never does before the audio ends."""
    error = circular_distance(predicted, truth)
    window = LOCK_BARS * bar_seconds
    good = error < LOCK_TOLERANCE
    candidates = np.nonzero((times >= start) & good)[0]
    bad_times = times[~good]
    for i in candidates:
        t0 = times[i]
        if t0 + window > times[-1]:
            break
        if not np.any((bad_times >= t0) & (bad_times < t0 + window)):
            return float(t0 - start)
    return float("nan")
