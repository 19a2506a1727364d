"""Acoustic augmentation during training: what a room, a cheap microphone, a
small speaker and a noisy place do to music. Every effect keeps the timing of
the music (no pre-delay, no look-ahead, filters with a group delay far below a
frame), so the labels stay true; `tests/test_augment.py` renders a click track
through the whole chain and checks the onsets.

Effects come from pedalboard (Spotify's audio effects library) and NumPy. Each
is applied with its own probability, so a batch mixes clean and degraded audio;
`EFFECTS` lists them in chain order, a room before the microphone that hears it."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pedalboard

from dance import config

PROBABILITY = {"reverb": 0.4, "band_limit": 0.4, "compress": 0.25, "clip": 0.1, "noise": 0.4, "hum": 0.1, "gate": 0.15, "dropout": 0.1}


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


NOISE_BANK_SECONDS = 40  # longer than a chunk: every chunk reads a random stretch of it


@lru_cache(maxsize=1)
def noise_bank() -> dict[str, np.ndarray]:
    """White, pink and brown noise made once per process (an FFT of this length
    costs more than the rest of the chain together)."""
    n = NOISE_BANK_SECONDS * config.SAMPLE_RATE
    spectrum = np.fft.rfft(np.random.default_rng(0).standard_normal(n))
    frequencies = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    bank = {}
    for name, slope in (("white", 0.0), ("pink", 0.5), ("brown", 1.0)):
        colour = np.fft.irfft(spectrum / frequencies**slope, n)
        bank[name] = (colour / np.std(colour)).astype(np.float32)
    return bank


def noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise at 5-35 dB below the music."""
    colour = noise_bank()[rng.choice(["white", "pink", "brown"])]
    start = int(rng.integers(0, len(colour) - len(x))) if len(colour) > len(x) else 0
    stretch = np.resize(colour[start:], len(x))
    level = rms(x) * 10 ** (-rng.uniform(5, 35) / 20)
    return x + stretch * np.float32(level * rng.choice([-1.0, 1.0]))


def hum(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mains hum with harmonics, 20-40 dB below the music: one second of it
    (a whole number of cycles at 50 and 60 Hz) repeated."""
    t = np.arange(config.SAMPLE_RATE, dtype=np.float32) / config.SAMPLE_RATE
    base = rng.choice([50.0, 60.0])
    second = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3)).astype(np.float32) / k for k in (1, 2, 3))
    tone = np.resize(second, len(x))
    return x + tone * np.float32(rms(x) / rms(second) * 10 ** (-rng.uniform(20, 40) / 20))


def gate(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A noise gate: every 10 ms block whose peak is 10-30 dB below the
    music's RMS becomes digital silence, as in a gated recording, a DAW
    export or a synthesised click track, where the gaps are truly silent."""
    block = config.SAMPLE_RATE // 100
    n = len(x) // block * block
    peaks = np.abs(x[:n]).reshape(-1, block).max(axis=1)
    loud = peaks >= rms(x) * 10 ** (-rng.uniform(10, 30) / 20)
    hold = int(rng.integers(3, 10))  # blocks the gate stays open after a loud one, as real gates do
    held = np.convolve(loud, np.ones(hold + 1), mode="full")[: len(loud)] > 0
    return np.concatenate([x[:n] * np.repeat(held, block), x[n:]]).astype(np.float32)


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
           "noise": noise, "hum": hum, "gate": gate, "dropout": dropout}


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
