"""The acoustic chain keeps the music's timing: a click track passed through
every effect still has its onsets within one frame of the labelled beats."""

from __future__ import annotations

import numpy as np
import pytest

from dance import config
from dance.data import augment
from dance.data.labels import frame_instants, phase_at

BEAT_SECONDS = 0.5
BEATS_PER_BAR = 4


def click_track(seconds: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Short decaying 1 kHz clicks on every beat, louder on the downbeat;
    (samples, bar starts)."""
    samples = np.zeros(int(seconds * config.SAMPLE_RATE), dtype=np.float32)
    t = np.arange(int(0.03 * config.SAMPLE_RATE)) / config.SAMPLE_RATE
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.006)
    beats = np.arange(0.25, seconds - 0.1, BEAT_SECONDS)
    for k, beat in enumerate(beats):
        start = int(round(beat * config.SAMPLE_RATE))
        samples[start: start + len(click)] += click * (0.8 if k % BEATS_PER_BAR == 0 else 0.4)
    return samples, beats[::BEATS_PER_BAR]


def onset_frames(samples: np.ndarray) -> np.ndarray:
    """Rise in log energy per frame (20 ms frames); energy 40 dB under the mean
    counts as silence, so a gate opening on faint noise is no onset."""
    frames = samples[: len(samples) // config.FRAME_SIZE * config.FRAME_SIZE].reshape(-1, config.FRAME_SIZE)
    energy = np.mean(frames.astype(np.float64) ** 2, axis=1)
    log_energy = np.log(energy + 1e-4 * energy.mean())
    return np.diff(log_energy, prepend=log_energy[0])


def labelled_beat_frames(bar_starts: np.ndarray, n_frames: int) -> np.ndarray:
    """Frames whose end instant first reaches each beat, from the phase labels."""
    phases = phase_at(frame_instants(n_frames), bar_starts) * BEATS_PER_BAR
    return np.nonzero(np.diff(np.floor(phases)) != 0)[0] + 1


@pytest.mark.parametrize("effect", [*augment.EFFECTS, "all"])
def test_effects_keep_onsets_on_the_labels(effect):
    samples, bar_starts = click_track()
    rng = np.random.default_rng(5)
    chosen = {name: 1.0 for name in augment.EFFECTS if name != "dropout"} if effect == "all" else {effect: 1.0}
    out, applied = augment.augment(samples, rng, chosen)
    assert applied == list(chosen) and out.shape == samples.shape and np.all(np.isfinite(out))
    assert_onsets_on_labels(out, bar_starts, skip_gaps=effect == "dropout")


def assert_onsets_on_labels(out: np.ndarray, bar_starts: np.ndarray, skip_gaps: bool = False) -> None:
    flux = onset_frames(out)
    beats = labelled_beat_frames(bar_starts, len(flux))
    misses = []
    for frame in beats[1:-1]:
        window = slice(frame - 3, frame + 4)
        peak = frame - 3 + int(np.argmax(flux[window]))
        if skip_gaps and np.max(np.abs(out[frame * config.FRAME_SIZE - 400: (frame + 1) * config.FRAME_SIZE])) == 0:
            continue  # this click fell into a gap
        misses.append(abs(peak - frame))
    assert misses and max(misses) <= 1, misses


@pytest.mark.parametrize("seed", range(4))
def test_impulse_responses_start_with_the_direct_sound(seed):
    ir = augment.impulse_response(np.random.default_rng(seed))
    assert ir[0] == 1.0 and np.argmax(np.abs(ir)) == 0 and 0.2 * config.SAMPLE_RATE <= len(ir) <= 1.2 * config.SAMPLE_RATE
    samples, bar_starts = click_track()
    assert_onsets_on_labels(np.convolve(samples, ir)[: len(samples)], bar_starts)


def test_the_room_scene_applies_reverb_band_limit_and_noise_together():
    samples, bar_starts = click_track()
    out, applied = augment.augment(samples, np.random.default_rng(3), {"room": 1.0})
    assert applied == list(augment.ROOM)
    assert_onsets_on_labels(out, bar_starts)


def test_augment_is_reproducible_and_bounded():
    samples, _ = click_track(4.0)
    a, applied_a = augment.augment(samples, np.random.default_rng(9))
    b, applied_b = augment.augment(samples, np.random.default_rng(9))
    assert applied_a == applied_b and np.array_equal(a, b) and np.abs(a).max() <= 1.0


def test_expected_shares_match_the_draws():
    """The shares `dance train` prints are what the chain applies."""
    samples, _ = click_track(0.5)
    rng = np.random.default_rng(11)
    draws = [augment.augment(samples, rng)[1] for _ in range(1500)]
    for name, share in augment.expected_shares().items():
        seen = np.mean([not applied if name == "clean" else name in applied for applied in draws])
        assert abs(seen - share) < 0.04, (name, seen, share)
    assert augment.describe_shares().startswith("reverb 55%, band_limit 55%")


def test_rms_in_float32_matches_float64():
    """The chain's level matching uses a float32 dot product for speed; over a whole
    chunk of loud and of very quiet audio it must still agree with float64."""
    rng = np.random.default_rng(3)
    for level in (0.5, 1e-4):
        x = (rng.standard_normal(config.CHUNK_FRAMES * config.FRAME_SIZE) * level).astype(np.float32)
        exact = np.sqrt(np.mean(np.square(x, dtype=np.float64)))
        assert augment.rms(x) == pytest.approx(exact, rel=1e-5)
