"""The bar phase snapped to the beat phase: which beat of the bar from the bar
head, where in that beat from the beat head.

The beat head times its beats more precisely than the bar head times its
downbeats (the beat is the denser signal), so once the two agree on how many
beats make a bar, the bar phase is rebuilt as (beat number + beat phase) /
beats per bar. Beats per bar is the ratio of the two phases' mean advance over
the last SECONDS (a leaky average, run by the resonator code with no turn);
where it is not within TOLERANCE of a whole number from 2 to MAX_BEATS, or the
bar barely moves, the bar head's phase passes through unchanged. The output
vector keeps the bar head's length, so the confidence is the bar head's.

Weightless: it runs after the heads, in streaming and whole-sequence passes
alike (its state is the last two phases and the two averages), and training
computes its loss on the heads' own phases, before it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dance import config
from dance.model.resonator import resonate

SECONDS = 2.0  # time constant of the mean advances
TOLERANCE = 0.25  # beats: how far from a whole number of beats per bar the ratio may be
MAX_BEATS = 12
MIN_BAR_RATE = 0.1  # bars per second: below it the ratio means nothing


def turns(vector: torch.Tensor) -> torch.Tensor:
    """[..., 2] (sin, cos) -> phase in [0, 1)."""
    return torch.remainder(torch.atan2(vector[..., 0], vector[..., 1]) / (2 * math.pi), 1.0)


class BeatSnap(nn.Module):
    state_size = 4  # last bar and beat phase, mean bar and beat advance per frame

    def forward(self, bar: torch.Tensor, beat: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """bar, beat [B, T, 2] (sin, cos), state [B, 4] -> the bar [B, T, 2] snapped, the new state."""
        phases = torch.stack([turns(bar), turns(beat)], dim=1)  # [B, 2, T]
        previous = torch.cat([state[:, :2, None], phases[:, :, :-1]], dim=2)
        advance = torch.remainder(phases - previous + 0.5, 1.0) - 0.5
        log_gate = -1.0 / (SECONDS * config.FRAMES_PER_SECOND)
        mean, _ = resonate(torch.full_like(advance, log_gate), advance * (1 - math.exp(log_gate)), torch.zeros_like(advance),
                           torch.zeros(2, device=bar.device), state[:, 2:], torch.zeros_like(state[:, 2:]))
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
