"""The bar phase snapped to the beat phase (dance/model/snap.py): it takes the
beat head's timing once the heads agree on the beats per bar, passes the bar
head through where they do not, and streams like the whole-sequence pass."""

import math

import numpy as np
import pytest
import torch

from dance import config
from dance.metrics import circular_distance
from dance.model.snap import BeatSnap, turns


def vectors(phase: np.ndarray, length: float = 0.8) -> torch.Tensor:
    angle = torch.from_numpy(2 * np.pi * phase).float()
    return torch.stack([length * torch.sin(angle), length * torch.cos(angle)], dim=-1)[None]  # [1, T, 2]


SECONDS = 20
TIME = np.arange(SECONDS * config.FRAMES_PER_SECOND) / config.FRAMES_PER_SECOND
TRUE_BAR = (0.5 * TIME) % 1.0  # 2 s bars of 4 beats


@torch.no_grad()
def test_the_beat_heads_timing_replaces_the_bar_heads_once_they_agree():
    late_bar = (TRUE_BAR - 0.04) % 1.0  # the bar head a fifth of a beat late
    beat = (4 * TRUE_BAR) % 1.0
    out, _ = BeatSnap()(vectors(late_bar), vectors(beat), torch.zeros(1, BeatSnap.state_size))
    settled = TIME > 3.0
    assert circular_distance(turns(out[0]).numpy(), TRUE_BAR)[settled].max() < 1e-3
    assert torch.allclose(out.norm(dim=-1), torch.full((1, len(TIME)), 0.8))  # the bar head's confidence


@torch.no_grad()
@pytest.mark.parametrize("beats_per_bar", [2.5, 1.0])
def test_heads_that_disagree_on_a_whole_beat_count_leave_the_bar_alone(beats_per_bar):
    late_bar = (TRUE_BAR - 0.04) % 1.0
    beat = (beats_per_bar * 0.5 * TIME) % 1.0
    bar = vectors(late_bar)
    out, _ = BeatSnap()(bar, vectors(beat), torch.zeros(1, BeatSnap.state_size))
    settled = TIME > 3.0  # the mean advances start from rest
    assert torch.allclose(out[:, settled], bar[:, settled], atol=1e-5)


@torch.no_grad()
def test_streaming_matches_the_whole_sequence():
    rng = np.random.default_rng(0)
    bar = (TRUE_BAR + 0.02 * rng.standard_normal(len(TIME))) % 1.0
    beat = (4 * TRUE_BAR + 0.05 * rng.standard_normal(len(TIME))) % 1.0
    snap = BeatSnap()
    whole, _ = snap(vectors(bar), vectors(beat), torch.zeros(1, snap.state_size))
    for block in (1, 7, 32):
        state, parts = torch.zeros(1, snap.state_size), []
        for start in range(0, len(TIME), block):
            out, state = snap(vectors(bar[start: start + block]), vectors(beat[start: start + block]), state)
            parts.append(out)
        assert torch.max(torch.abs(torch.cat(parts, dim=1) - whole)) < 1e-4
    assert not math.isclose(float(circular_distance(turns(whole[0]).numpy(), bar).mean()), 0.0, abs_tol=1e-4)  # it did snap
