"""ONNX export: ONNX Runtime against PyTorch on real audio, and `dance predict`
giving the same CSV from the .onnx as from the checkpoint."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from dance import config
from dance.data import pipeline
from dance.data.audio import read_audio
from dance.export import OnnxModel, export_onnx, max_difference
from dance.model import selector
from dance.model.phase_tcn_mel import PhaseTCNMel
from tests.midi_helpers import TPB, steady_notes, write_midi


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(1)
    model = PhaseTCNMel().eval()
    selector.save(folder / "model.pt", model)
    export_onnx(model, folder / "model.onnx")
    (folder / "midi").mkdir()
    write_midi(folder / "midi" / "song.mid", notes=steady_notes(60 * TPB, pitch=50), program=24)
    pipeline.render(folder / "midi", folder / "audio", ["TimGM6mb.sf2"], workers=1, seed=0, jitter=0.0)
    (audio,) = (folder / "audio").glob("*.ogg")
    return model, folder, audio


@pytest.mark.parametrize("block", [1, 7, 64])
def test_onnx_runtime_matches_pytorch_on_real_audio(exported, block):
    model, folder, audio = exported
    samples = read_audio(audio)[: 12 * config.SAMPLE_RATE]
    for anticipation in (0.0, 0.5):
        assert max_difference(model, OnnxModel(folder / "model.onnx"), samples, anticipation, block) < 1e-4


@pytest.mark.parametrize("hparams", [dict(recurrent="gru"), dict(recurrent="resonator"), dict(recurrent="resonator", semitones=True)])
def test_a_recurrent_beat_model_exports_and_streams_like_pytorch(exported, tmp_path, hparams):
    """The tail's state (and the semitone bands' audio) travel in the same flat
    state as the convolutions' context."""
    _, _, audio = exported
    torch.manual_seed(2)
    model = PhaseTCNMel(onset_flux=True, beats=True, layers=5, **hparams).eval()
    if model.semitones is not None:  # it starts at zero, where it would test nothing
        torch.nn.init.normal_(model.semitone_input.weight, std=0.1)
    export_onnx(model, tmp_path / "recurrent.onnx")
    samples = read_audio(audio)[: 8 * config.SAMPLE_RATE]
    for block in (1, 7, 400):  # 400 frames a call: OnnxModel splits them into calls the graph takes
        assert max_difference(model, OnnxModel(tmp_path / "recurrent.onnx"), samples, 0.5, block) < 1e-4


def test_one_self_contained_file_with_its_conventions(exported):
    _, folder, _ = exported
    assert not [p for p in folder.iterdir() if p.suffix == ".data"]
    assert '"state_size"' in (folder / "model.json").read_text()


def test_predict_gives_the_same_csv_from_onnx_and_checkpoint(exported, tmp_path):
    _, folder, audio = exported
    rows = {}
    for kind in ("pt", "onnx"):
        out = tmp_path / f"{kind}.csv"
        result = subprocess.run([sys.executable, "-m", "dance", "predict", str(audio), "--model", str(folder / f"model.{kind}"),
                                 "--anticipation", "0.2", "--out", str(out)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        rows[kind] = np.loadtxt(out, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(rows["pt"][:, 0], rows["onnx"][:, 0])
    difference = np.abs(rows["pt"][:, 1] - rows["onnx"][:, 1])
    assert np.minimum(difference, 1 - difference).max() < 1e-4


def test_a_broken_onnx_file_is_a_one_line_error(exported, tmp_path):
    _, _, audio = exported
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    result = subprocess.run([sys.executable, "-m", "dance", "predict", str(audio), "--model", str(tmp_path / "bad.onnx")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "is not a loadable ONNX model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_export_command_writes_and_checks_the_model(exported, tmp_path):
    _, folder, _ = exported
    result = subprocess.run([sys.executable, "-m", "dance", "export", "--model", str(folder / "model.pt"), "--out", str(tmp_path / "m.onnx")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "max |PyTorch - ONNX Runtime|" in result.stdout
    assert (tmp_path / "m.onnx").exists() and (tmp_path / "m.json").exists()


@pytest.mark.parametrize("args, message", [
    (["export", "--model", "missing.pt"], "does not exist"),
    (["serve", "--model", "missing.onnx", "--port", "0"], "no exported model at missing.onnx"),
])
def test_export_and_serve_bad_input_is_one_line(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "dance", *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
