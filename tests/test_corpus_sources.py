"""The new corpus sources keep the truth: a music21 piece's pickup and meter
change reach the bar grid, and a performed tempo curve moves the bar lines
exactly as worked out by hand."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
from music21 import meter, note, stream

from dance import config
from dance.corpus import music21_source, performance
from dance.data.midi import read_song


def score_with_pickup_and_meter_change() -> stream.Score:
    """A one-quarter pickup, four bars of 4/4, then three bars of 3/4."""
    part = stream.Part()
    pickup = stream.Measure(number=0)
    pickup.timeSignature = meter.TimeSignature("4/4")
    pickup.append(note.Note("G4", quarterLength=1))
    pickup.paddingLeft = 3
    part.append(pickup)
    for number in range(1, 5):
        m = stream.Measure(number=number)
        m.repeatAppend(note.Note("C4", quarterLength=1), 4)
        part.append(m)
    for number in range(5, 8):
        m = stream.Measure(number=number)
        if number == 5:
            m.timeSignature = meter.TimeSignature("3/4")
        m.repeatAppend(note.Note("E4", quarterLength=1), 3)
        part.append(m)
    score = stream.Score()
    score.insert(0, part)
    return score


def written_song(tmp_path, seed: int):
    """(song read back from the MIDI the score becomes, seconds per quarter note)."""
    midi = music21_source.score_to_midi(score_with_pickup_and_meter_change(), np.random.default_rng(seed))
    path = tmp_path / "piece.mid"
    midi.save(str(path))
    return read_song(path), next(m.tempo for m in midi.tracks[0] if m.type == "set_tempo") / 1e6


def test_music21_piece_keeps_pickup_and_meter_change(tmp_path):
    song, quarter = written_song(tmp_path, seed=0)
    # phase origin at the first full bar (after the one-quarter pickup), then 4 bars of 4 and 3 of 3 quarters
    expected = quarter * np.array([1, 5, 9, 13, 17, 20, 23])
    assert np.allclose(song.bar_starts[:7], expected, atol=1e-6)
    assert [(b.numerator, b.denominator) for b in song.bars[:7]] == [(4, 4)] * 4 + [(3, 4)] * 3


def test_music21_short_piece_is_repeated_with_its_pickup_over_the_last_bar(tmp_path):
    song, quarter = written_song(tmp_path, seed=1)
    # each play after the first starts 25 quarters later, its pickup sounding in the last 3/4 bar
    one_play = np.array([1, 5, 9, 13, 17, 20, 23])
    assert np.allclose(song.bar_starts[7:14], quarter * (one_play + 25), atol=1e-6)
    assert np.all(np.diff(song.bar_starts) > 2.9 * quarter)


def test_training_and_benchmark_collections_are_disjoint_and_exist():
    assert not set(config.MUSIC21_TRAINING_COLLECTIONS) & set(config.MUSIC21_BENCHMARK_COLLECTIONS)
    found = music21_source.collection_files()
    assert set(found) <= set(config.MUSIC21_TRAINING_COLLECTIONS) and len(found) >= 10
    pieces = music21_source.choose_pieces(30, seed=0)
    assert len(set(pieces)) == 30
    assert not any(part in config.MUSIC21_BENCHMARK_COLLECTIONS for p in pieces for part in Path(p).parts)


def four_four_song(bars: int) -> mido.MidiFile:
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000), mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    notes = mido.MidiTrack()
    for _ in range(bars * 4):
        notes.append(mido.Message("note_on", note=60, velocity=80, time=0))
        notes.append(mido.Message("note_off", note=60, velocity=0, time=480))
    midi.tracks.extend([meta, notes])
    return midi


def test_tempo_curve_moves_bar_lines_as_worked_by_hand(tmp_path):
    """120 BPM; the speed doubles from the second bar: bars of 2 s, then 1 s."""
    tracks = performance.to_events(four_four_song(bars=6))
    performance.perform_tempo(tracks, 480, lambda beats, bar_beats: np.where(beats >= 4, 2.0, 1.0))
    path = tmp_path / "performed.mid"
    performance.from_events(tracks, 480).save(str(path))
    song = read_song(path)
    assert np.allclose(song.bar_starts, [0.0, 2.0, 3.0, 4.0, 5.0, 6.0], atol=1e-6)


@pytest.mark.parametrize("style", performance.TEMPO_STYLES)
def test_every_tempo_style_keeps_notes_on_their_bars(tmp_path, style):
    """The performed tempo map is the label source: each bar's first note
    (before per-part timing) must sit on the bar line the labels state."""
    tracks = performance.to_events(four_four_song(bars=16))
    rng = np.random.default_rng(3)
    performance.perform_tempo(tracks, 480, lambda beats, bar_beats: performance.speed_curve(rng, style, beats, bar_beats))
    path = tmp_path / "performed.mid"
    performance.from_events(tracks, 480).save(str(path))
    song = read_song(path)
    onsets = song.tempo_map.to_seconds([n.start for n in song.notes])
    assert np.allclose(song.bar_starts, onsets[::4][: len(song.bar_starts)], atol=1e-6)
    lengths = np.diff(song.bar_starts)
    assert 2.0 / 1.6 - 1e-3 < lengths.min() and lengths.max() < 2.0 / 0.6 + 1e-3  # speeds stay within [0.6, 1.6]


def test_arrangements_remove_the_right_parts():
    midi = four_four_song(bars=12)
    drums = mido.MidiTrack()
    for _ in range(48):
        drums.append(mido.Message("note_on", channel=9, note=36, velocity=100, time=0))
        drums.append(mido.Message("note_off", channel=9, note=36, velocity=0, time=480))
    midi.tracks.append(drums)
    for arrangement, keeps in (("no_drums", {0}), ("drums_only", {9})):
        performed, how = performance.perform(midi, np.random.default_rng(0), {arrangement: 1.0})
        channels = {m.channel for t in performed.tracks for m in t if m.type == "note_on"}
        assert how.arrangement == arrangement and channels == keeps


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_click_track_accents_fall_on_the_bar_lines(tmp_path, seed):
    from dance.corpus import metronome
    path = tmp_path / "click.mid"
    metronome.compose(seed).save(str(path))
    song = read_song(path)
    accents = song.tempo_map.to_seconds([n.start for n in song.notes if n.velocity == 120])
    assert len(song.bars) >= 4
    assert np.allclose(accents[: len(song.bar_starts)], song.bar_starts, atol=1e-6)


def test_perform_folder_keeps_every_bar_and_meter_and_skips_a_corrupt_file(tmp_path, caplog):
    from dance.corpus.default import perform_folder
    source = tmp_path / "collection"
    (source / "album").mkdir(parents=True)
    music21_source.score_to_midi(score_with_pickup_and_meter_change(), np.random.default_rng(1)).save(str(source / "album" / "piece.MIDI"))
    (source / "broken.mid").write_bytes(b"MThd this is not a MIDI file")
    out = tmp_path / "performed"
    assert perform_folder(source, out, seed=3) == 1
    assert "skipped broken.mid" in caplog.text
    original, performed = read_song(source / "album" / "piece.MIDI"), read_song(out / "album" / "piece.mid")
    meters = [(b.numerator, b.denominator) for b in original.bars]
    assert [(b.numerator, b.denominator) for b in performed.bars][: len(meters)] == meters
    assert len(performed.bars) - len(meters) <= 1  # a last note played late may open one more bar
    assert len(performed.notes) == len(original.notes)
    first = (out / "album" / "piece.mid").read_bytes()
    assert perform_folder(source, out, seed=3) == 1 and (out / "album" / "piece.mid").read_bytes() == first  # a rerun keeps it


def test_perform_folder_leaves_out_what_exclude_matches(tmp_path):
    from dance.corpus.default import perform_folder
    source = tmp_path / "collection"
    for relative in ("Band/Song One.mid", "Band/Funkytown.mid", "Video Games/Level 1.mid", "Video Games/SRB2/Zone.mid"):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        music21_source.score_to_midi(score_with_pickup_and_meter_change(), np.random.default_rng(1)).save(str(source / relative))
    out = tmp_path / "performed"
    assert perform_folder(source, out, seed=0, exclude=["^video games/(?!srb2/)", "FUNKYTOWN"]) == 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mid")) == ["Band/Song One.mid", "Video Games/SRB2/Zone.mid"]
    with pytest.raises(ValueError, match="--exclude leaves"):
        perform_folder(source, tmp_path / "none", seed=0, exclude=["."])
    with pytest.raises(ValueError, match="not a regular expression"):
        perform_folder(source, tmp_path / "none", seed=0, exclude=["(unclosed"])


def test_some_click_tracks_are_beeps_with_a_higher_downbeat(tmp_path):
    from dance.corpus import metronome
    kinds = set()
    for seed in range(12):
        path = tmp_path / f"click{seed}.mid"
        metronome.compose(seed).save(str(path))
        song = read_song(path)
        pitched = [n for n in song.notes if n.channel == metronome.BEEP_CHANNEL]
        kinds.add(bool(pitched))
        if pitched:
            downbeats = {n.pitch for n in pitched if n.velocity == metronome.ACCENT_VELOCITY}
            others = {n.pitch for n in pitched if n.velocity < metronome.ACCENT_VELOCITY}
            assert len(downbeats) == 1 and len(others) == 1 and min(downbeats) > max(others)
            assert len(pitched) == len(song.notes)  # no percussion left under the beeps
    assert kinds == {True, False}
