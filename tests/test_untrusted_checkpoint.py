"""A checkpoint is untrusted input: a crafted pickle must not run code when
`predict`, `eval`, `view`, `export`, `ship` or `train --resume` load it."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from dance.inference import DEFAULT_MODEL
from dance.model import selector
from dance.model.phase_tcn_mel import PhaseTCNMel


class RunsAShellCommand:
    """Unpickling this calls os.system: what an attacker's .pt would do."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.fixture
def crafted(tmp_path):
    """A file shaped like a dance checkpoint whose pickle runs `touch MARKER`."""
    marker = tmp_path / "code-ran"
    payload = {"format": selector.FORMAT, "model": "phase_tcn_mel", "hparams": {},
               "weights": PhaseTCNMel(channels=16, layers=3).state_dict(), "note": RunsAShellCommand(f"touch {marker}")}
    path = tmp_path / "evil.pt"
    torch.save(payload, path)
    return path, marker


def test_the_crafted_file_does_run_code_when_loaded_unsafely(crafted):
    """The fixture is a real exploit: a plain unpickle creates the marker."""
    path, marker = crafted
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_loading_a_crafted_checkpoint_runs_nothing(crafted):
    path, marker = crafted
    with pytest.raises(selector.CheckpointError, match="never loaded"):
        selector.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("command", ["predict", "ship", "train"])
def test_commands_refuse_a_crafted_checkpoint_in_one_line(crafted, small_chunks, tmp_path, command):
    path, marker = crafted
    audio = tmp_path / "noise.wav"
    soundfile.write(str(audio), np.random.default_rng(0).normal(0, 0.1, 32000), 16000)
    args = {"predict": ["predict", audio, "--model", path, "--out", tmp_path / "o.csv"],
            "ship": ["ship", path],
            "train": ["train", "phase_tcn_mel", "--chunks-path", small_chunks, "-t", "x", "--resume", path,
                      "--checkpoints", tmp_path / "ck"]}[command]
    before = DEFAULT_MODEL.read_bytes() if command == "ship" else None
    result = subprocess.run([sys.executable, "-m", "dance", *map(str, args)], capture_output=True, text=True, timeout=300)
    assert not marker.exists()
    assert result.returncode == 2, result.stderr
    assert "never loaded" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    if before is not None:
        assert DEFAULT_MODEL.read_bytes() == before


def test_the_shipped_model_loads_safely():
    model, payload = selector.load(DEFAULT_MODEL, expect="phase_tcn_mel")
    assert isinstance(payload["source"], str)  # a checkpoint's path, or a blend's recipe (a blend has no epoch of its own)
    assert all(isinstance(payload[k], (int, float)) for k in ("epoch", "train_loss", "validation_loss") if k in payload)
