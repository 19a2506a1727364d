"""A MIDI clock from the Stream's rows, as pure logic: rows in, timed MIDI
real-time messages out (`dance live --midi-clock`; `--link` uses its tempo and
position too). No port, no thread, no wall clock: `dance.outputs` sends the
messages.

Times are on the rows' own axis (`Row.time`, seconds: the end of the frame
plus the anticipation, README "Conventions"), so the anticipation applies to
the clock as to every output. The quarter is `bar_seconds` / the beats in a
bar. Where the rows carry a beat phase (`Row.beat_phase`, from a model with a
beat head), the beats in a bar are the bar length over the beat length (the
median interval between the last few wraps of the beat phase, found by the
downbeat rule), rounded; without one (NaN, or a Row without the field, as
from the model shipped now) they are a setting, `quarters_per_bar` (default 4).
A change in the beats per bar keeps the pulses where they are in the bar.

The clock starts on the first row whose bar length is known (the second
downbeat): a song position pointer at the next sixteenth of the bar, then Start
(position 0) or Continue, then a pulse at that sixteenth and 24 per quarter
after it. The pulse count is a phase-locked loop on the predicted bar phase:
each row, the error between the pulses' own position in the bar and the
predicted phase (in pulses, the nearer way round the bar) moves the pulse rate
away from the bar's tempo by error / CORRECTION_SECONDS pulses per second, at
most MAX_RATE_CHANGE of it. Noise in one frame's phase then moves the pulses
a little (the rate, never more than MAX_RATE_CHANGE), and a lasting error is
worked off, with a time constant of CORRECTION_SECONDS once the cap no longer
holds it back (after a quarter-bar jump at 120 quarters per minute the pulses
are within one pulse of it again in 3.7 s). README "Live: dance live" has the
figures on a rendered song."""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np

from dance import config
from dance.metrics import DownbeatRule

PULSES_PER_QUARTER = 24
PULSES_PER_SIXTEENTH = 6  # a song position pointer counts sixteenths ("MIDI beats")
CORRECTION_SECONDS = 1.0  # a phase error is worked off at error / this pulses per second
MAX_RATE_CHANGE = 0.2  # ... moving the rate by at most this fraction of the bar's tempo

CLOCK, START, CONTINUE, STOP = b"\xf8", b"\xfa", b"\xfb", b"\xfc"
SONG_POSITION_MAX = 16383  # 14 bits of sixteenths
MAX_QUARTERS_PER_BAR = 32


def song_position(sixteenths: int) -> bytes:
    """MIDI song position pointer: F2, then the sixteenths' low and high 7 bits."""
    sixteenths = min(sixteenths, SONG_POSITION_MAX)
    return bytes([0xF2, sixteenths & 0x7F, sixteenths >> 7])


class Event(NamedTuple):
    time: float  # on the rows' axis, seconds
    message: bytes


class BeatLength:
    """The beat length as the median interval between the last few wraps of
    the beat phase (the downbeat rule, applied to the beat); NaN before two."""

    def __init__(self) -> None:
        self.rule = DownbeatRule()
        self.wraps: deque[float] = deque(maxlen=config.BAR_LENGTH_DOWNBEATS)
        self.seconds = float("nan")

    def step(self, time: float, beat_phase: float) -> float:
        wrap = self.rule.step(time, beat_phase)
        if wrap is not None:
            self.wraps.append(wrap)
            if len(self.wraps) >= 2:
                self.seconds = float(np.median(np.diff(self.wraps)))
        return self.seconds


class ClockScheduler:
    """`push(row)` -> the MIDI messages due from that row up to the next one
    (`frame_seconds` later), each with its time; `stop(time)` -> Stop. A row
    is anything with `time`, `phase`, `bar_seconds` and, optionally,
    `beat_phase` (a `dance.stream.Row`)."""

    def __init__(self, quarters_per_bar: int = 4, frame_seconds: float = config.FRAME_SECONDS):
        if not 1 <= quarters_per_bar <= MAX_QUARTERS_PER_BAR:
            raise ValueError(f"quarters per bar must be 1 to {MAX_QUARTERS_PER_BAR}, got {quarters_per_bar}")
        self.quarters_per_bar = quarters_per_bar  # without a beat phase
        self.quarters = quarters_per_bar  # in the bar now
        self.frame_seconds = frame_seconds
        self.beat = BeatLength()
        self.running = False
        self.next_index = 0  # the next pulse, counted from song position 0
        self.next_time = 0.0  # its time
        self.rate = 0.0  # pulses per second now
        self.origin = 0.0  # a pulse position on a downbeat of the clock's bar grid

    @property
    def pulses_per_bar(self) -> int:
        return PULSES_PER_QUARTER * self.quarters

    def position(self, time: float) -> float:
        """Where the pulses are at `time` (not before the last row), in pulses from song position 0."""
        return self.next_index - (self.next_time - time) * self.rate

    def beats(self, time: float) -> float:
        """Quarters at `time` from a downbeat of the clock's bar grid (Link's beat)."""
        return (self.position(time) - self.origin) / PULSES_PER_QUARTER

    @property
    def tempo(self) -> float:
        """The pulses' tempo now, quarters per minute."""
        return self.rate * 60.0 / PULSES_PER_QUARTER

    def _quarters(self, row) -> int:
        beat_phase = getattr(row, "beat_phase", float("nan"))
        if not math.isnan(beat_phase):
            beat_seconds = self.beat.step(row.time, beat_phase)
            if beat_seconds > 0 and row.bar_seconds > 0:
                return min(max(round(row.bar_seconds / beat_seconds), 1), MAX_QUARTERS_PER_BAR)
        return self.quarters_per_bar

    def push(self, row) -> list[Event]:
        quarters = self._quarters(row)
        if not row.bar_seconds > 0:  # NaN until two downbeats
            return []
        if not self.running:
            self.quarters = quarters
            return self._start(row.time, row.phase * self.pulses_per_bar, self.pulses_per_bar / row.bar_seconds)
        estimate = self.position(row.time)
        if quarters != self.quarters:  # same place in the bar, a different number of pulses in it
            in_bar = (estimate - self.origin) % self.pulses_per_bar / self.pulses_per_bar
            self.quarters = quarters
            self.origin = estimate - in_bar * self.pulses_per_bar
        nominal = self.pulses_per_bar / row.bar_seconds
        target = row.phase * self.pulses_per_bar  # where the bar phase says the pulses are, within the bar
        half = self.pulses_per_bar / 2
        error = (target - (estimate - self.origin) + half) % self.pulses_per_bar - half
        self.rate = min(max(nominal + error / CORRECTION_SECONDS, nominal * (1 - MAX_RATE_CHANGE)), nominal * (1 + MAX_RATE_CHANGE))
        self.next_time = row.time + (self.next_index - estimate) / self.rate
        return self._pulses(row.time + self.frame_seconds)

    def _start(self, time: float, target: float, nominal: float) -> list[Event]:
        first = math.ceil(target / PULSES_PER_SIXTEENTH - 1e-9) * PULSES_PER_SIXTEENTH
        sixteenths = (first % self.pulses_per_bar) // PULSES_PER_SIXTEENTH  # at the bar's end: the next bar's 0
        self.running, self.rate, self.origin = True, nominal, 0.0
        self.next_index, self.next_time = sixteenths * PULSES_PER_SIXTEENTH, time + (first - target) / nominal
        start = [Event(time, song_position(sixteenths)), Event(time, START if sixteenths == 0 else CONTINUE)]
        return start + self._pulses(time + self.frame_seconds)

    def _pulses(self, until: float) -> list[Event]:
        events = []
        while self.next_time <= until:
            events.append(Event(self.next_time, CLOCK))
            self.next_index += 1
            self.next_time += 1.0 / self.rate
        return events

    def stop(self, time: float) -> list[Event]:
        if not self.running:
            return []
        self.running = False
        return [Event(time, STOP)]
