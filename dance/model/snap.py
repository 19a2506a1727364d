"""The bar phase snapped to the beat phase: which beat of the bar from the bar
head, where in that beat from the beat head.

The beat head times its beats more precisely than the bar head times its
downbeats (the beat is the denser signal), so once the two agree on how many
beats make a bar, the bar phase is rebuilt as (beat number + beat phase) /
beats per bar. Beats per bar is the ratio of the two phases' mean advance over
the last SECONDS (a leaky average); where it is not within TOLERANCE of a
whole number from 2 to MAX_BEATS, or the bar barely moves, the bar head's
phase passes through unchanged. The output vector keeps the bar head's
length, so the confidence is the bar head's.

Weightless: it runs after the heads, in streaming and whole-sequence passes
alike (its state is the last two phases and the two averages), and training
computes its loss on the heads' own phases, before it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dance import config

SECONDS = 2.0  # time constant of the mean advances
TOLERANCE = 0.25  # beats: how far from a whole number of beats per bar the ratio may be
MAX_BEATS = 12
MIN_BAR_RATE = 0.1  # bars per second: below it the ratio means nothing
BLOCK = 500  # frames the leaky average takes in one closed-form step (its growth exp(BLOCK / 100) stays far inside float32)


def turns(vector: torch.Tensor) -> torch.Tensor:
    """[..., 2] (sin, cos) -> phase in [0, 1)."""
    return torch.remainder(torch.atan2(vector[..., 0], vector[..., 1]) / (2 * math.pi), 1.0)


def leaky_mean(x: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """m[t] = g * m[t-1] + (1 - g) * x[t] over x [B, C, T] from m[-1] = start [B, C],
    g = exp(-1 / (SECONDS * frames per second)): within a block,
    m[t] = g^(t+1) * (start + (1 - g) * sum_s x[s] / g^(s+1))."""
    log_gate = -1.0 / (SECONDS * config.FRAMES_PER_SECOND)
    means = []
    for block in torch.split(x, BLOCK, dim=2) if x.shape[2] > BLOCK else [x]:  # the exported graph (a few frames a call): no Split
        gate_powers = torch.exp(log_gate * torch.cumsum(torch.ones_like(block[0, 0]), 0))  # g^1 .. g^T, from the input's shape (traceable)
        mean = gate_powers * (start[:, :, None] + (1 - math.exp(log_gate)) * torch.cumsum(block / gate_powers, dim=2))
        means.append(mean)
        start = mean[:, :, -1]
    return torch.cat(means, dim=2)


class BeatSnap(nn.Module):
    state_size = 4  # last bar and beat phase, mean bar and beat advance per frame

    def forward(self, bar: torch.Tensor, beat: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """bar, beat [B, T, 2] (sin, cos), state [B, 4] -> the bar [B, T, 2] snapped, the new state."""
        phases = turns(torch.stack([bar, beat], dim=1))  # [B, 2, T]
        previous = torch.cat([state[:, :2, None], phases[:, :, :-1]], dim=2)
        mean = leaky_mean(torch.remainder(phases - previous + 0.5, 1.0) - 0.5, state[:, 2:])
        bar_rate, beat_rate = mean.unbind(dim=1)  # turns per frame, [B, T]
        ratio = beat_rate / bar_rate.clamp_min(1e-9)
        beats = torch.round(ratio)
        agree = (beats >= 2) & (beats <= MAX_BEATS) & ((ratio - beats).abs() <= TOLERANCE)
        agree = agree & (bar_rate * config.FRAMES_PER_SECOND > MIN_BAR_RATE)
        beats = torch.where(agree, beats, torch.ones_like(beats))
        bar_phase, beat_phase = phases.unbind(dim=1)
        snapped = torch.remainder((torch.round(bar_phase * beats - beat_phase) + beat_phase) / beats, 1.0)
        angle = 2 * math.pi * torch.where(agree, snapped, bar_phase)
        length = bar.norm(dim=-1)
        out = torch.stack([length * torch.sin(angle), length * torch.cos(angle)], dim=-1)
        return out, torch.cat([phases[:, :, -1], mean[:, :, -1]], dim=1)
