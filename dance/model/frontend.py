"""Causal log-mel spectrogram from raw frames, computed inside the model.

The STFT window for frame t ends at the end of frame t (the label instant), so
nothing after the current frame is heard. In the exported graph the DFT is a
matrix product, which runs the same in ONNX Runtime and the browser; in
PyTorch it is an FFT, which gives the same powers (to float rounding) at a
fraction of the cost, and training spends a third of its arithmetic here
otherwise."""

from __future__ import annotations

import math

import torch
from torch import nn

from dance import config


def mel_filterbank(n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, [n_fft // 2 + 1, n_mels]."""
    def to_mel(f):
        return 2595 * math.log10(1 + f / 700)

    mels = torch.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2)
    edges = 700 * (10 ** (mels / 2595) - 1)
    bins = torch.linspace(0, config.SAMPLE_RATE / 2, n_fft // 2 + 1)[:, None]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class HannPower(nn.Module):
    """The power spectrum of Hann-windowed audio in the first `bins` DFT bins:
    by matrix products in the exported graph, by a real FFT in PyTorch."""

    def __init__(self, n_fft: int, bins: int):
        super().__init__()
        self.n_fft = n_fft
        self.bins = bins
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)
        angle = 2 * math.pi * n[:, None] * k[None, :] / n_fft
        # rebuilt from the hyperparameters, so they stay out of checkpoints
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("dft_real", (window[:, None] * torch.cos(angle)).float(), persistent=False)
        self.register_buffer("dft_imag", (window[:, None] * torch.sin(angle)).float(), persistent=False)

    def portable_power(self, windows: torch.Tensor) -> torch.Tensor:
        """[..., n_fft] -> power spectrum [..., bins] by matrix products (the exported form)."""
        return (windows @ self.dft_real) ** 2 + (windows @ self.dft_imag) ** 2

    def fft_power(self, windows: torch.Tensor) -> torch.Tensor:
        """The same power spectrum by a real FFT (real² + imag²: a third of the cost of summing a view's last axis of 2)."""
        spectrum = torch.fft.rfft(windows * self.window)[..., : self.bins]
        return spectrum.real.square() + spectrum.imag.square()


class CausalLogMel(HannPower):
    def __init__(self, n_fft: int = 512, n_mels: int = 64, fmin: float = 30.0, fmax: float = 8000.0):
        if not config.FRAME_SIZE <= n_fft <= 2 * config.FRAME_SIZE:
            raise ValueError(f"n_fft must be between one and two frames ({config.FRAME_SIZE}-{2 * config.FRAME_SIZE} samples)")
        super().__init__(n_fft, n_fft // 2 + 1)
        self.n_mels = n_mels
        self.history = n_fft - config.FRAME_SIZE  # samples carried from earlier frames
        self.register_buffer("mel", mel_filterbank(n_fft, n_mels, fmin, fmax), persistent=False)

    def forward(self, frames: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [B, T, FRAME_SIZE], state [B, history] -> log-mel [B, n_mels, T], new state."""
        # each window is the tail of the previous frame plus the frame itself,
        # so it ends at the frame's end (slices and a concat: plain ONNX ops)
        tails = torch.cat([state[:, None, :], frames[:, :-1, config.FRAME_SIZE - self.history:]], dim=1)
        windows = torch.cat([tails, frames], dim=2)  # [B, T, n_fft]
        power = self.portable_power(windows) if torch.onnx.is_in_onnx_export() else self.fft_power(windows)
        log_mel = torch.log(power @ self.mel + 1e-6)
        return log_mel.transpose(1, 2), frames[:, -1, config.FRAME_SIZE - self.history:]


def semitone_filterbank(n_fft: int, fmin: float, fmax: float, sample_rate: float) -> torch.Tensor:
    """Triangular filters centred a semitone apart from fmin to fmax, [bins up
    to fmax's upper edge, bands], each summing to one. Where semitones are
    closer than the DFT's bins (the low octaves) a band is one bin, and bins
    that two semitones share make one band (madmom's logarithmic filterbank)."""
    bin_hz = sample_rate / n_fft
    semitones = torch.arange(0, 12 * math.log2(fmax / fmin) + 1, dtype=torch.float64)
    centres = torch.unique(torch.round(fmin * 2 ** (semitones / 12) / bin_hz)).long()
    edges = torch.cat([centres[:1] - 1, centres, centres[-1:] + 1])
    bins = torch.arange(int(edges[-1]) + 1, dtype=torch.float64)[:, None]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    triangles = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return (triangles / triangles.sum(dim=0)).float()


def lowpass(taps: int, cutoff_hz: float) -> torch.Tensor:
    """A windowed-sinc (Hamming) low-pass FIR at the sample rate, summing to one."""
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    fraction = 2 * cutoff_hz / config.SAMPLE_RATE
    window = 0.54 - 0.46 * torch.cos(2 * math.pi * torch.arange(taps, dtype=torch.float64) / (taps - 1))
    h = fraction * torch.sinc(fraction * n) * window
    return h / h.sum()


class CausalSemitones(HannPower):
    """A log spectrum in semitone bands over the bass and middle octaves, from
    a window of several frames (ending, like the log-mel's, at the frame's end),
    minus its mean over the bands: the notes and chords being played, whatever
    the level. The log-mel's 32 ms window cannot tell a semitone apart below
    about 500 Hz; the bass line and the chord changes, which fall on the
    downbeats of music without drums, live there.

    Nothing above fmax is needed, so the audio is first low-passed and kept
    every `DECIMATION`th sample (a causal FIR, the same arithmetic in training
    and in the exported graph): the window's DFT then costs a quarter as much,
    in the browser too."""

    DECIMATION = 4
    TAPS = 32  # 2 ms; its delay of 1 ms is small beside the 120 ms window
    CUTOFF_HZ = 2000.0  # passes fmax; what folds back below fmax (from above 4000 - fmax Hz) is 50 dB down

    def __init__(self, window_frames: int = 6, fmin: float = 55.0, fmax: float = 1050.0):
        frame = config.FRAME_SIZE // self.DECIMATION  # decimated samples a frame
        bank = semitone_filterbank(window_frames * frame, fmin, fmax, config.SAMPLE_RATE / self.DECIMATION)
        super().__init__(window_frames * frame, bank.shape[0])  # only the bins the bands use
        self.window_frames = window_frames
        self.frame = frame
        self.bands = bank.shape[1]
        self.raw_history = self.TAPS - self.DECIMATION  # raw samples the filter still needs
        self.history = self.raw_history + self.n_fft - self.frame  # state: raw tail, then decimated history
        # [DECIMATION, TAPS / DECIMATION]: entry (r, q) weighs sample r of the q-th row of DECIMATION samples
        fir = lowpass(self.TAPS, self.CUTOFF_HZ).flip(0).reshape(self.TAPS // self.DECIMATION, self.DECIMATION).T
        self.register_buffer("fir", fir.float().contiguous(), persistent=False)
        self.register_buffer("bank", bank, persistent=False)

    def forward(self, frames: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [B, T, FRAME_SIZE], state [B, history] -> [B, bands, T], new state."""
        batch, length = frames.shape[0], frames.shape[1]
        raw = torch.cat([state[:, : self.raw_history], frames.reshape(batch, -1)], dim=1)
        decimated = self.decimate(raw)  # [B, T * frame]
        signal = torch.cat([state[:, self.raw_history:], decimated], dim=1)
        power = self.power(signal, length, portable=torch.onnx.is_in_onnx_export())
        log_bands = torch.log(power @ self.bank + 1e-6)
        log_bands = log_bands - log_bands.mean(dim=2, keepdim=True)
        new_state = torch.cat([raw[:, raw.shape[1] - self.raw_history:], signal[:, signal.shape[1] - (self.n_fft - self.frame):]], dim=1)
        return log_bands.transpose(1, 2), new_state

    def decimate(self, raw: torch.Tensor) -> torch.Tensor:
        """[B, raw_history + n * DECIMATION] -> [B, n]: each output the FIR over
        the TAPS raw samples ending at its last input. The samples fold into rows
        of DECIMATION, one matrix product applies every tap to every row, and
        output j sums tap group q of row j + q: a strided one-channel
        convolution does the same 4x slower on a CPU."""
        rows = raw.reshape(raw.shape[0], -1, self.DECIMATION)
        taps = rows @ self.fir  # [B, rows, TAPS / DECIMATION]
        groups = taps.shape[2]
        length = taps.shape[1] - groups + 1
        out = taps[:, :length, 0]
        for q in range(1, groups):
            out = out + taps[:, q: q + length, q]
        return out

    def power(self, signal: torch.Tensor, length: int, portable: bool) -> torch.Tensor:
        """Decimated signal [B, history + length * frame] -> power [B, length, bins]
        of the windows ending at each frame's end: in the exported graph by slices,
        a concat and matrix products (plain ONNX operators), in PyTorch by a strided
        view and a real FFT (no copies)."""
        if portable:
            return self.portable_power(torch.cat([signal[:, j * self.frame: (j + length) * self.frame].reshape(signal.shape[0], length, self.frame)
                                                  for j in range(self.window_frames)], dim=2))
        return self.fft_power(signal.unfold(1, self.n_fft, self.frame))
