"""Pitch augmentation keeps audio and labels together: a rendered click track,
sped up by a non-unit factor, has its onsets on the labelled beats."""

import numpy as np
import pytest

from dance import config
from dance.data import pipeline
from dance.data.dataset import read_chunk_audio
from dance.data.formats import find_chunks, read_labels
from dance.data.labels import frame_instants
from tests.midi_helpers import TPB, write_midi

SOUNDFONT = "TimGM6mb.sf2"
BEATS_PER_BAR = 4


def click_track(path):
    """4/4 at 120 BPM for 40 bars on a wood block: high on downbeats, low on the other beats."""
    notes = [(t, t + TPB // 4, 76 if (t // TPB) % BEATS_PER_BAR == 0 else 77) for t in range(0, 160 * TPB, TPB)]
    return write_midi(path, notes=notes, channel=9)


def onsets(samples: np.ndarray) -> np.ndarray:
    """Times where a 1 ms peak envelope rises through 20 % of its maximum after 100 ms below it."""
    block = config.SAMPLE_RATE // 1000
    envelope = np.abs(samples[: len(samples) // block * block]).reshape(-1, block).max(axis=1)
    above = envelope > 0.2 * envelope.max()
    found, quiet = [], 100
    for i, loud in enumerate(above):
        if loud and quiet >= 100:
            found.append(i / 1000)
        quiet = 0 if loud else quiet + 1
    return np.array(found)


def labelled_beats(labels: np.ndarray) -> tuple[np.ndarray, float]:
    """Beat instants (phase crossing k/4) and the bar length, in chunk seconds."""
    bars = np.unwrap(labels.astype(np.float64) * 2 * np.pi) / (2 * np.pi)
    t = frame_instants(len(labels))
    beats = np.arange(np.ceil(bars[0] * BEATS_PER_BAR), np.floor(bars[-1] * BEATS_PER_BAR) + 1) / BEATS_PER_BAR
    return np.interp(beats, bars, t), float(np.median(np.diff(t) / np.diff(bars)))


def check_chunks(folder):
    chunks = find_chunks(folder)
    assert chunks
    factors = []
    for chunk in chunks:
        samples = read_chunk_audio(chunk).astype(np.float32)
        beats, bar_seconds = labelled_beats(read_labels(chunk.with_suffix(".phase")))
        factors.append(2.0 / bar_seconds)  # a bar of 120 BPM 4/4 lasts 2 s of music
        heard = onsets(samples)
        heard = heard[(heard > 0.1) & (heard < config.CHUNK_SECONDS - 0.1)]
        # a chunk may run into the silent tail after the song's last click
        expected = beats[(beats > 0.1) & (beats < min(config.CHUNK_SECONDS - 0.1, heard.max() + 0.1))]
        assert abs(len(heard) - len(expected)) <= 1, (chunk.name, len(heard), len(expected))
        error = np.abs(heard[:, None] - expected[None, :]).min(axis=1)
        assert error.max() <= config.FRAME_SECONDS, (chunk.name, error.max())
    return factors


@pytest.fixture(scope="module")
def click_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("click")
    click_track(folder / "click.mid")
    return folder


def test_build_render_at_shifted_rate_matches_labels(click_folder, tmp_path):
    pipeline.build(click_folder, tmp_path / "chunks", [SOUNDFONT], workers=1, seed=3, jitter=0.0)
    factors = check_chunks(tmp_path / "chunks")
    assert abs(factors[0] - 1) > 0.05, f"seed gave factor {factors[0]:.3f}, too close to 1 to test anything"


def test_chop_resampling_matches_labels(click_folder, tmp_path):
    pipeline.render(click_folder, tmp_path / "rendered", [SOUNDFONT], workers=1, seed=0, jitter=0.0)
    pipeline.chop(tmp_path / "rendered", tmp_path / "chunks", workers=1, seed=1)
    factors = check_chunks(tmp_path / "chunks")
    assert max(abs(f - 1) for f in factors) > 0.05, factors
