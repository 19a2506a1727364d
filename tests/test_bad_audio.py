"""Bad audio and unsafe outputs through `dance predict`: non-finite samples,
missing files, an output that is the input, a full disk; and long files
streamed block by block with the same result as the whole-file path."""

import os
import resource
import tracemalloc

import numpy as np
import pytest
import soundfile

from dance import config, inference
from dance.data import audio
from dance.model import selector
from dance.model.phase_tcn_mel import PhaseTCNMel
from tests.helpers import dance


def one_line_error(result, message):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    selector.save(path, PhaseTCNMel(channels=16, layers=4, n_mels=32))
    return path


def music(seconds, rate, channels=1, seed=0):
    """Clicks every 0.5 s over a little noise: not silent, easy to check."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.01, (int(seconds * rate), channels))
    x[:: rate // 2] += 0.8
    return x.astype(np.float32)


@pytest.mark.parametrize("rate, channels, bad_at, value", [(16000, 1, 1.5, np.nan), (44100, 2, 2.25, np.inf), (48000, 1, 0.0, -np.inf)])
def test_non_finite_samples_are_a_one_line_error_naming_the_time(model, tmp_path, cli, rate, channels, bad_at, value):
    x = music(4, rate, channels)
    x[int(bad_at * rate), channels - 1] = value
    wav = tmp_path / "bad.wav"
    soundfile.write(str(wav), x, rate, subtype="FLOAT")
    result = cli("predict", wav, "--model", model, "--out", tmp_path / "out.csv")
    one_line_error(result, f"has a non-finite sample (NaN or infinity) at {bad_at:.3f} s")
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(audio.AudioError, match=f"at {bad_at:.3f} s"):
        audio.read_audio(wav)  # eval and chop read whole files: the same check


@pytest.mark.parametrize("case, message", [("missing", "no such file"), ("folder", "is a directory")])
def test_missing_audio_says_so(model, tmp_path, cli, case, message):
    path = tmp_path / "x.wav"
    if case == "folder":
        path.mkdir()
    one_line_error(cli("predict", path, "--model", model, "--out", tmp_path / "o.csv"), message)


@pytest.fixture
def song(tmp_path):
    wav = tmp_path / "song.wav"
    soundfile.write(str(wav), music(5, 22050, 2), 22050)
    return wav


def test_predict_refuses_to_overwrite_its_input(model, song, tmp_path, cli):
    before = song.read_bytes()
    one_line_error(cli("predict", song, "--model", model, "--out", song), "is the input audio")
    (tmp_path / "link.wav").symlink_to(song)
    one_line_error(cli("predict", song, "--model", model, "--out", tmp_path / "link.wav"), "is the input audio")
    one_line_error(cli("predict", song, "--model", model, "--downbeats", song), "is the input audio")
    assert song.read_bytes() == before


def test_predict_output_errors_are_one_line_and_keep_the_old_csv(model, song, tmp_path, cli):
    out = tmp_path / "song.csv"
    out.write_text("time,phase\nold rows\n")
    one_line_error(cli("predict", song, "--model", model, "--out", tmp_path), "is a folder")
    # a full disk, simulated by a file size limit: the write fails part-way
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))  # noqa: E731
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    one_line_error(dance("predict", song, "--model", model, "--out", out, preexec_fn=limit, env=env, timeout=300), "File too large")
    assert out.read_text() == "time,phase\nold rows\n"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
    (tmp_path / "afile").write_text("")
    one_line_error(cli("predict", song, "--model", model, "--out", tmp_path / "afile" / "x.csv"), "afile")
    if os.geteuid() != 0:  # root writes anywhere
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o555)
        one_line_error(cli("predict", song, "--model", model, "--out", readonly / "x.csv"), "Permission denied")
    result = cli("predict", song, "--model", model, "--out", out)
    assert result.returncode == 0 and out.read_text().startswith("time,phase,confidence\n0.020,")


def test_streamed_prediction_equals_the_whole_file(model, tmp_path, monkeypatch):
    wav = tmp_path / "long.wav"
    soundfile.write(str(wav), music(23, 44100, 2), 44100)
    net = selector.load(model)[0]
    whole = inference.predict_phase(net, audio.read_audio(wav), 0.3)
    for read_frames in (1000, 44100 * 7 + 3):
        monkeypatch.setattr(audio, "STREAM_READ_FRAMES", read_frames)
        monkeypatch.setattr(audio.stream_audio, "__defaults__", (read_frames,))
        streamed = inference.predict_file(net, wav, 0.3)
        np.testing.assert_array_equal(streamed[0], whole[0])
        np.testing.assert_allclose(streamed[1], whole[1], atol=1e-5)


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000, 16000])
def test_streaming_resampler_matches_whole_file_resampling(tmp_path, rate):
    wav = tmp_path / "x.wav"
    soundfile.write(str(wav), music(6.01, rate, 2, seed=rate), rate, subtype="FLOAT")
    whole = audio.read_audio(wav)
    for read_frames in (999, 4096, 1 << 17):
        streamed = np.concatenate(list(audio.stream_audio(wav, read_frames)))
        assert len(streamed) == len(whole)
        np.testing.assert_allclose(streamed, whole, atol=1e-6)


def test_streaming_memory_stays_flat_with_length(tmp_path):
    """Decoding and resampling 3 minutes of 44.1 kHz stereo block by block
    peaks at a few MB; the whole-file path needs tens of MB (1.5 GB for 30 minutes)."""
    wav = tmp_path / "long.wav"
    with soundfile.SoundFile(str(wav), "w", 44100, 2, subtype="PCM_16") as f:
        for k in range(18):
            f.write(music(10, 44100, 2, seed=k))
    peaks = {}
    for name, run in (("stream", lambda: sum(len(b) for b in audio.stream_audio(wav))), ("whole", lambda: len(audio.read_audio(wav)))):
        tracemalloc.start()
        length = run()
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert length == 180 * config.SAMPLE_RATE
    assert peaks["stream"] < 12e6 < 40e6 < peaks["whole"], peaks
