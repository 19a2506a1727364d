"""`dance predict`, `dance eval` and `dance view` through the real command line."""

import json

import numpy as np
import pytest
import soundfile

from dance import config
from dance.data.formats import find_chunks
from dance.model import selector
from dance.model.phase_tcn_mel import PhaseTCNMel
from tests.helpers import dance, stereo_44k_wav


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    selector.save(path, PhaseTCNMel(channels=16, layers=4, n_mels=32))
    return path


@pytest.fixture(scope="module")
def stereo_44k(small_chunks, tmp_path_factory):
    """A chunk as a 44.1 kHz stereo WAV, 10 s long."""
    path = tmp_path_factory.mktemp("audio") / "song.wav"
    stereo_44k_wav(find_chunks(small_chunks)[0], 10, path, right_gain=0.5)
    return path


def test_predict_writes_time_phase_csv(checkpoint, stereo_44k, tmp_path):
    out = tmp_path / "p.csv"
    result = dance("predict", stereo_44k, "--model", checkpoint, "--anticipation", "0.25", "--out", out, "--downbeats", tmp_path / "d.txt")
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "time,phase,confidence"
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert len(rows) == 10 * config.FRAMES_PER_SECOND
    np.testing.assert_allclose(rows[:, 0], (np.arange(len(rows)) + 1) * config.FRAME_SECONDS + 0.25, atol=1e-3)
    assert ((rows[:, 1] >= 0) & (rows[:, 1] < 1)).all()
    assert (tmp_path / "d.txt").exists()


@pytest.mark.parametrize("case, message", [
    ("silent", "is silent"), ("short", "need at least 1 s"), ("empty", "cannot read audio"),
    ("garbage", "cannot read audio"), ("bad model", "is not a dance checkpoint"), ("anticipation", "anticipation must be within"),
])
def test_predict_bad_input_is_one_line(checkpoint, stereo_44k, tmp_path, case, message):
    audio, model, extra = tmp_path / "x.wav", checkpoint, []
    if case == "silent":
        soundfile.write(str(audio), np.zeros(48000), 48000)
    elif case == "short":
        soundfile.write(str(audio), np.random.default_rng(0).normal(0, 0.1, 8000), 16000)
    elif case == "empty":
        audio.write_bytes(b"")
    elif case == "garbage":
        audio.write_bytes(b"RIFF this is not a wave file")
    else:
        audio = stereo_44k
        if case == "bad model":
            model = tmp_path / "junk.pt"
            model.write_bytes(b"junk")
        else:
            extra = ["--anticipation", "0.7"]
    result = dance("predict", audio, "--model", model, "--out", tmp_path / "o.csv", *extra)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_eval_on_chunks_writes_table_json_and_pictures(checkpoint, small_chunks, tmp_path):
    result = dance("eval", small_chunks, "--model", checkpoint, "--out", tmp_path, "--limit", "2")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    assert len(report["files"]) == 4  # two files at two anticipations
    assert {"all @ 0.0s", "all @ 0.5s"} <= set(report["summary"])
    for row in report["files"]:
        assert 0 <= row["phase_error"] <= 0.5 and 0 <= row["downbeat_f1"] <= 1
    assert len(list(tmp_path.glob("*.png"))) == 2
    assert "| subset @ anticipation |" in result.stdout


def test_view_draws_a_picture(checkpoint, stereo_44k, tmp_path):
    result = dance("view", stereo_44k, "--model", checkpoint, "--out", tmp_path / "v.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "v.png").stat().st_size > 10_000
