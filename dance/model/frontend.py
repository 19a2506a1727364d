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


class CausalLogMel(nn.Module):
    def __init__(self, n_fft: int = 512, n_mels: int = 64, fmin: float = 30.0, fmax: float = 8000.0):
        super().__init__()
        if not config.FRAME_SIZE <= n_fft <= 2 * config.FRAME_SIZE:
            raise ValueError(f"n_fft must be between one and two frames ({config.FRAME_SIZE}-{2 * config.FRAME_SIZE} samples)")
        self.n_fft = n_fft
        self.n_mels = n_mels
        self.history = n_fft - config.FRAME_SIZE  # samples carried from earlier frames
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)
        angle = 2 * math.pi * n[:, None] * k[None, :] / n_fft
        # rebuilt from the hyperparameters, so they stay out of checkpoints
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("dft_real", (window[:, None] * torch.cos(angle)).float(), persistent=False)
        self.register_buffer("dft_imag", (window[:, None] * torch.sin(angle)).float(), persistent=False)
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

    def portable_power(self, windows: torch.Tensor) -> torch.Tensor:
        """[..., n_fft] -> power spectrum [..., n_fft // 2 + 1] by matrix products (the exported form)."""
        return (windows @ self.dft_real) ** 2 + (windows @ self.dft_imag) ** 2

    def fft_power(self, windows: torch.Tensor) -> torch.Tensor:
        """The same power spectrum by a real FFT (real² + imag²: a third of the cost of summing a view's last axis of 2)."""
        spectrum = torch.fft.rfft(windows * self.window)
        return spectrum.real.square() + spectrum.imag.square()
