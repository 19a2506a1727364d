"""The web page in a real headless Chromium: the file path against Python's
ONNX Runtime, the microphone path fed a rendered song through Chromium's fake
microphone, and a screenshot (saved to results/browser/page.png)."""

import time
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile

from dance import config
from dance.data import pipeline
from dance.data.audio import read_audio
from dance.export import OnnxModel, export_onnx
from dance.inference import DEFAULT_MODEL, load_model, predict_phase
from dance.metrics import downbeats
from tests.browser import mic_flags, page_at, served
from tests.midi_helpers import TPB, write_midi

ARTIFACTS = Path(__file__).resolve().parent.parent / "results" / "browser"
MIC_SECONDS = 24
TRUE_DOWNBEAT_F1 = 0.8  # the shipped model on this drum track, through the live audio path


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 4/4 song with drums and bass at 100 BPM, as a 16 kHz mono 16-bit WAV, with its bar starts."""
    folder = tmp_path_factory.mktemp("browser")
    (folder / "midi").mkdir()
    bars = 24
    notes = []
    for beat in range(bars * 4):
        tick = beat * TPB
        notes.append((tick, tick + TPB // 2, 36 if beat % 4 == 0 else (38 if beat % 2 else 42)))
    write_midi(folder / "midi" / "song.mid", tempos=[(0, 600000)], notes=notes, channel=9)
    pipeline.render(folder / "midi", folder / "rendered", ["FluidR3_GM.sf2"], workers=1, seed=0, jitter=0.0)
    (ogg,) = (folder / "rendered").glob("*.ogg")
    wav = folder / "song.wav"
    soundfile.write(str(wav), read_audio(ogg), config.SAMPLE_RATE, subtype="PCM_16")
    bar_starts = np.loadtxt(ogg.with_suffix(".bars.csv"), delimiter=",", skiprows=1)[:, 0]
    return wav, bar_starts


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    model = export_onnx(load_model(DEFAULT_MODEL), tmp_path_factory.mktemp("site") / "model.onnx")
    with served(model) as url:
        yield url, model


def circular(a, b):
    d = np.abs(np.asarray(a) - np.asarray(b)) % 1
    return np.minimum(d, 1 - d)


def test_file_path_matches_python_onnx_runtime(site, song):
    url, model = site
    wav, _ = song
    with page_at(url, files={"song.wav": wav}) as page:
        result = page.evaluate("dance.analyzeOffline('song.wav', 0.25, 1)")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "page.png"))
    samples, _ = soundfile.read(str(wav), dtype="float32")
    _, python = predict_phase(OnnxModel(model), samples, 0.25)
    assert len(result["phases"]) == len(python)
    assert circular(result["phases"], python).max() < 1e-3


def test_microphone_path_follows_the_downbeats(site, song):
    url, model = site
    wav, bar_starts = song
    with page_at(url, extra_flags=mic_flags(wav)) as page:
        page.click("#mic")
        time.sleep(MIC_SECONDS)
        live = page.evaluate("({frames: dance.live.frames, dropped: dance.live.dropped, log: dance.live.log, rate: dance.live.context.sampleRate})")
        page.screenshot(path=str(ARTIFACTS / "page_live.png"))
    assert live["rate"] == config.SAMPLE_RATE and live["dropped"] == 0
    assert 0.9 * 50 <= live["frames"] / MIC_SECONDS <= 1.05 * 50
    phases = np.array(live["log"])
    samples, _ = soundfile.read(str(wav), dtype="float32")
    _, python = predict_phase(OnnxModel(model), samples, 0.0)
    # the fake microphone plays the file from about when capture starts; find
    # the shift between the page's frames and the file's frames, then compare
    skip = 5 * config.FRAMES_PER_SECOND
    shifts = range(-50, 51)  # within half a bar of this 2.4 s bar, so a bar-long shift cannot pass for a match
    differences = [circular(phases[skip: len(phases) - 51], python[skip + shift: skip + shift + len(phases) - 51 - skip]).mean() for shift in shifts]
    shift = shifts[int(np.argmin(differences))]
    page_times = (np.arange(len(phases)) + 1 + shift) * config.FRAME_SECONDS  # in file time
    reference = bar_starts[(bar_starts > 5) & (bar_starts < page_times[-1] - 1)]
    truth = mir_eval.beat.f_measure(reference, mir_eval.beat.trim_beats(downbeats(page_times, phases)), 0.07)
    print(f"microphone path: {live['frames']} frames in {MIC_SECONDS} s, 0 dropped; page frame k = file frame k{shift:+d}; "
          f"mean phase difference to Python on the same file {min(differences):.4f} bar; downbeat F1 against the truth {truth:.2f}")
    assert min(differences) < 0.05
    assert truth >= TRUE_DOWNBEAT_F1
