"""Acoustic augmentation during training: what a room, a cheap microphone, a
small speaker and a noisy place do to music. Every effect keeps the timing of
the music (no pre-delay, no look-ahead, filters with a group delay far below a
frame), so the labels stay true; `tests/test_augment.py` renders a click track
through the whole chain and checks the onsets.

Effects come from pedalboard (Spotify's audio effects library), SciPy and NumPy.
Each is applied with its own probability, so a batch mixes clean and degraded
audio; `EFFECTS` lists them in chain order, a room before the microphone that
hears it. On top of that, a share of the chunks is heard in a room through a
cheap microphone (`ROOM`: reverb, band limit and noise together), since drawn
one by one the three meet in only 6 % of the chunks, while that is how a laptop
hears a speaker across a room."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pedalboard
from scipy.signal import lfilter, oaconvolve

from dance import config

PROBABILITY = {"room": 0.25, "reverb": 0.4, "band_limit": 0.4, "compress": 0.25, "clip": 0.1, "noise": 0.4, "hum": 0.1, "gate": 0.15, "dropout": 0.1}


ROOM = ("reverb", "band_limit", "noise")  # what a room scene applies together


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A room, half the time an algorithmic one (Freeverb), half the time a
    measured-like impulse response (`impulse_response`): the dry sound first,
    the tail after it."""
    if rng.random() < 0.5:
        return oaconvolve(x, impulse_response(rng))[: len(x)]
    room = pedalboard.Reverb(room_size=rng.uniform(0.1, 0.95), damping=rng.uniform(0.1, 0.9),
                             wet_level=rng.uniform(0.05, 0.5), dry_level=rng.uniform(0.5, 1.0), width=0.0)
    return room(x, config.SAMPLE_RATE)


def impulse_response(rng: np.random.Generator) -> np.ndarray:
    """A room's impulse response: the direct sound at sample 0, a few early
    reflections from the walls (1-40 ms), then a diffuse tail that dies away
    in 0.2-1.2 s, its highs sooner than its lows (air and curtains absorb
    them), at 10 dB above to 6 dB below the direct sound in energy."""
    rt60 = rng.uniform(0.2, 1.2)
    t = np.arange(int(rt60 * config.SAMPLE_RATE)) / config.SAMPLE_RATE
    noise = rng.standard_normal(len(t))
    lows = lfilter([0.1], [1.0, -0.9], noise)  # one pole near 270 Hz at 16 kHz
    highs = noise - lows
    tail = lows * np.exp(-6.91 * t / rt60) + highs * np.exp(-6.91 * t / (rt60 * rng.uniform(0.3, 0.8)))
    tail *= np.minimum(1.0, t / rng.uniform(0.005, 0.03))  # the diffuse tail builds up after the first reflections
    for _ in range(int(rng.integers(3, 9))):
        tail[int(rng.uniform(0.001, 0.04) * config.SAMPLE_RATE)] += rng.uniform(0.1, 0.6) * rng.choice([-1.0, 1.0])
    ir = tail * np.sqrt(10 ** (rng.uniform(-10, 6) / 10) / np.sum(tail**2))
    ir[0] = 1.0
    return ir.astype(np.float32)


def band_limit(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A phone, laptop microphone or small speaker: no lows, few highs, the
    edges gentle (6 dB an octave) or as steep as a tiny speaker's (12)."""
    low, high, order = rng.uniform(100, 500), rng.uniform(2500, 7500), 2 if rng.random() < 0.5 else 1
    board = pedalboard.Pedalboard([f for _ in range(order) for f in (pedalboard.HighpassFilter(low), pedalboard.LowpassFilter(high))])
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


def expected_shares(probability: dict[str, float] = PROBABILITY) -> dict[str, float]:
    """The share of training chunks each effect reaches (the room scene's
    included), and under "clean" the share that passes untouched."""
    room = probability.get("room", 0.0)
    shares = {name: 1 - (1 - probability.get(name, 0.0)) * (1 - (room if name in ROOM else 0.0)) for name in EFFECTS}
    shares["clean"] = (1 - room) * float(np.prod([1 - probability.get(name, 0.0) for name in EFFECTS]))
    return shares


def describe_shares(probability: dict[str, float] = PROBABILITY) -> str:
    """One line for a training log: 'reverb 55%, band_limit 55%, ..., clean 8%'."""
    return ", ".join(f"{name} {share:.0%}" for name, share in expected_shares(probability).items())


def rms(x: np.ndarray) -> float:
    """Root mean square of float32 audio (a float32 dot product: a tenth of the cost of squaring into float64, the
    same to 1e-6 relative; it runs several times a chunk on the loader's critical path)."""
    return float(np.sqrt(np.dot(x, x) / len(x)))


EFFECTS = {"reverb": reverb, "band_limit": band_limit, "compress": compress, "clip": clip,
           "noise": noise, "hum": hum, "gate": gate, "dropout": dropout}


def augment(x: np.ndarray, rng: np.random.Generator, probability: dict[str, float] = PROBABILITY) -> tuple[np.ndarray, list[str]]:
    """float32 mono at SAMPLE_RATE -> (augmented copy, effects applied), the
    level brought back to the input's and limited to [-1, 1]. `probability`
    holds each effect's, and the room scene's under "room"."""
    in_room = rng.random() < probability.get("room", 0.0)
    drawn = {name: rng.random() < probability.get(name, 0.0) for name in EFFECTS}
    applied = [name for name in EFFECTS if drawn[name] or (in_room and name in ROOM)]
    y = x.astype(np.float32, copy=False)  # no effect writes into its input
    for name in applied:
        y = EFFECTS[name](y, rng).astype(np.float32, copy=False)
    level = rms(y) if applied else 0.0
    if level > 1e-9:
        y = y * (rms(x) / level)
    return np.clip(y, -1.0, 1.0), applied
