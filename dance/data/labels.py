"""Bar phase labels: phase(t) from bar start times, and the future phase for
an anticipation, by circular interpolation.

`phase(t) = (t - b_i) / (b_{i+1} - b_i)` for `b_i <= t < b_{i+1}`; before the
first bar start the first bar's length extends the grid backwards (pickups),
after the last bar start the last bar's length extends it forwards.
"""

from __future__ import annotations

import numpy as np
import torch

from dance import config


def phase_at(times: np.ndarray, bar_starts: np.ndarray) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    b = np.asarray(bar_starts, dtype=np.float64)
    if b.size < 2:
        raise ValueError("a bar grid needs at least two bar starts")
    i = np.clip(np.searchsorted(b, times, side="right") - 1, 0, b.size - 2)
    length = b[i + 1] - b[i]
    # past the last bar start, measure from it with the last bar's length
    origin = np.where(times >= b[-1], b[-1], b[i])
    return np.mod((times - origin) / length, 1.0)


def frame_instants(n_frames: int) -> np.ndarray:
    """The instant each frame's label states: the end of the frame (config)."""
    return (np.arange(n_frames) + 1) * config.FRAME_SECONDS


def chunk_labels(bar_starts: np.ndarray, music_start: float, factor: float) -> np.ndarray:
    """Phase labels for a chunk whose audio starts at `music_start` seconds of
    the song and plays `factor` times faster (pitch augmentation)."""
    times = music_start + frame_instants(config.LABEL_FRAMES) * factor
    return phase_at(times, bar_starts).astype(np.float32)


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
