"""phase_tcn_mel: a causal temporal convolutional network over a log-mel
spectrogram, predicting [sin, cos] of the bar phase at t + anticipation.

Every convolution carries its own left context as state, so the whole-sequence
pass and frame-by-frame streaming are the same code: the whole sequence is one
call that starts from zero state (equivalent to zero left padding).

With `onset_flux`, the network also sees the spectral flux, the rise of each
mel band's log energy since the previous frame (negative changes are zero):
the classic onset feature of beat trackers, which does not change with the
level or the timbre as much as the log-mel itself does. It needs the previous
frame's log-mel, which is carried as state like everything else.

With `semitones`, it also hears a log spectrum in semitone bands over the bass
and middle octaves from a 120 ms window (dance/model/frontend.py): the bass
notes and chord changes that mark the downbeat in music without drums, which
the log-mel's 32 ms window cannot resolve. Its input layer starts at zero, so
a model grown with it (`--init` with `--hparam semitones=true`) starts out
as the model it was grown from.

The head predicts the phase now and the bar rate (bars per second); the
anticipation rotates the phase by 2*pi*rate*a, so any anticipation in
[0, 0.5] s moves the output along the circle at the tempo the network hears.

With `beats`, a second head of the same form predicts the beat phase (0 on
every beat, README "Conventions") and the beat rate: the beat is the denser,
easier signal, and learning both from one trunk anchors the bar. The output
is then [sin, cos] of the bar phase followed by [sin, cos] of the beat phase.
With `beat_snap` (on unless told otherwise) the bar phase is then snapped to
the beat phase where the two agree on the beats per bar
(dance/model/snap.py); the loss sees the heads' own phases (`snap=False`).

With `recurrent`, a recurrent tail as wide as the network follows the
convolutions (residual, its state carried like the convolutions' context): the
convolutions hear the last seconds, the tail can hold the bar far longer than
any receptive field. `recurrent="gru"` (or true, as older checkpoints say) is
a GRU (the original project's GRU/LSTM variants did the same);
`recurrent="resonator"` a bank of gated resonators (dance/model/resonator.py),
which rings at the periodicities it hears and trains without a loop over
frames.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from dance import config
from dance.model.frontend import CausalLogMel, CausalSemitones
from dance.model.resonator import resonate
from dance.model.snap import BeatSnap

TAILS = ("gru", "resonator")
RESONATOR_RATES_HZ = (0.1, 4.0)  # where the resonators start: bar rates of slow ballads to beat rates of fast songs


class CausalConv(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, kernel: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels_in, channels_out, kernel, dilation=dilation)
        self.context = (kernel - 1) * dilation

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, C, T], state [B, C, context] (the previous inputs)."""
        x = torch.cat([state, x], dim=2)
        return self.conv(x), x[:, :, x.shape[2] - self.context:]


class FrameNorm(nn.Module):
    """LayerNorm over channels, separately for every frame: no statistics over time."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class Block(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = FrameNorm(channels)
        self.conv = CausalConv(channels, channels, kernel, dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        # whole channels of a block's update for a whole chunk (a TCN's spatial dropout): as much
        # regularisation, and a random number per channel instead of per frame (12 % of a CPU step)
        self.dropout = nn.Dropout1d(dropout)

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, state = self.conv(self.norm(x), state)
        return x + self.dropout(self.mix(F.gelu(y))), state


def phase_head(channels: int) -> nn.Module:
    """[sin, cos] of a phase now and its rate (turns per second, through softplus)."""
    return nn.Sequential(FrameNorm(channels), nn.Conv1d(channels, channels, 1), nn.GELU(), nn.Conv1d(channels, 3, 1))


def ahead(head_output: torch.Tensor, anticipation: torch.Tensor) -> torch.Tensor:
    """[B, 3, T] head output -> [B, T, 2] [sin, cos] rotated forward by the anticipation at the predicted rate."""
    sin, cos, rate = head_output.unbind(dim=1)  # each [B, T]
    turn = 2 * math.pi * F.softplus(rate) * anticipation.reshape(-1, 1)
    return torch.stack([sin * torch.cos(turn) + cos * torch.sin(turn), cos * torch.cos(turn) - sin * torch.sin(turn)], dim=2)


class RecurrentTail(nn.Module):
    """A residual GRU over the frames; its state [B, channels] is the hidden state."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = FrameNorm(channels)
        self.gru = nn.GRU(channels, channels, batch_first=True)
        self.state_size = channels

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, C, T], state [B, C] -> x plus the GRU's output, the last hidden state."""
        y, hidden = self.gru(self.norm(x).transpose(1, 2), state[None].contiguous())
        return x + y.transpose(1, 2), hidden[0]


class ResonatorTail(nn.Module):
    """A residual bank of gated resonators (as many as channels unless told); its state [B, 2 * resonators] is (re, im) of each."""

    def __init__(self, channels: int, resonators: int | None = None):
        super().__init__()
        resonators = resonators or channels
        self.norm = FrameNorm(channels)
        self.input = nn.Conv1d(channels, 3 * resonators, 1)  # gate, drive (re, im)
        self.output = nn.Conv1d(2 * resonators, channels, 1)
        hertz = torch.logspace(math.log10(RESONATOR_RATES_HZ[0]), math.log10(RESONATOR_RATES_HZ[1]), resonators)
        self.omega = nn.Parameter(2 * math.pi * hertz / config.FRAMES_PER_SECOND)  # radians per frame
        self.state_size = 2 * resonators

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, C, T], state [B, 2R] -> x plus the bank's read-out, the last state."""
        gate, drive_re, drive_im = self.input(self.norm(x)).chunk(3, dim=1)
        log_gate = -F.softplus(gate)
        opened = torch.sigmoid(gate)  # 1 - gate: what the state forgets, the drive replaces (as in a GRU)
        h_re, h_im = state.chunk(2, dim=1)
        re, im = resonate(log_gate, opened * drive_re, opened * drive_im, self.omega, h_re, h_im)
        return x + self.output(torch.cat([re, im], dim=1)), torch.cat([re[:, :, -1], im[:, :, -1]], dim=1)


class PhaseTCNMel(nn.Module):
    def __init__(self, channels: int = 64, kernel: int = 3, layers: int = 9, n_mels: int = 64,
                 n_fft: int = 512, dropout: float = 0.1, onset_flux: bool = False, beats: bool = False,
                 recurrent: str | bool = "", resonators: int | None = None, beat_snap: bool = True,
                 semitones: bool = False):
        super().__init__()
        if isinstance(recurrent, bool):  # checkpoints before the resonator said true for the GRU
            recurrent = "gru" if recurrent else ""
        if recurrent not in ("", *TAILS):
            raise ValueError(f"recurrent={recurrent!r}: expected one of {', '.join(TAILS)}")
        if resonators and recurrent != "resonator":
            raise ValueError(f"resonators={resonators} needs recurrent='resonator'")
        self.hparams = dict(channels=channels, kernel=kernel, layers=layers, n_mels=n_mels, n_fft=n_fft, dropout=dropout,
                            onset_flux=onset_flux, beats=beats, recurrent=recurrent, resonators=resonators, beat_snap=beat_snap,
                            semitones=semitones)
        self.frontend = CausalLogMel(n_fft=n_fft, n_mels=n_mels)
        self.onset_flux = onset_flux
        self.input = nn.Conv1d(n_mels * (2 if onset_flux else 1), channels, 1)
        self.semitones = CausalSemitones() if semitones else None
        if self.semitones is not None:
            self.semitone_input = nn.Conv1d(self.semitones.bands, channels, 1)
            nn.init.zeros_(self.semitone_input.weight)
            nn.init.zeros_(self.semitone_input.bias)
        self.blocks = nn.ModuleList(Block(channels, kernel, 2**i, dropout) for i in range(layers))
        self.tail = None
        if recurrent == "gru":
            self.tail = RecurrentTail(channels)
        elif recurrent == "resonator":
            self.tail = ResonatorTail(channels, resonators)
        self.head = phase_head(channels)
        self.beat_head = phase_head(channels) if beats else None
        self.snap = BeatSnap() if beats and beat_snap else None
        self.channels = channels
        self.state_sizes = [self.frontend.history + (n_mels if onset_flux else 0)
                            + (self.semitones.history if self.semitones is not None else 0)] + [channels * b.conv.context for b in self.blocks]
        if self.tail is not None:
            self.state_sizes.append(self.tail.state_size)
        if self.snap is not None:
            self.state_sizes.append(self.snap.state_size)

    @property
    def receptive_field_frames(self) -> int:
        history = max(self.frontend.history, self.semitones.history if self.semitones is not None else 0)
        return 1 + sum(b.conv.context for b in self.blocks) + math.ceil(history / config.FRAME_SIZE)

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, sum(self.state_sizes))

    def forward(self, frames: torch.Tensor, anticipation: torch.Tensor,
                state: torch.Tensor | None = None, snap: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [B, T, FRAME_SIZE] raw audio in [-1, 1], anticipation [B] in
        seconds, state [B, S] (None: silence before the first frame)
        -> [B, T, 2] = [sin, cos] of the bar phase at each frame's end + anticipation
        ([B, T, 4] with the beat phase's after it, with `beats`), new state.
        `snap=False` (training) gives the bar head's phase as it is and passes
        the snap's state through unchanged."""
        batch = frames.shape[0]
        if state is None:
            state = self.initial_state(batch).to(frames)
        parts = torch.split(state, self.state_sizes, dim=1)
        history = self.frontend.history
        flux_end = history + (self.frontend.n_mels if self.onset_flux else 0)
        with torch.autocast(frames.device.type, enabled=False):  # bf16 training: the log of small powers needs float32
            log_mel, samples_state = self.frontend(frames, parts[0][:, :history])
            if self.semitones is not None:
                semitones, semitone_state = self.semitones(frames, parts[0][:, flux_end:])
        frontend_states = [samples_state]
        if self.onset_flux:
            previous = torch.cat([parts[0][:, history:flux_end, None], log_mel[:, :, :-1]], dim=2)
            frontend_states.append(log_mel[:, :, -1])
            log_mel = torch.cat([log_mel, F.relu(log_mel - previous)], dim=1)
        x = self.input(log_mel * 0.1)
        if self.semitones is not None:
            frontend_states.append(semitone_state)
            # unscaled (the bands are centred, a few units either way): scaled by the log-mel's 0.1, the
            # zero-started layer of a grown model reached a seventeenth of the log-mel layer's weights in 2 epochs
            x = x + self.semitone_input(semitones)
        new_states = [torch.cat(frontend_states, dim=1)]
        for block, part in zip(self.blocks, parts[1:]):
            x, block_state = block(x, part.reshape(batch, self.channels, block.conv.context))
            new_states.append(block_state.reshape(batch, -1))
        if self.tail is not None:
            x, hidden = self.tail(x, parts[len(self.blocks) + 1])
            new_states.append(hidden)
        bar = ahead(self.head(x), anticipation)
        if self.beat_head is None:
            return bar, torch.cat(new_states, dim=1)
        beat = ahead(self.beat_head(x), anticipation)
        if self.snap is not None:
            snap_state = parts[-1]  # training reads no state back: the snap's work is skipped there
            if snap:
                bar, snap_state = self.snap(bar, beat, snap_state)
            new_states.append(snap_state)
        return torch.cat([bar, beat], dim=2), torch.cat(new_states, dim=1)
