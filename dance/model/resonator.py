"""A bank of gated resonators: a diagonal complex linear recurrence,

    h[t] = a[t] * exp(i * omega) * h[t-1] + b[t],

one complex state per channel. Each channel turns at its own learned rate
omega (initialised across the range of beat and bar rates, 0.1-4 Hz) and
decays by a gate a[t] in (0, 1) that the input sets frame by frame, so the
bank rings at the periodicities it hears and can hold them through a break:
the resonator filters of classical tempo trackers, trained. With omega = 0
a channel is a plain leaky memory (minGRU's form).

Because the state enters linearly, a whole chunk needs no loop over frames:
within a block of at most BLOCK frames

    h[t] = exp(A[t] + i Theta[t]) * (h[0] + cumsum_s(b[s] * exp(-A[s] - i Theta[s]))),

with A the cumulative log-gate and Theta the cumulative angle; blocks are
chained through their last state. A gate never below exp(LOG_GATE_MIN)
bounds exp(-A) by exp(BLOCK * -LOG_GATE_MIN) = exp(80), inside float32's
exp(88). Streaming (a few frames a call) is the one-block case of the same
function, so the exported graph has no loop; it takes at most BLOCK frames a
call (dance/export.py), since a longer single block would overflow.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

BLOCK = 32
LOG_GATE_MIN = -2.5  # a gate of 0.08 forgets 92 % in a frame; 32 * 2.5 = 80 keeps exp(80) inside float32


def rotate(re: torch.Tensor, im: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return re * cos - im * sin, re * sin + im * cos


def turns_and_decays(log_gate: torch.Tensor, omega: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """cos and sin of each frame's angle since the block's start, and its cumulative log-gate."""
    steps = torch.cumsum(torch.ones_like(log_gate.flatten(0, -2)[0]), 0)  # 1..T, from the input's shape (traceable)
    angle = omega.view(-1, *[1] * (log_gate.dim() - 2)) * steps  # [H, ..., T]
    return torch.cos(angle), torch.sin(angle), torch.cumsum(log_gate, -1)


def resonate_block(log_gate: torch.Tensor, b_re: torch.Tensor, b_im: torch.Tensor, omega: torch.Tensor,
                   h_re: torch.Tensor, h_im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log_gate, b_re, b_im [B, H, ..., T] (T <= BLOCK), omega [H], h [B, H, ...] -> the states (re, im) like b."""
    return run_block(turns_and_decays(log_gate, omega), b_re, b_im, h_re, h_im)


def run_block(turns: tuple[torch.Tensor, torch.Tensor, torch.Tensor], b_re: torch.Tensor, b_im: torch.Tensor,
              h_re: torch.Tensor, h_im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    cos, sin, decay = turns
    grow = torch.exp(-decay)
    sum_re, sum_im = rotate(b_re * grow, b_im * grow, cos, -sin)
    sum_re = torch.cumsum(sum_re, -1) + h_re[..., None]
    sum_im = torch.cumsum(sum_im, -1) + h_im[..., None]
    keep = torch.exp(decay)
    out_re, out_im = rotate(sum_re, sum_im, cos, sin)
    return out_re * keep, out_im * keep


def resonate(log_gate: torch.Tensor, b_re: torch.Tensor, b_im: torch.Tensor, omega: torch.Tensor,
             h_re: torch.Tensor, h_im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log_gate, b_re, b_im [B, H, T], omega [H], h [B, H] -> the states [B, H, T] (re, im).
    The log-gate is floored at LOG_GATE_MIN here, where the float32 range needs it.

    Longer than a block: every block runs from rest at once, then a short loop
    over the blocks carries each one's end into the next, and each block's
    frames add their start state, decayed and turned to that frame."""
    log_gate = log_gate.clamp(min=LOG_GATE_MIN)
    frames = log_gate.shape[2]
    if frames <= BLOCK:
        return resonate_block(log_gate, b_re, b_im, omega, h_re, h_im)
    pad = -frames % BLOCK
    log_gate, b_re, b_im = (F.pad(x, (0, pad)).unflatten(2, (-1, BLOCK)) for x in (log_gate, b_re, b_im))  # [B, H, K, L]
    rest = torch.zeros_like(log_gate[..., 0])
    turns = turns_and_decays(log_gate, omega)
    re, im = run_block(turns, b_re, b_im, rest, rest)
    cos, sin, decay = turns
    keep = torch.exp(decay)
    block_decay = keep[..., -1]
    block_cos, block_sin = torch.cos(omega * BLOCK), torch.sin(omega * BLOCK)
    starts_re, starts_im = [], []
    for k in range(log_gate.shape[2]):
        starts_re.append(h_re)
        starts_im.append(h_im)
        h_re, h_im = rotate(h_re, h_im, block_cos, block_sin)
        h_re = h_re * block_decay[:, :, k] + re[:, :, k, -1]
        h_im = h_im * block_decay[:, :, k] + im[:, :, k, -1]
    carried_re, carried_im = rotate(torch.stack(starts_re, 2)[..., None], torch.stack(starts_im, 2)[..., None], cos, sin)
    return (re + carried_re * keep).flatten(2)[:, :, :frames], (im + carried_im * keep).flatten(2)[:, :, :frames]
