"""Audio in and out: reading any file as 16 kHz mono, loudness, limiting,
resampling, and atomic OGG writes."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from dance import config


class AudioError(Exception):
    """An audio file that cannot be used, with a one-line reason."""


def read_audio(path: Path) -> np.ndarray:
    """Any file libsndfile reads (wav, ogg, flac, mp3), any rate, mono or
    stereo -> float32 mono at SAMPLE_RATE."""
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(f"cannot read audio {path}: {e}") from None
    if samples.shape[0] == 0:
        raise AudioError(f"audio file {path} is empty")
    mono = samples.mean(axis=1)
    if rate != config.SAMPLE_RATE:
        ratio = Fraction(config.SAMPLE_RATE, rate).limit_denominator(1000)
        mono = resample_poly(mono, ratio.numerator, ratio.denominator).astype(np.float32)
    return mono


def speed_up(samples: np.ndarray, factor: float) -> np.ndarray:
    """The "asetrate" trick by resampling: the result plays `factor` times
    faster and higher at the same sample rate. `factor` is used as a ratio of
    integers up to 1/100, so callers should quantise it with `quantise_factor`."""
    ratio = Fraction(factor).limit_denominator(100)
    return resample_poly(samples, ratio.denominator, ratio.numerator).astype(np.float32)


def quantise_factor(factor: float) -> float:
    return float(Fraction(factor).limit_denominator(100))


def normalise_loudness(samples: np.ndarray, target_dbfs: float = config.LOUDNESS_TARGET_DBFS) -> np.ndarray:
    """Scale so the RMS over the active 100 ms blocks (those within 40 dB of the
    loudest) hits the target; silence stays silence."""
    block = config.SAMPLE_RATE // 10
    n = len(samples) // block * block
    if n == 0:
        return samples
    rms = np.sqrt(np.mean(samples[:n].reshape(-1, block).astype(np.float64) ** 2, axis=1))
    if rms.max() <= 1e-7:
        return samples
    active = rms[rms > rms.max() * 0.01]
    level = np.sqrt(np.mean(active**2))
    return (samples * (10 ** (target_dbfs / 20) / level)).astype(np.float32)


def limit(samples: np.ndarray, ceiling: float = config.LIMITER_CEILING) -> np.ndarray:
    """A peak limiter against clipping: gain per 10 ms block that keeps the
    block's peak under the ceiling, spread over neighbouring blocks so the gain
    never jumps."""
    block = config.SAMPLE_RATE // 100
    padded = np.pad(samples, (0, -len(samples) % block))
    peaks = np.abs(padded).reshape(-1, block).max(axis=1)
    gain = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-9))
    spread = 5  # blocks of attack and release on each side
    windowed = np.lib.stride_tricks.sliding_window_view(np.pad(gain, spread, mode="edge"), 2 * spread + 1)
    gain = windowed.min(axis=1)
    per_sample = np.interp(np.arange(len(padded)), np.arange(len(gain)) * block + block / 2, gain)
    return np.clip(padded * per_sample, -ceiling, ceiling)[: len(samples)].astype(np.float32)


def temp_path(path: Path) -> Path:
    """Beside `path`, hidden, keeping the suffix (tools pick formats by it)."""
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


def write_atomic(path: Path, write) -> None:
    """Call write(tmp) then rename tmp over path: a reader never sees half a file."""
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


OGG_WRITE_BLOCK = 1 << 14  # libsndfile's Vorbis encoder can segfault on one large write


def write_ogg(path: Path, samples: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with soundfile.SoundFile(str(tmp), "w", config.SAMPLE_RATE, 1, format="OGG", subtype="VORBIS") as f:
            for start in range(0, len(samples), OGG_WRITE_BLOCK):
                f.write(samples[start: start + OGG_WRITE_BLOCK])
    write_atomic(path, write)


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def remove_stale_temp_files(folder: Path) -> int:
    stale = list(folder.glob(".*.tmp-*"))
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)
