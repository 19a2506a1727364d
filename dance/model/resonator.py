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

with A the cumulative log-gate and Theta the cumulative angle. Blocks are
chained by the same recurrence one level up (each block's end, run from rest,
is its drive): the state entering block k sums the earlier ends decayed by the
blocks between, a lower-triangular K x K matrix of exp(differences of the
cumulative block log-gates), which are never positive, so nothing overflows
and no loop over blocks is needed. A gate never below exp(LOG_GATE_MIN)
bounds exp(-A) by exp(BLOCK * -LOG_GATE_MIN) = exp(80), inside float32's
exp(88). Streaming (a few frames a call) is the one-block case of the same
function, so the exported graph has no loop; it takes at most BLOCK frames a
call (dance/export.py), since a longer single block would overflow.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

BLOCK = 32
SEGMENT_BLOCKS = 64  # blocks chained by one K x K matrix; a longer input goes a segment at a time, so memory stays linear in its length
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


def block_starts(block_log_gate: torch.Tensor, ends_re: torch.Tensor, ends_im: torch.Tensor, omega: torch.Tensor,
                 h_re: torch.Tensor, h_im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """block_log_gate, ends [B, H, K] (each block's summed log-gate, its end state from rest), h [B, H]
    -> the state entering each block [B, H, K]: s[k] = sum over j <= k of
    exp(C[k] - C[j]) * exp(i * omega * BLOCK * (k - j)) * e[j], with e = (h, ends[:-1]) and C the
    cumulative log-gate of the blocks before k."""
    blocks = ends_re.shape[2]
    drive_re = torch.cat([h_re[..., None], ends_re[..., :-1]], dim=2)
    drive_im = torch.cat([h_im[..., None], ends_im[..., :-1]], dim=2)
    before = F.pad(torch.cumsum(block_log_gate[..., :-1], -1), (1, 0))  # C[k]: the blocks before k
    lower = torch.ones(blocks, blocks, dtype=torch.bool, device=omega.device).tril()
    decay = torch.exp((before[..., :, None] - before[..., None, :]).masked_fill(~lower, -torch.inf))  # [B, H, K, K]
    lag = torch.arange(blocks, device=omega.device)
    angle = omega[:, None, None] * BLOCK * (lag[:, None] - lag[None, :])  # [H, K, K]
    turn_re, turn_im = decay * torch.cos(angle), decay * torch.sin(angle)
    drive_re, drive_im = drive_re[..., None, :], drive_im[..., None, :]  # products and sums, not matmul: bf16 autocast leaves them float32
    return (turn_re * drive_re - turn_im * drive_im).sum(-1), (turn_im * drive_re + turn_re * drive_im).sum(-1)


def resonate(log_gate: torch.Tensor, b_re: torch.Tensor, b_im: torch.Tensor, omega: torch.Tensor,
             h_re: torch.Tensor, h_im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log_gate, b_re, b_im [B, H, T], omega [H], h [B, H] -> the states [B, H, T] (re, im).
    The log-gate is floored at LOG_GATE_MIN here, where the float32 range needs it.

    Longer than a block: every block runs from rest at once, block_starts
    carries each one's end into the next, and each block's frames add their
    start state, decayed and turned to that frame."""
    log_gate = log_gate.clamp(min=LOG_GATE_MIN)
    frames = log_gate.shape[2]
    if frames <= BLOCK:
        return resonate_block(log_gate, b_re, b_im, omega, h_re, h_im)
    if frames > BLOCK * SEGMENT_BLOCKS:
        return resonate_segments(log_gate, b_re, b_im, omega, h_re, h_im)
    pad = -frames % BLOCK
    log_gate, b_re, b_im = (F.pad(x, (0, pad)).unflatten(2, (-1, BLOCK)) for x in (log_gate, b_re, b_im))  # [B, H, K, L]
    rest = torch.zeros_like(log_gate[..., 0])
    turns = turns_and_decays(log_gate, omega)
    re, im = run_block(turns, b_re, b_im, rest, rest)
    cos, sin, decay = turns
    starts_re, starts_im = block_starts(decay[..., -1], re[..., -1], im[..., -1], omega, h_re, h_im)
    carried_re, carried_im = rotate(starts_re[..., None], starts_im[..., None], cos, sin)
    keep = torch.exp(decay)
    return (re + carried_re * keep).flatten(2)[:, :, :frames], (im + carried_im * keep).flatten(2)[:, :, :frames]


def resonate_segments(log_gate: torch.Tensor, b_re: torch.Tensor, b_im: torch.Tensor, omega: torch.Tensor,
                      h_re: torch.Tensor, h_im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`resonate` over SEGMENT_BLOCKS blocks at a time, each segment starting from the last one's end."""
    outputs_re, outputs_im = [], []
    for start in range(0, log_gate.shape[2], BLOCK * SEGMENT_BLOCKS):
        part = slice(start, start + BLOCK * SEGMENT_BLOCKS)
        re, im = resonate(log_gate[..., part], b_re[..., part], b_im[..., part], omega, h_re, h_im)
        outputs_re.append(re)
        outputs_im.append(im)
        h_re, h_im = re[..., -1], im[..., -1]
    return torch.cat(outputs_re, dim=2), torch.cat(outputs_im, dim=2)
