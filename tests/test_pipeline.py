"""End to end through the real command: corpus -> build -> dataset, resume
after an interruption, and one-line errors on bad input."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dance import config
from dance.corpus.default import write_corpus
from dance.data import pipeline
from dance.data.dataset import ChunkDataset, split_by_song
from dance.data.formats import find_chunks
from tests.helpers import dance
from tests.midi_helpers import TPB, steady_notes, write_midi

SOUNDFONT = "TimGM6mb.sf2"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("midi")
    assert write_corpus(folder, songs=4, seed=7, workers=2) == 4
    return folder


def test_generate_build_and_load_one_chunk(corpus, tmp_path):
    out = tmp_path / "chunks"
    result = dance("data", "build", corpus, out, "--soundfonts", SOUNDFONT, check_rc=0)
    assert "songs seen      4" in result.stdout and "chunks written" in result.stdout
    chunks = find_chunks(out)
    assert len(chunks) >= 4
    frames, phase, beat = ChunkDataset(chunks[:1])[0]
    assert frames.shape == (config.CHUNK_FRAMES, config.FRAME_SIZE) and phase.shape == beat.shape == (config.LABEL_FRAMES,)
    assert (beat >= 0).all() and (beat < 1).all()
    assert 0.01 < frames.abs().max() <= 1.0
    assert (phase >= 0).all() and (phase < 1).all()
    wraps = int((np.diff(phase.numpy()) < -0.5).sum())
    assert 5 <= wraps <= 60  # 33 s of bars at 60-180 BPM in any of the meters


def test_interrupted_build_resumes_without_partial_files(corpus, tmp_path):
    out = tmp_path / "chunks"
    cmd = [sys.executable, "-m", "dance", "data", "build", str(corpus), str(out), "--soundfonts", SOUNDFONT, "--workers", "1"]
    # a shell that started the tests in the background hands SIGINT down ignored; Ctrl-C must reach dance
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(out.glob("*.done")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "rerun the same command to resume" in stderr
    assert not list(out.glob(".*tmp*"))
    first_done = {p.name for p in out.glob("*.done")}
    assert 1 <= len(first_done) < 4

    result = dance("data", "build", corpus, out, "--soundfonts", SOUNDFONT, check_rc=0)
    assert f"{len(first_done)} already done before" in result.stdout
    assert len(list(out.glob("*.done"))) == 4 and not list(out.glob(".*tmp*"))
    for chunk in find_chunks(out):
        assert chunk.with_suffix(".phase").exists()
    assert all(p.with_suffix(".phase").exists() for p in out.glob("*.ogg"))


def test_bad_midi_is_skipped_and_the_batch_goes_on(tmp_path):
    midi = tmp_path / "midi"
    (midi / "A" / "B").mkdir(parents=True)
    (midi / "A" / "corrupt.mid").write_bytes(b"MThd\x00\x00garbage")
    write_midi(midi / "A" / "no_meter.midi", meters=(), notes=steady_notes(40 * TPB))
    write_midi(midi / "A" / "B" / "good.mid", notes=steady_notes(100 * TPB), program=0)
    result = dance("data", "build", midi, tmp_path / "out", "--soundfonts", SOUNDFONT, check_rc=0)
    assert "songs seen      3" in result.stdout
    assert "songs skipped   2  (unreadable MIDI: 1, no time signature: 1)" in result.stdout
    assert "corrupt.mid" in (tmp_path / "out" / "skips.log").read_text()
    assert len(find_chunks(tmp_path / "out")) >= 1


def test_render_is_bounded_by_the_music_not_the_end_of_track(tmp_path):
    midi = tmp_path / "midi"
    midi.mkdir()
    hours_later = int(2 * 3600 / 0.5 * TPB)
    write_midi(midi / "long_tail.mid", notes=steady_notes(80 * TPB) + [(0, None, 40)], end_tick=hours_later)
    pipeline.render(midi, tmp_path / "out", [SOUNDFONT], workers=1, seed=0, jitter=0.0)
    import soundfile
    (ogg,) = (tmp_path / "out").glob("*.ogg")
    assert soundfile.info(str(ogg)).duration == pytest.approx(40.0 + config.RELEASE_TAIL_SECONDS, abs=0.5)


@pytest.mark.parametrize("case, message", [
    ("missing soundfont", "soundfont nosuch.sf2 not found"),
    ("not a soundfont", "is not a SoundFont"),
    ("empty folder", "no .mid/.midi files under"),
    ("unwritable output", "is not writable"),
    ("no fluidsynth", "fluidsynth is not installed"),
])
def test_bad_setup_gives_one_line_error(tmp_path, case, message):
    midi = tmp_path / "midi"
    midi.mkdir()
    if case != "empty folder":
        write_midi(midi / "song.mid", notes=steady_notes(100 * TPB))
    out, font, env = tmp_path / "out", SOUNDFONT, None
    if case == "missing soundfont":
        font = "nosuch.sf2"
    elif case == "not a soundfont":
        font = tmp_path / "fake.sf2"
        font.write_text("hello")
    elif case == "unwritable output":
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "out"
    elif case == "no fluidsynth":
        env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    result = dance("data", "build", midi, out, "--soundfonts", font, env=env, check_rc=2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_split_by_song_never_shares_a_song(tmp_path):
    chunks = [tmp_path / f"song{s}-abc__Font{f}__{k:03d}.ogg" for s in range(50) for f in range(3) for k in range(4)]
    train, validation = split_by_song(chunks, 0.2)
    songs = lambda paths: {p.name.split("__")[0] for p in paths}  # noqa: E731
    assert train and validation and not songs(train) & songs(validation)
    assert len(train) + len(validation) == len(chunks)
