"""Running a model on audio: streaming, causal, the same code for every caller.

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

DEFAULT_MODEL = Path(__file__).parent / "default_model.pt"
STREAM_BLOCK_FRAMES = 250  # frames per model call (5 s); the state carries across calls, so the size changes speed, not results
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


def to_frames(samples: np.ndarray) -> torch.Tensor:
    """[1, n_frames, FRAME_SIZE]; a trailing partial frame is dropped (it has no end instant yet)."""
    n = len(samples) // config.FRAME_SIZE
    return torch.from_numpy(np.ascontiguousarray(samples[: n * config.FRAME_SIZE], dtype=np.float32)).view(1, n, config.FRAME_SIZE)


@torch.no_grad()
def predict_stream(model: torch.nn.Module, blocks, anticipation: float) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(times, phases, samples seen, peak |sample|) for consecutive blocks of
    16 kHz samples of any sizes. The model runs on STREAM_BLOCK_FRAMES frames
    at a time with carried state, so the result does not depend on how the
    audio was cut into blocks, and only one block is held at a time."""
    if not 0.0 <= anticipation <= config.ANTICIPATION_MAX:
        raise ValueError(f"anticipation must be within [0, {config.ANTICIPATION_MAX}] s, got {anticipation}")
    step = STREAM_BLOCK_FRAMES * config.FRAME_SIZE
    state = model.initial_state(1)
    a = torch.tensor([anticipation])
    outputs, pending, seen, peak = [], np.zeros(0, dtype=np.float32), 0, 0.0

    def run(samples: np.ndarray) -> None:
        nonlocal state
        frames = to_frames(samples)
        for start in range(0, frames.shape[1], STREAM_BLOCK_FRAMES):
            out, state = model(frames[:, start: start + STREAM_BLOCK_FRAMES], a, state)
            outputs.append(out[0].numpy())

    for block in blocks:
        seen += len(block)
        peak = max(peak, float(np.max(np.abs(block)))) if len(block) else peak
        pending = np.concatenate([pending, np.asarray(block, dtype=np.float32)])
        whole = len(pending) // step * step
        if whole:
            run(pending[:whole])
            pending = pending[whole:]
    if len(pending) >= config.FRAME_SIZE:
        run(pending)
    sin_cos = np.concatenate(outputs) if outputs else np.zeros((0, 2), dtype=np.float32)
    phases = np.mod(np.arctan2(sin_cos[:, 0], sin_cos[:, 1]) / (2 * np.pi), 1.0)
    times = (np.arange(len(phases)) + 1) * config.FRAME_SECONDS + anticipation
    return times, phases, seen, peak


def predict_phase(model: torch.nn.Module, samples: np.ndarray, anticipation: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, phases) for every frame, streamed block by block with carried state."""
    times, phases, _, _ = predict_stream(model, [samples], anticipation)
    return times, phases


def predict_file(model: torch.nn.Module, audio_path: Path, anticipation: float) -> tuple[np.ndarray, np.ndarray]:
    """Decoded, resampled and run block by block: memory does not grow with the file's length."""
    if not 0.0 <= anticipation <= config.ANTICIPATION_MAX:  # before decoding anything
        raise ValueError(f"anticipation must be within [0, {config.ANTICIPATION_MAX}] s, got {anticipation}")
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
