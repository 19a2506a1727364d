"""Running a model on audio files and arrays, through the one streaming
runtime (`dance.stream.Stream`): causal, the same code for every caller.

Row i of a prediction states the phase at `(i + 1) * FRAME_SECONDS + anticipation`
seconds from the start of the audio: the end of frame i (config) plus the
anticipation."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from dance import config
from dance.data.audio import AudioError, stream_audio
from dance.model import selector
from dance.stream import STREAM_BLOCK_FRAMES, Stream, check_anticipation

DEFAULT_MODEL = Path(__file__).parent / "default_model.pt"
MIN_AUDIO_SECONDS = 1.0
SILENCE_PEAK = 1e-4  # audio whose every sample is smaller is silence


class Prediction(NamedTuple):
    times: np.ndarray  # seconds, float64: end of each frame + anticipation
    phases: np.ndarray  # bar phase, float32 in [0, 1)
    beat_phases: np.ndarray  # beat phase, float32 in [0, 1); NaN from a model without a beat head
    confidences: np.ndarray  # float32 in [0, 1] (dance.stream.Confidence)

    @property
    def has_beats(self) -> bool:
        return not np.isnan(self.beat_phases[:1]).any()


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


def predict_stream(model: torch.nn.Module, blocks, anticipation: float) -> tuple[Prediction, int, float]:
    """(prediction, samples seen, peak |sample|) for consecutive blocks of
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
    prediction = Prediction(np.array([row.time for row in rows], dtype=np.float64),
                            np.array([row.phase for row in rows], dtype=np.float32),
                            np.array([row.beat_phase for row in rows], dtype=np.float32),
                            np.array([row.confidence for row in rows], dtype=np.float32))
    return prediction, seen, peak


def predict(model: torch.nn.Module, samples: np.ndarray, anticipation: float) -> Prediction:
    """Every frame of an array, streamed block by block with carried state."""
    return predict_stream(model, [samples], anticipation)[0]


def predict_phase(model: torch.nn.Module, samples: np.ndarray, anticipation: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, bar phases) for every frame."""
    return predict(model, samples, anticipation)[:2]


def predict_file(model: torch.nn.Module, audio_path: Path, anticipation: float) -> Prediction:
    """Decoded, resampled and run block by block: memory does not grow with the file's length."""
    check_anticipation(anticipation)  # before decoding anything
    prediction, seen, peak = predict_stream(model, stream_audio(audio_path), anticipation)
    name = str(audio_path)
    if seen < MIN_AUDIO_SECONDS * config.SAMPLE_RATE:
        raise AudioError(f"{name} is {seen / config.SAMPLE_RATE:.2f} s long; need at least {MIN_AUDIO_SECONDS:.0f} s")
    if peak < SILENCE_PEAK:
        raise AudioError(f"{name} is silent; there is no bar to follow")
    return prediction


def write_csv(path: Path, prediction: Prediction) -> None:
    """`time,phase,beat_phase,confidence` (no `beat_phase` from a model without
    a beat head; the first two columns stay where older readers look),
    atomically (a hidden temporary file renamed into place): an existing CSV
    survives a full disk or an interrupt intact."""
    from dance.data.audio import write_text
    path.parent.mkdir(parents=True, exist_ok=True)
    times, phases, beat_phases, confidences = prediction
    if prediction.has_beats:
        rows = "".join(f"{t:.3f},{p:.5f},{b:.5f},{c:.3f}\n" for t, p, b, c in zip(times, phases, beat_phases, confidences))
        write_text(path, "time,phase,beat_phase,confidence\n" + rows)
    else:
        write_text(path, "time,phase,confidence\n" + "".join(f"{t:.3f},{p:.5f},{c:.3f}\n" for t, p, c in zip(times, phases, confidences)))
