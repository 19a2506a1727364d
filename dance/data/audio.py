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
from dance.errors import DanceError


class AudioError(DanceError):
    """An audio file that cannot be used, with a one-line reason."""


STREAM_READ_FRAMES = 1 << 17  # samples per channel decoded at a time when streaming (about 3 s at 44.1 kHz)


def open_audio(path: Path) -> soundfile.SoundFile:
    """Open for reading, with one-line errors: no such file, a directory,
    permission denied, not audio, empty."""
    try:
        open(path, "rb").close()  # the operating system's own words for a missing or unreadable path
    except OSError as e:
        raise AudioError(f"cannot read audio {path}: {(e.strerror or str(e)).lower()}") from None
    try:
        f = soundfile.SoundFile(str(path))
    except Exception as e:
        raise AudioError(f"cannot read audio {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if f.frames == 0:
        f.close()
        raise AudioError(f"audio file {path} is empty")
    return f


def check_finite(path: Path, samples: np.ndarray, offset: int, rate: int) -> None:
    """Refuse NaN or infinite samples (they would poison every later output of
    a streaming model); names the first bad instant."""
    bad = ~np.isfinite(samples)
    if bad.any():
        first = int(np.argmax(bad.any(axis=1) if bad.ndim == 2 else bad))
        raise AudioError(f"{path} has a non-finite sample (NaN or infinity) at {(offset + first) / rate:.3f} s; "
                         "repair or cut the file first")


def resampling_ratio(rate: int) -> tuple[int, int]:
    ratio = Fraction(config.SAMPLE_RATE, rate).limit_denominator(1000)
    return ratio.numerator, ratio.denominator


def read_audio(path: Path) -> np.ndarray:
    """Any file libsndfile reads (wav, ogg, flac, mp3), any rate, mono or
    stereo -> float32 mono at SAMPLE_RATE, the whole file at once."""
    with open_audio(path) as f:
        rate = f.samplerate
        try:
            samples = f.read(dtype="float32", always_2d=True)
        except Exception as e:
            raise AudioError(f"cannot decode audio {path}: {e}") from None
    check_finite(path, samples, 0, rate)
    mono = samples.mean(axis=1)
    if rate != config.SAMPLE_RATE:
        up, down = resampling_ratio(rate)
        mono = resample_poly(mono, up, down).astype(np.float32)
    return mono


class StreamingResampler:
    """`resample_poly` block by block: the same output as resampling the whole
    signal at once (to float rounding), with memory bounded by the block size.

    Each block is resampled with a margin of real input on both sides wider
    than the filter's reach, and only the outputs whose filter lies wholly
    inside the window are kept; window starts are multiples of `down`, so the
    output grid lines up with the whole-signal one."""

    def __init__(self, up: int, down: int):
        self.up, self.down = up, down
        reach = 10 * max(up, down) // up + 2  # resample_poly's filter half-length, in input samples
        self.margin = -(-reach // down) * down
        self.buffer = np.zeros(0, dtype=np.float32)
        self.buffer_start = 0  # absolute input index of buffer[0]
        self.done = 0  # absolute input index up to which outputs were emitted (a multiple of down)

    def _emit(self, end: int, final: bool) -> np.ndarray:
        start = max(self.buffer_start, self.done - self.margin)
        window = self.buffer[start - self.buffer_start: (None if final else end + self.margin - self.buffer_start)]
        out = resample_poly(window, self.up, self.down)
        first = (self.done - start) * self.up // self.down
        out = out[first:] if final else out[first: first + (end - self.done) * self.up // self.down]
        self.done = end
        keep_from = max(self.buffer_start, self.done - self.margin)
        self.buffer = self.buffer[keep_from - self.buffer_start:]
        self.buffer_start = keep_from
        return out.astype(np.float32)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, samples.astype(np.float32)])
        end = (self.buffer_start + len(self.buffer) - self.margin) // self.down * self.down
        if end <= self.done:
            return np.zeros(0, dtype=np.float32)
        return self._emit(end, final=False)

    def finish(self) -> np.ndarray:
        return self._emit(self.buffer_start + len(self.buffer), final=True)


def stream_audio(path: Path, read_frames: int = STREAM_READ_FRAMES):
    """Like `read_audio`, as consecutive float32 mono SAMPLE_RATE blocks: memory
    stays flat however long the file. Non-finite samples stop the stream with
    an AudioError naming their time before any block past them is yielded."""
    with open_audio(path) as f:
        rate = f.samplerate
        resampler = StreamingResampler(*resampling_ratio(rate)) if rate != config.SAMPLE_RATE else None
        offset = 0
        while True:
            try:
                block = f.read(read_frames, dtype="float32", always_2d=True)
            except Exception as e:
                raise AudioError(f"cannot decode audio {path} after {offset / rate:.1f} s: {e}") from None
            if len(block) == 0:
                break
            check_finite(path, block, offset, rate)
            offset += len(block)
            mono = block.mean(axis=1)
            out = resampler.feed(mono) if resampler else mono
            if len(out):
                yield out
        if resampler:
            out = resampler.finish()
            if len(out):
                yield out


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
    """Temporary files of this process or of dead ones; never another live run's."""
    from dance.data.processes import remove_leftover_temp_files
    return remove_leftover_temp_files(folder)
