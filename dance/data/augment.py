"""Acoustic augmentation during training: what a room, a cheap microphone, a
small speaker and a noisy place do to music. Every effect keeps the timing of
the music (no pre-delay, no look-ahead, filters with a group delay far below a
frame), so the labels stay true; `tests/test_augment.py` renders a click track
through the whole chain and checks the onsets.

Effects come from pedalboard (Spotify's audio effects library) and NumPy. Each
is applied with its own probability, so a batch mixes clean and degraded audio;
`EFFECTS` lists them in chain order, a room before the microphone that hears it."""

from __future__ import annotations

import numpy as np
import pedalboard

from dance import config

PROBABILITY = {"reverb": 0.4, "band_limit": 0.4, "compress": 0.25, "clip": 0.1, "noise": 0.4, "hum": 0.1, "dropout": 0.1}


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An algorithmic room (Freeverb): the dry sound first, the tail after it."""
    room = pedalboard.Reverb(room_size=rng.uniform(0.1, 0.95), damping=rng.uniform(0.1, 0.9),
                             wet_level=rng.uniform(0.05, 0.5), dry_level=rng.uniform(0.5, 1.0), width=0.0)
    return room(x, config.SAMPLE_RATE)


def band_limit(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A phone, laptop microphone or small speaker: no lows, few highs."""
    board = pedalboard.Pedalboard([pedalboard.HighpassFilter(rng.uniform(100, 500)),
                                   pedalboard.LowpassFilter(rng.uniform(2500, 7500))])
    return board(x, config.SAMPLE_RATE)


def compress(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    squash = pedalboard.Compressor(threshold_db=rng.uniform(-35, -15), ratio=rng.uniform(2, 10),
                                   attack_ms=rng.uniform(1, 20), release_ms=rng.uniform(50, 300))
    return squash(x, config.SAMPLE_RATE)


def clip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An overdriven input stage."""
    return np.tanh(x * 10 ** (rng.uniform(6, 20) / 20)) * 0.5


def noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise at 5-35 dB below the music."""
    spectrum = np.fft.rfft(rng.standard_normal(len(x)))
    frequencies = np.maximum(np.fft.rfftfreq(len(x)), 1.0 / len(x))
    spectrum /= frequencies ** (rng.choice([0.0, 0.5, 1.0]))  # white, pink, brown
    colour = np.fft.irfft(spectrum, len(x))
    level = rms(x) / max(rms(colour), 1e-9) * 10 ** (-rng.uniform(5, 35) / 20)
    return x + (colour * level).astype(np.float32)


def hum(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mains hum with harmonics, 20-40 dB below the music."""
    t = np.arange(len(x)) / config.SAMPLE_RATE
    base = rng.choice([50.0, 60.0])
    tone = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3)) / k for k in (1, 2, 3))
    return x + (tone * rms(x) / rms(tone) * 10 ** (-rng.uniform(20, 40) / 20)).astype(np.float32)


def dropout(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One to three gaps of 50-300 ms (a glitching connection)."""
    x = x.copy()
    for _ in range(int(rng.integers(1, 4))):
        length = int(rng.uniform(0.05, 0.3) * config.SAMPLE_RATE)
        start = int(rng.integers(0, max(1, len(x) - length)))
        x[start: start + length] = 0.0
    return x


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


EFFECTS = {"reverb": reverb, "band_limit": band_limit, "compress": compress, "clip": clip,
           "noise": noise, "hum": hum, "dropout": dropout}


def augment(x: np.ndarray, rng: np.random.Generator, probability: dict[str, float] = PROBABILITY) -> tuple[np.ndarray, list[str]]:
    """float32 mono at SAMPLE_RATE -> (augmented copy, effects applied), the
    level brought back to the input's and limited to [-1, 1]."""
    applied = [name for name in EFFECTS if rng.random() < probability.get(name, 0.0)]
    y = x.astype(np.float32)
    for name in applied:
        y = EFFECTS[name](y, rng).astype(np.float32)
    if applied and rms(y) > 1e-9:
        y = y * (rms(x) / rms(y))
    return np.clip(y, -1.0, 1.0), applied
