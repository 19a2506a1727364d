"""The one streaming runtime: audio in, one row per 20 ms frame out.

`Stream` holds a model (a PyTorch checkpoint or an ONNX export, as
`dance.inference.load_model` gives), its carried state, the anticipation, the
downbeat rule and the bar length the downbeats imply. `predict`, `eval`,
`view` and `live` all run audio through it, so a file and a sound card give
the same rows for the same samples.

Row convention (README, "Conventions"): row i states the bar phase at
`(i + 1) * FRAME_SECONDS + anticipation` seconds from the start of the
stream, the end of frame i plus the anticipation."""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np
import torch

from dance import config
from dance.metrics import DownbeatRule

STREAM_BLOCK_FRAMES = 250  # most frames per model call (5 s); the state carries across calls, so the size changes speed, not results


class Row(NamedTuple):
    time: float  # seconds: end of the frame + anticipation
    phase: float  # bar phase at `time`, in [0, 1)
    beat_phase: float  # beat phase at `time`, in [0, 1); NaN from a model without a beat head
    confidence: float  # in [0, 1]: how likely the phase is within 0.1 bar (config, "Confidence")
    downbeat: float | None  # instant of a downbeat between the previous row and this one (dance.metrics.downbeats' instants), else None
    beat: int | None  # on a beat (the beat phase wrapped since the previous row, by the same rule): its number in the bar, 1 on the downbeat
    bar_seconds: float  # bar length the recent downbeats imply; NaN until two downbeats


def to_frames(samples: np.ndarray) -> torch.Tensor:
    """[1, n_frames, FRAME_SIZE]; a trailing partial frame is dropped (it has no end instant yet)."""
    n = len(samples) // config.FRAME_SIZE
    return torch.from_numpy(np.ascontiguousarray(samples[: n * config.FRAME_SIZE], dtype=np.float32)).view(1, n, config.FRAME_SIZE)


def phases_of(sin_cos: np.ndarray) -> np.ndarray:
    """[T, 2] model outputs -> [T] phases in [0, 1) (float32, as the model computes)."""
    return np.mod(np.arctan2(sin_cos[:, 0], sin_cos[:, 1]) / (2 * np.pi), 1.0)


def bar_and_beat_phases(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[T, 2] or [T, 4] model outputs -> ([T] bar phases, [T] beat phases
    (NaN without a beat head), [T] lengths of the bar's [sin, cos] vectors)."""
    beats = phases_of(outputs[:, 2:4]) if outputs.shape[1] == 4 else np.full(len(outputs), np.nan, dtype=np.float32)
    return phases_of(outputs[:, :2]), beats, np.hypot(outputs[:, 0], outputs[:, 1])


class Confidence:
    """The bar vector's length, averaged over the last CONFIDENCE_SECONDS,
    through the logistic of config: low before lock, in silence and while the
    network hesitates between bar positions (its vectors then cancel out)."""

    def __init__(self) -> None:
        self.average = 0.0
        self.weight = config.FRAME_SECONDS / config.CONFIDENCE_SECONDS

    def step(self, length: float) -> float:
        self.average += self.weight * (length - self.average)
        return 1.0 / (1.0 + math.exp(-config.CONFIDENCE_SLOPE * (self.average - config.CONFIDENCE_MIDPOINT)))


def check_anticipation(anticipation: float) -> None:
    if not 0.0 <= anticipation <= config.ANTICIPATION_MAX:
        raise ValueError(f"anticipation must be within [0, {config.ANTICIPATION_MAX}] s, got {anticipation}")


class BarLength:
    """The bar length as the median interval between the last few downbeats
    (the page shows the same): one misplaced downbeat does not move it."""

    def __init__(self) -> None:
        self.downbeats: deque[float] = deque(maxlen=config.BAR_LENGTH_DOWNBEATS)
        self.seconds = float("nan")  # until two downbeats

    def add(self, downbeat: float) -> None:
        self.downbeats.append(downbeat)
        if len(self.downbeats) >= 2:
            self.seconds = float(np.median(np.diff(self.downbeats)))


class Stream:
    """`push` consecutive blocks of 16 kHz mono float32 samples of any sizes;
    each call returns the rows of the frames it completed. A partial frame
    waits for the next push, so the rows never depend on how the audio was cut."""

    def __init__(self, model, anticipation: float = 0.0):
        check_anticipation(anticipation)
        self.model = model
        self.anticipation = anticipation
        self.state = model.initial_state(1)
        self.pending = np.zeros(0, dtype=np.float32)
        self.frames = 0  # frames run so far
        self.rule = DownbeatRule()
        self.beat_rule = DownbeatRule()
        self.beats_since_downbeat = 0
        self.bar = BarLength()
        self.confidence = Confidence()

    def push(self, samples: np.ndarray) -> list[Row]:
        self.pending = np.concatenate([self.pending, np.asarray(samples, dtype=np.float32)])
        frames = to_frames(self.pending)
        self.pending = self.pending[frames.shape[1] * config.FRAME_SIZE:]
        rows: list[Row] = []
        for start in range(0, frames.shape[1], STREAM_BLOCK_FRAMES):
            rows += self._rows(self._run(frames[:, start: start + STREAM_BLOCK_FRAMES]))
        return rows

    def _beat(self, time: float, beat_phase: float, downbeat: float | None) -> int | None:
        """The beat's number in the bar on a beat, else None; a downbeat starts the count again."""
        if downbeat is not None:
            self.beats_since_downbeat = 0
        if math.isnan(beat_phase) or self.beat_rule.step(time, beat_phase) is None:
            return None
        self.beats_since_downbeat += 1
        return self.beats_since_downbeat

    @torch.no_grad()
    def _run(self, frames: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sin_cos, self.state = self.model(frames, torch.tensor([self.anticipation]), self.state)
        return bar_and_beat_phases(sin_cos[0].numpy())

    def _rows(self, outputs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[Row]:
        rows = []
        for phase, beat_phase, length in zip(*outputs):
            self.frames += 1
            time = self.frames * config.FRAME_SECONDS + self.anticipation
            downbeat = self.rule.step(time, float(phase))
            if downbeat is not None:
                self.bar.add(downbeat)
            confidence = self.confidence.step(float(length))
            rows.append(Row(time, float(phase), float(beat_phase), confidence, downbeat, self._beat(time, float(beat_phase), downbeat),
                            self.bar.seconds))
        return rows
