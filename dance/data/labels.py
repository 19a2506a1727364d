"""Phase labels: phase(t) from start times (of bars, or of beats), and the
future phase for an anticipation, by circular interpolation.

`phase(t) = (t - b_i) / (b_{i+1} - b_i)` for `b_i <= t < b_{i+1}`; before the
first start the first interval extends the grid backwards (pickups), after
the last start the last interval extends it forwards.

The beats of a bar come from its meter (`beats_per_bar`): a quarter note in
x/4 (a half note in x/2), a dotted quarter in compound meters (6/8, 9/8,
12/8; 3/8 is one beat), an eighth note in the other x/8 meters (5/8, 7/8):
a MIDI time signature does not say how 7/8 is grouped, so its pulse is the
eighth note. Beats are evenly spaced in MIDI ticks, so they follow the tempo
map within the bar; a bar cut short by a meter change keeps only the beats
that fit.
"""

from __future__ import annotations

import numpy as np
import torch

from dance import config


def phase_at(times: np.ndarray, starts: np.ndarray) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    b = np.asarray(starts, dtype=np.float64)
    if b.size < 2:
        raise ValueError("a grid needs at least two starts")
    i = np.clip(np.searchsorted(b, times, side="right") - 1, 0, b.size - 2)
    length = b[i + 1] - b[i]
    # past the last bar start, measure from it with the last bar's length
    origin = np.where(times >= b[-1], b[-1], b[i])
    return np.mod((times - origin) / length, 1.0)


def frame_instants(n_frames: int) -> np.ndarray:
    """The instant each frame's label states: the end of the frame (config)."""
    return (np.arange(n_frames) + 1) * config.FRAME_SECONDS


def beats_per_bar(numerator: int, denominator: int) -> int:
    """The beat rule of the module docstring."""
    if denominator >= 8 and numerator % 3 == 0:
        return numerator // 3
    return numerator


def beat_starts(bar_starts: np.ndarray, meters: list[tuple[int, int]], bar_lengths: np.ndarray | None = None) -> np.ndarray:
    """Beat start times of a bar grid, on the grid's own axis (MIDI ticks or
    seconds). `bar_lengths`: each bar's length as its meter writes it, so a bar
    cut short keeps only the beats that fit (default: start to next start, the
    last bar as long as the one before)."""
    starts = np.asarray(bar_starts, dtype=np.float64)
    if bar_lengths is None:
        bar_lengths = np.diff(starts, append=2 * starts[-1] - starts[-2])
    beats = []
    for i, ((numerator, denominator), start, length) in enumerate(zip(meters, starts, bar_lengths)):
        count = beats_per_bar(numerator, denominator)
        in_bar = start + length / count * np.arange(count)
        end = starts[i + 1] if i + 1 < len(starts) else np.inf
        beats.extend(in_bar[in_bar < end - 1e-9])
    return np.array(beats)


def chunk_labels(starts: np.ndarray, music_start: float, factor: float) -> np.ndarray:
    """Phase labels (of the bar or of the beat, from those starts) for a chunk
    whose audio starts at `music_start` seconds of the song and plays `factor`
    times faster (pitch augmentation)."""
    times = music_start + frame_instants(config.LABEL_FRAMES) * factor
    return phase_at(times, starts).astype(np.float32)


def future_phase(labels: torch.Tensor, anticipation: float, n_frames: int) -> torch.Tensor:
    """phase(t + anticipation) for the first n_frames frames of labels [..., L],
    interpolated on the circle (0.98 -> 0.02 passes through 0, not 0.5)."""
    labels = torch.as_tensor(labels, dtype=torch.float64)
    step = torch.diff(labels, dim=-1)
    unwrapped = torch.cat([labels[..., :1], labels[..., :1] + torch.cumsum(step - torch.round(step), dim=-1)], dim=-1)
    shift = anticipation / config.FRAME_SECONDS
    whole, fraction = int(shift // 1), shift % 1
    if whole + n_frames >= labels.shape[-1] and fraction > 0 or whole + n_frames > labels.shape[-1]:
        raise ValueError(f"anticipation {anticipation} s runs past the {labels.shape[-1]} labels")
    now = unwrapped[..., whole: whole + n_frames]
    later = unwrapped[..., whole + 1: whole + 1 + n_frames] if fraction > 0 else now
    return torch.remainder(now + fraction * (later - now), 1.0).float()
