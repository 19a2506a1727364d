"""Degenerate MIDI: a tempo of zero, absurd grids, and any unforeseen error in
one song are logged skips naming the file; the batch goes on (real FluidSynth)."""

import mido
import pytest

from dance import config
from dance.data import pipeline
from dance.data.formats import find_chunks
from dance.data.midi import SkipSong, read_song
from tests.midi_helpers import TPB, steady_notes, write_midi

SOUNDFONT = "TimGM6mb.sf2"


def one_tick_meters(path):
    """5,000 one-tick time signatures: 5,000 bars about 1 ms long."""
    return write_midi(path, meters=[(t, 4, 4) for t in range(5000)], notes=steady_notes(40 * TPB))


@pytest.mark.parametrize("name, write, reason", [
    ("tempo_zero", lambda p: write_midi(p, tempos=((0, 500000), (8 * TPB, 0)), notes=steady_notes(40 * TPB)), "implausible tempo"),
    ("one_tick_meters", one_tick_meters, "implausible bar length"),
    ("microsecond_tempo", lambda p: write_midi(p, tempos=((0, 1),), notes=steady_notes(400 * TPB)), "implausible bar length"),
    ("ten_bpm", lambda p: write_midi(p, tempos=((0, 6_000_000),), notes=steady_notes(20 * TPB)), "implausible bar length"),
    ("short_bar_mid_song", lambda p: write_midi(p, meters=((0, 4, 4), (8 * TPB, 1, 16), (8 * TPB + TPB // 4, 4, 4)),
                                              notes=steady_notes(40 * TPB)), "implausible bar length"),
])
def test_degenerate_tempo_maps_and_grids_are_skipped(tmp_path, name, write, reason):
    path = write(tmp_path / f"{name}.mid")
    with pytest.raises(SkipSong) as caught:
        read_song(path)
    assert caught.value.reason == reason


def test_smpte_time_division_is_skipped(tmp_path):
    path = write_midi(tmp_path / "song.mid", notes=steady_notes(40 * TPB))
    data = bytearray(path.read_bytes())
    data[12:14] = (0xE7, 0x28)  # division: -25 frames per second, 40 ticks per frame
    path.write_bytes(bytes(data))
    with pytest.raises(SkipSong, match="SMPTE"):
        read_song(path)


def test_plausible_extremes_are_kept(tmp_path):
    fast = write_midi(tmp_path / "fast.mid", meters=((0, 2, 4),), tempos=((0, 200_000),), notes=steady_notes(40 * TPB))
    slow = write_midi(tmp_path / "slow.mid", meters=((0, 12, 8),), tempos=((0, 1_500_000),), notes=steady_notes(40 * TPB))
    assert len(read_song(fast).bars) >= config.MIN_BARS and len(read_song(slow).bars) >= config.MIN_BARS


def test_bad_songs_are_logged_skips_and_the_batch_goes_on(tmp_path, monkeypatch):
    midi = tmp_path / "midi"
    midi.mkdir()
    write_midi(midi / "a_tempo_zero.mid", tempos=((0, 0),), notes=steady_notes(40 * TPB))
    one_tick_meters(midi / "b_one_tick_meters.mid")
    write_midi(midi / "c_explodes.mid", notes=steady_notes(100 * TPB))
    write_midi(midi / "d_good.mid", notes=steady_notes(100 * TPB), program=0)
    real_read_song = pipeline.read_song

    def read_song_with_a_bug(path):  # an error nobody foresaw, in one song (the workers are forked: they see this)
        if path.name == "c_explodes.mid":
            raise ZeroDivisionError("float division by zero")
        return real_read_song(path)

    monkeypatch.setattr(pipeline, "read_song", read_song_with_a_bug)
    summary = pipeline.build(midi, tmp_path / "out", [SOUNDFONT], workers=2, seed=0, jitter=0.0)
    d = summary.as_dict()
    assert d["songs_rendered"] == 1 and d["songs_skipped"] == 3 and d["jobs_done"] == 4
    assert d["skipped_by_reason"] == {"implausible tempo": 1, "implausible bar length": 1, "unexpected error": 1}
    log = (tmp_path / "out" / "skips.log").read_text()
    assert "a_tempo_zero.mid: implausible tempo" in log and "b_one_tick_meters.mid: implausible bar length" in log
    assert "c_explodes.mid: unexpected error: ZeroDivisionError: float division by zero" in log
    assert find_chunks(tmp_path / "out")


def test_tempo_zero_in_the_command_line_batch(tmp_path):
    """The reported case: `dance data build` on a folder with a tempo-0 song exits 0 and renders the rest."""
    import subprocess
    import sys
    midi = tmp_path / "midi"
    midi.mkdir()
    write_midi(midi / "zero.mid", tempos=((0, 0),), notes=steady_notes(40 * TPB))
    write_midi(midi / "good.mid", notes=steady_notes(100 * TPB), program=0)
    result = subprocess.run([sys.executable, "-m", "dance", "data", "build", str(midi), str(tmp_path / "out"), "--soundfonts", SOUNDFONT],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "songs skipped   1  (implausible tempo: 1)" in result.stdout
    assert "zero.mid" in result.stderr and "Traceback" not in result.stderr


def test_mido_accepts_tempo_zero():
    """The helper really writes a tempo of zero (mido allows 0..0xFFFFFF)."""
    assert mido.MetaMessage("set_tempo", tempo=0).tempo == 0
