"""Running a model on audio: streaming, causal, the same code for every caller.

Row i of a prediction states the phase at `(i + 1) * FRAME_SECONDS + anticipation`
seconds from the start of the audio: the end of frame i (config) plus the
anticipation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dance import config
from dance.data.audio import AudioError, read_audio
from dance.model import selector

DEFAULT_MODEL = Path(__file__).parent / "default_model.pt"
STREAM_BLOCK_FRAMES = 250  # frames per model call (5 s); the state carries across calls, so the size changes speed, not results
MIN_AUDIO_SECONDS = 1.0


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
    if np.max(np.abs(samples)) < 1e-4:
        raise AudioError(f"{name} is silent; there is no bar to follow")


def to_frames(samples: np.ndarray) -> torch.Tensor:
    """[1, n_frames, FRAME_SIZE]; a trailing partial frame is dropped (it has no end instant yet)."""
    n = len(samples) // config.FRAME_SIZE
    return torch.from_numpy(np.ascontiguousarray(samples[: n * config.FRAME_SIZE], dtype=np.float32)).view(1, n, config.FRAME_SIZE)


@torch.no_grad()
def predict_phase(model: torch.nn.Module, samples: np.ndarray, anticipation: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, phases) for every frame, streamed block by block with carried state."""
    if not 0.0 <= anticipation <= config.ANTICIPATION_MAX:
        raise ValueError(f"anticipation must be within [0, {config.ANTICIPATION_MAX}] s, got {anticipation}")
    frames = to_frames(samples)
    state = model.initial_state(1)
    a = torch.tensor([anticipation])
    outputs = []
    for start in range(0, frames.shape[1], STREAM_BLOCK_FRAMES):
        out, state = model(frames[:, start: start + STREAM_BLOCK_FRAMES], a, state)
        outputs.append(out[0])
    sin_cos = torch.cat(outputs).numpy()
    phases = np.mod(np.arctan2(sin_cos[:, 0], sin_cos[:, 1]) / (2 * np.pi), 1.0)
    times = (np.arange(len(phases)) + 1) * config.FRAME_SECONDS + anticipation
    return times, phases


def predict_file(model: torch.nn.Module, audio_path: Path, anticipation: float) -> tuple[np.ndarray, np.ndarray]:
    samples = read_audio(audio_path)
    check_audio(samples, str(audio_path))
    return predict_phase(model, samples, anticipation)


def write_csv(path: Path, times: np.ndarray, phases: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write("time,phase\n")
        f.writelines(f"{t:.3f},{p:.5f}\n" for t, p in zip(times, phases))
