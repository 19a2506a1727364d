"""ONNX export of the streaming model, and an ONNX Runtime model with the
same call as the PyTorch one, so `predict` and `eval` take either.

The ONNX graph: inputs `frames` [1, T, FRAME_SIZE] (1 <= T <=
MAX_FRAMES_PER_CALL), `anticipation` [1] seconds, `state` [1, S]; outputs
`sin_cos` [1, T, 2] (the bar phase's [sin, cos]; [1, T, 4] with the beat
phase's after it from a model with a beat head) and `new_state` [1, S]. A
whole sequence is the graph called on consecutive blocks from a zero state,
carrying the state. The limit is the resonator tail's block: the graph holds
its one-block form, whose float32 range ends there (dance/model/resonator.py);
model.json states it for the page, and OnnxModel splits longer inputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from dance import config
from dance.errors import DanceError
from dance.model.resonator import BLOCK as MAX_FRAMES_PER_CALL

OPSET = 17


class ExportError(DanceError):
    pass


def export_onnx(model: torch.nn.Module, out: Path) -> Path:
    model = model.eval()
    frames = torch.zeros(1, 5, config.FRAME_SIZE)
    inputs = (frames, torch.zeros(1), model.initial_state(1))
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about shape arithmetic
        torch.onnx.export(model, inputs, str(out), input_names=["frames", "anticipation", "state"],
                          output_names=["sin_cos", "new_state"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"frames": {1: "frames"}, "sin_cos": {1: "frames"}})
    meta = {"state_size": int(model.initial_state(1).shape[1]), "max_frames_per_call": MAX_FRAMES_PER_CALL, "sample_rate": config.SAMPLE_RATE,
            "frame_size": config.FRAME_SIZE, "anticipation_max": config.ANTICIPATION_MAX,
            "phase_instant": "end of each frame + anticipation",
            "beats": bool(getattr(model, "beat_head", None) is not None),
            "confidence": {"seconds": config.CONFIDENCE_SECONDS, "slope": config.CONFIDENCE_SLOPE, "midpoint": config.CONFIDENCE_MIDPOINT}}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return out


def max_difference(model: torch.nn.Module, onnx_model: "OnnxModel", samples: np.ndarray, anticipation: float, block: int) -> float:
    """Largest |PyTorch - ONNX Runtime| over [sin, cos] outputs, ONNX streamed `block` frames per call."""
    from dance.stream import to_frames

    frames = to_frames(samples)
    n = frames.shape[1]
    a = torch.tensor([anticipation])
    with torch.no_grad():
        reference, _ = model(frames, a, model.initial_state(1))
    state, outputs = onnx_model.initial_state(1), []
    for start in range(0, n, block):
        out, state = onnx_model(frames[:, start: start + block], a, state)
        outputs.append(out)
    return float(torch.max(torch.abs(torch.cat(outputs, dim=1) - reference)))


class OnnxModel:
    """Runs an exported model with ONNX Runtime behind the PyTorch model's call."""

    def __init__(self, path: Path):
        import onnxruntime

        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ExportError(f"{path} is not a loadable ONNX model: {str(e).splitlines()[0]}") from None
        names = [i.name for i in self.session.get_inputs()]
        if names != ["frames", "anticipation", "state"]:
            raise ExportError(f"{path} is not a dance model (inputs {names})")
        self.state_size = self.session.get_inputs()[2].shape[1]

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, self.state_size)

    def __call__(self, frames: torch.Tensor, anticipation: torch.Tensor, state: torch.Tensor):
        outputs = []
        for part in frames.split(MAX_FRAMES_PER_CALL, dim=1):
            sin_cos, state = self.session.run(None, {
                "frames": part.numpy().astype(np.float32), "anticipation": anticipation.numpy().astype(np.float32),
                "state": np.asarray(state, dtype=np.float32)})
            outputs.append(torch.from_numpy(sin_cos))
        return torch.cat(outputs, dim=1), torch.from_numpy(state)
