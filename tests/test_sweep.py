"""The model sweep's config (bench/sweep.toml): every variant it compares is a
model the runtime can ship (streams with carried state, exports to ONNX
with the same outputs), and a broken config is a one-line error."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dance import config
from dance.export import OnnxModel, export_onnx, max_difference
from dance.model import selector

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
import sweep  # noqa: E402

VARIANTS = sweep.read_config(BENCH / "sweep.toml")["variant"]


@torch.no_grad()
@pytest.mark.parametrize("variant", VARIANTS, ids=[v["name"] for v in VARIANTS])
def test_every_variant_streams_and_exports(variant, tmp_path):
    torch.manual_seed(0)
    model = selector.create(variant.get("model", "phase_tcn_mel"), **variant["hparams"]).eval()
    samples = (0.1 * np.random.default_rng(0).normal(size=3 * config.SAMPLE_RATE)).astype(np.float32)
    frames = torch.from_numpy(samples).view(1, -1, config.FRAME_SIZE)
    a = torch.tensor([0.2])
    whole, _ = model(frames, a)
    state, outputs = model.initial_state(1), []
    for start in range(0, frames.shape[1], 7):
        out, state = model(frames[:, start: start + 7], a, state)
        outputs.append(out)
    assert torch.max(torch.abs(torch.cat(outputs, dim=1) - whole)) < 1e-5
    export_onnx(model, tmp_path / "model.onnx")
    assert max_difference(model, OnnxModel(tmp_path / "model.onnx"), samples, 0.2, 5) < 1e-4


@pytest.mark.parametrize("text, message", [
    ("epochs = 2\n[[variant]]\nname = 'a'\n", "missing chunks"),
    ("chunks = 'c'\nepochs = 2\n[[variant]]\nname = 'a'\n[[variant]]\nname = 'a'\n", "unique name"),
    ("chunks = 'c\n", "sweep.toml"),
])
def test_a_broken_config_is_a_one_line_error(tmp_path, text, message):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(sweep.SweepError, match=message) as error:
        sweep.read_config(path)
    assert "\n" not in str(error.value)
