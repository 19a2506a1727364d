"""Running a model on audio files and arrays, through the one streaming
runtime (`dance.stream.Stream`): causal, the same code for every caller.

Row i of a prediction states the phase at `(i + 1) * FRAME_SECONDS + anticipation`
seconds from the start of the audio: the end of frame i (config) plus the
anticipation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dance import config
from dance.data.audio import AudioError, stream_audio
from dance.model import selector
from dance.stream import STREAM_BLOCK_FRAMES, Stream, check_anticipation

DEFAULT_MODEL = Path(__file__).parent / "default_model.pt"
MIN_AUDIO_SECONDS = 1.0
SILENCE_PEAK = 1e-4  # audio whose every sample is smaller is silence


def load_model(path: Path | None = None):
    """A checkpoint (.pt) or an exported ONNX model (.onnx); both take
    (frames, anticipation, state) and return ([sin, cos], state)."""
    path = Path(path or DEFAULT_MODEL)
    if path.suffix == ".onnx":
        from dance.export import OnnxModel
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {path} does not exist")
        return OnnxModel(path)
    return selector.load(path)[0]


def check_audio(samples: np.ndarray, name: str) -> None:
    if len(samples) < MIN_AUDIO_SECONDS * config.SAMPLE_RATE:
        raise AudioError(f"{name} is {len(samples) / config.SAMPLE_RATE:.2f} s long; need at least {MIN_AUDIO_SECONDS:.0f} s")
    if np.max(np.abs(samples)) < SILENCE_PEAK:
        raise AudioError(f"{name} is silent; there is no bar to follow")


def predict_stream(model: torch.nn.Module, blocks, anticipation: float) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(times, phases, samples seen, peak |sample|) for consecutive blocks of
    16 kHz samples of any sizes, through a `Stream`. The blocks are regrouped
    into STREAM_BLOCK_FRAMES frames per push, so the model runs in calls of the
    same sizes however the file was decoded, and only one block is held at a time."""
    stream = Stream(model, anticipation)
    step = STREAM_BLOCK_FRAMES * config.FRAME_SIZE
    rows, pending, seen, peak = [], np.zeros(0, dtype=np.float32), 0, 0.0
    for block in blocks:
        seen += len(block)
        peak = max(peak, float(np.max(np.abs(block)))) if len(block) else peak
        pending = np.concatenate([pending, np.asarray(block, dtype=np.float32)])
        whole = len(pending) // step * step
        if whole:
            rows += stream.push(pending[:whole])
            pending = pending[whole:]
    rows += stream.push(pending)
    times = np.array([row.time for row in rows], dtype=np.float64)
    phases = np.array([row.phase for row in rows], dtype=np.float32)
    return times, phases, seen, peak


def predict_phase(model: torch.nn.Module, samples: np.ndarray, anticipation: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, phases) for every frame, streamed block by block with carried state."""
    times, phases, _, _ = predict_stream(model, [samples], anticipation)
    return times, phases


def predict_file(model: torch.nn.Module, audio_path: Path, anticipation: float) -> tuple[np.ndarray, np.ndarray]:
    """Decoded, resampled and run block by block: memory does not grow with the file's length."""
    check_anticipation(anticipation)  # before decoding anything
    times, phases, seen, peak = predict_stream(model, stream_audio(audio_path), anticipation)
    name = str(audio_path)
    if seen < MIN_AUDIO_SECONDS * config.SAMPLE_RATE:
        raise AudioError(f"{name} is {seen / config.SAMPLE_RATE:.2f} s long; need at least {MIN_AUDIO_SECONDS:.0f} s")
    if peak < SILENCE_PEAK:
        raise AudioError(f"{name} is silent; there is no bar to follow")
    return times, phases


def write_csv(path: Path, times: np.ndarray, phases: np.ndarray) -> None:
    """Atomically (a hidden temporary file renamed into place): an existing
    CSV survives a full disk or an interrupt intact."""
    from dance.data.audio import write_text
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, "time,phase\n" + "".join(f"{t:.3f},{p:.5f}\n" for t, p in zip(times, phases)))
