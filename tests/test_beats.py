"""Beat labels: the beat rule, beats that follow the tempo map, the .beat
files of build and chop, relabelling older chunks, and the beat head in
training, prediction and evaluation."""

import json
import shutil

import numpy as np
import pytest
import torch

from dance import config, metrics
from dance.data import pipeline
from dance.data.formats import read_bar_grid, read_labels
from dance.data.labels import beat_starts, beats_per_bar
from dance.data.midi import read_song
from dance.model import selector
from dance.model.phase_tcn_mel import PhaseTCNMel
from dance.train import batch_step
from tests.helpers import circular
from tests.midi_helpers import TPB, steady_notes, write_midi


@pytest.mark.parametrize("meter, beats", [((4, 4), 4), ((3, 4), 3), ((2, 2), 2), ((5, 4), 5), ((6, 8), 2),
                                          ((9, 8), 3), ((12, 8), 4), ((3, 8), 1), ((7, 8), 7), ((5, 8), 5)])
def test_beats_per_bar_follows_the_meter(meter, beats):
    assert beats_per_bar(*meter) == beats


def test_beats_divide_each_bar_and_a_bar_cut_short_keeps_the_beats_that_fit():
    # 4/4 at 2 s a bar, then a 4/4 bar cut to half by a change to 6/8 (3 s bars)
    starts = np.array([0.0, 2.0, 3.0, 6.0])
    beats = beat_starts(starts, [(4, 4), (4, 4), (6, 8), (6, 8)], bar_lengths=np.array([2.0, 2.0, 3.0, 3.0]))
    np.testing.assert_allclose(beats, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.5, 6.0, 7.5])


def test_beats_follow_the_tempo_map_within_a_bar(tmp_path):
    # 120 BPM, then 60 BPM from the third quarter of the first bar
    path = write_midi(tmp_path / "s.mid", meters=[(0, 4, 4)], tempos=[(0, 500000), (2 * TPB, 1000000)],
                      notes=steady_notes(24 * TPB))
    song = read_song(path)
    np.testing.assert_allclose(song.beat_starts[:6], [0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(song.bar_starts[:2], [0.0, 3.0])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A 3/4 song and a 6/8 song, built into chunks."""
    root = tmp_path_factory.mktemp("beats")
    (root / "midi").mkdir()
    for name, meter, step in (("three", (0, 3, 4), TPB), ("six", (0, 6, 8), 3 * TPB // 2)):
        write_midi(root / "midi" / f"{name}.mid", meters=[meter], notes=steady_notes(150 * TPB, step=step, pitch=50), program=0)
    pipeline.build(root / "midi", root / "chunks", ["TimGM6mb.sf2"], workers=1, seed=3, jitter=0.0)
    return root


def test_build_writes_beat_labels_that_wrap_beats_per_bar_times_per_bar(built):
    for chunk in sorted((built / "chunks").glob("*.ogg")):
        bar = read_labels(chunk.with_suffix(".phase"))
        beat = read_labels(chunk.with_suffix(".beat"))
        instants = np.arange(len(bar))
        bars, beats = metrics.downbeats(instants, bar), metrics.downbeats(instants, beat)
        per_bar = 3 if chunk.name.startswith("three") else 2
        assert abs(len(beats) - per_bar * len(bars)) <= per_bar
        # the bar phase times the beats per bar is the beat phase, in a steady tempo
        assert np.max(circular(np.mod(bar * per_bar, 1.0), beat)) < 1e-3


def test_relabel_replays_the_build_and_refuses_another_seed(built, tmp_path, capsys):
    chunks = tmp_path / "chunks"
    shutil.copytree(built / "chunks", chunks)
    written = {p.name: p.read_text() for p in chunks.glob("*.beat")}
    for p in chunks.glob("*.beat"):
        p.unlink()
    count, skipped = pipeline.relabel(chunks, [built / "midi"], seed=3, jitter=0.0)
    assert count == len(written) and not skipped
    assert {p.name: p.read_text() for p in chunks.glob("*.beat")} == written
    for p in chunks.glob("*.beat"):
        p.unlink()
    count, skipped = pipeline.relabel(chunks, [built / "midi"], seed=4, jitter=0.0)
    assert count == 0 and skipped == {"plan differs": 2} and not list(chunks.glob("*.beat"))
    (tmp_path / "other").mkdir()
    write_midi(tmp_path / "other" / "x.mid", notes=steady_notes(40 * TPB))
    count, skipped = pipeline.relabel(chunks, [tmp_path / "other"], seed=3, jitter=0.0)
    assert count == 0 and skipped == {"no MIDI file": 2}


def test_chop_spreads_the_beats_of_a_bars_csv_evenly(tmp_path):
    (tmp_path / "midi").mkdir()
    write_midi(tmp_path / "midi" / "s.mid", meters=[(0, 4, 4), (32 * TPB, 3, 4)], notes=steady_notes(120 * TPB, pitch=50), program=0)
    pipeline.render(tmp_path / "midi", tmp_path / "rendered", ["TimGM6mb.sf2"], workers=1, seed=0, jitter=0.0)
    pipeline.chop(tmp_path / "rendered", tmp_path / "chunks", workers=1, seed=0)
    (bars_csv,) = (tmp_path / "rendered").glob("*.bars.csv")
    starts, meters = read_bar_grid(bars_csv)
    beats = beat_starts(starts, meters)
    np.testing.assert_allclose(np.diff(beats)[:40], 0.5, atol=1e-3)  # 120 BPM quarters, 4/4 then 3/4
    for chunk in (tmp_path / "chunks").glob("*.ogg"):
        bar, beat = read_labels(chunk.with_suffix(".phase")), read_labels(chunk.with_suffix(".beat"))
        instants = np.arange(len(bar))
        ratio = len(metrics.downbeats(instants, beat)) / len(metrics.downbeats(instants, bar))
        assert 2.5 <= ratio <= 4.5  # 3 or 4 beats a bar


def test_training_learns_beats_where_labelled_and_skips_chunks_without(small_chunks):
    torch.manual_seed(0)
    model = PhaseTCNMel(channels=16, layers=3, beats=True)
    frames = torch.randn(2, config.CHUNK_FRAMES, config.FRAME_SIZE) * 0.1
    bar = torch.rand(2, config.LABEL_FRAMES)
    beat = torch.rand(2, config.LABEL_FRAMES)
    with_beats = batch_step(model, frames, bar, beat, 0.2, 50)
    unknown = beat.clone()
    unknown[1] = float("nan")
    partly = batch_step(model, frames, bar, unknown, 0.2, 50)
    none = batch_step(model, frames, bar, torch.full_like(beat, float("nan")), 0.2, 50)
    bar_only = batch_step(PhaseTCNMel(channels=16, layers=3), frames, bar, beat, 0.2, 50)
    assert all(torch.isfinite(x) for x in (with_beats, partly, none, bar_only))
    assert with_beats > none and partly > none


def test_predict_writes_a_beat_phase_column_and_eval_scores_beats(built, tmp_path):
    from dance import evaluate, inference

    torch.manual_seed(0)
    selector.save(tmp_path / "beats.pt", PhaseTCNMel(channels=16, layers=3, onset_flux=True, beats=True))
    (chunk,) = sorted((built / "chunks").glob("three*__000.ogg"))
    model = inference.load_model(tmp_path / "beats.pt")
    prediction = inference.predict_file(model, chunk, 0.0)
    inference.write_csv(tmp_path / "p.csv", prediction)
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "time,phase,beat_phase,confidence" and len(lines) == config.CHUNK_FRAMES + 1
    assert [float(x) for x in lines[1].split(",")] == pytest.approx(
        [prediction.times[0], prediction.phases[0], prediction.beat_phases[0], prediction.confidences[0]], abs=1e-3)
    selector.save(tmp_path / "bar.pt", PhaseTCNMel(channels=16, layers=3, onset_flux=True))
    bar_only = inference.predict_file(inference.load_model(tmp_path / "bar.pt"), chunk, 0.0)
    assert not bar_only.has_beats
    inference.write_csv(tmp_path / "q.csv", bar_only)
    assert (tmp_path / "q.csv").read_text().startswith("time,phase,confidence\n")
    folder = tmp_path / "eval"
    folder.mkdir()
    for suffix in (".ogg", ".phase", ".beat"):
        shutil.copy(chunk.with_suffix(suffix), folder)
    shutil.copy(chunk, folder / "no-beats.ogg")  # a chunk from before beat labels: no beat F1
    shutil.copy(chunk.with_suffix(".phase"), folder / "no-beats.phase")
    summary = evaluate.evaluate(model, folder, tmp_path / "out", pictures=False)
    assert 0.0 <= summary["all @ 0.0s"]["beat_f1"] <= 1.0
    rows = json.loads((tmp_path / "out" / "eval.json").read_text())["files"]
    assert [np.isfinite(r["beat_f1"]) for r in rows] == [False, False, True, True]
