"""MIDI -> bar grid against hand-worked cases, and the usable-song rules."""

import numpy as np
import pytest

from dance.data.labels import chunk_labels, future_phase, phase_at
from dance.data.midi import SkipSong, read_song
from tests.midi_helpers import TPB, steady_notes, write_midi


def bar_starts(path):
    return read_song(path).bar_starts


def test_four_four_with_tempo_change_mid_bar(tmp_path):
    # 120 BPM, then 60 BPM from beat 3 of bar 1: bar 2 starts after 1.0 + 2.0 s
    path = write_midi(tmp_path / "a.mid", tempos=[(0, 500000), (2 * TPB, 1000000)], notes=steady_notes(16 * TPB))
    np.testing.assert_allclose(bar_starts(path), [0.0, 3.0, 7.0, 11.0], atol=1e-9)


def test_three_four_to_seven_eight_to_four_four(tmp_path):
    meters = [(0, 3, 4), (6 * TPB, 7, 8), (13 * TPB, 4, 4)]  # 2 bars 3/4, 2 bars 7/8, then 4/4
    path = write_midi(tmp_path / "b.mid", meters=meters, notes=steady_notes(21 * TPB))
    song = read_song(path)
    np.testing.assert_allclose(song.bar_starts, [0.0, 1.5, 3.0, 4.75, 6.5, 8.5], atol=1e-9)
    assert [(b.numerator, b.denominator) for b in song.bars] == [(3, 4)] * 2 + [(7, 8)] * 2 + [(4, 4)] * 2


def test_six_eight_is_one_bar_per_measure(tmp_path):
    # quarter = 90 BPM: a 6/8 bar is three quarters = 2.0 s, not one bar per beat
    path = write_midi(tmp_path / "c.mid", meters=[(0, 6, 8)], tempos=[(0, 666667)], notes=steady_notes(12 * TPB))
    np.testing.assert_allclose(bar_starts(path), [0.0, 2.0, 4.0, 6.0], atol=1e-5)


def test_pickup_bar_moves_the_origin_and_is_labelled_backwards(tmp_path):
    meters = [(0, 1, 4), (TPB, 4, 4)]  # one-beat anacrusis, then 4/4 at 120 BPM
    path = write_midi(tmp_path / "d.mid", meters=meters, notes=steady_notes(17 * TPB))
    starts = bar_starts(path)
    np.testing.assert_allclose(starts, [0.5, 2.5, 4.5, 6.5], atol=1e-9)
    # the pickup beat is the last quarter of a bar extended backwards from 0.5 s
    np.testing.assert_allclose(phase_at([0.0, 0.25, 0.5, 1.5], starts), [0.75, 0.875, 0.0, 0.5])


def test_labels_extend_past_the_last_bar_and_follow_the_pitch_factor():
    starts = np.array([0.0, 2.0, 4.0])
    np.testing.assert_allclose(phase_at([5.0, 6.5], starts), [0.5, 0.25])
    labels = chunk_labels(starts, music_start=1.0, factor=1.25)
    # frame 0's label instant is the end of the frame: 0.02 s of chunk time = 0.025 s of music
    assert labels[0] == pytest.approx((1.0 + 0.025) / 2.0, abs=1e-6)
    assert labels.shape == (1650,)


def test_future_phase_interpolates_around_the_circle():
    labels = np.array([0.94, 0.98, 0.02, 0.06] + [0.1] * 30, dtype=np.float32)
    halfway = future_phase(labels, anticipation=0.01, n_frames=2).numpy()  # half a frame ahead
    assert halfway[1] == pytest.approx(0.0, abs=1e-6)  # 0.98 -> 0.02 passes through 0, not 0.5
    assert halfway[0] == pytest.approx(0.96, abs=1e-6)
    whole = future_phase(np.stack([labels, labels]), anticipation=0.04, n_frames=3).numpy()
    np.testing.assert_allclose(whole, [[0.02, 0.06, 0.1]] * 2, atol=1e-6)


@pytest.mark.parametrize("kwargs, reason", [
    (dict(meters=()), "no time signature"),
    (dict(meters=[(t, 1, 4) for t in range(0, 16 * TPB, TPB)]), "implausible time signature"),
    (dict(meters=[(0, 4, 64)]), "implausible time signature"),
    (dict(notes=()), "no notes"),
    (dict(notes=steady_notes(4 * TPB)), "too short"),
])
def test_unusable_songs_are_skipped_with_a_reason(tmp_path, kwargs, reason):
    kwargs.setdefault("notes", steady_notes(16 * TPB))
    path = write_midi(tmp_path / "x.mid", **kwargs)
    with pytest.raises(SkipSong) as e:
        read_song(path)
    assert e.value.reason == reason


@pytest.mark.parametrize("content", [b"", b"MThd\x00\x00\x00\x06\x00\x01", b"not a midi file at all"])
def test_corrupt_or_truncated_midi_is_a_skip(tmp_path, content):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(SkipSong) as e:
        read_song(path)
    assert e.value.reason == "unreadable MIDI"


def test_stuck_note_and_late_end_of_track_do_not_stretch_the_song(tmp_path):
    hours = int(3 * 3600 / 0.5 * TPB)  # end of track three hours after the music
    notes = steady_notes(16 * TPB) + [(0, None, 40)]  # plus a note never released
    song = read_song(write_midi(tmp_path / "s.mid", notes=notes, end_tick=hours))
    assert song.music_end == pytest.approx(20.0)  # the stuck note is cut at MAX_NOTE_SECONDS
