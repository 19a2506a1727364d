"""The terminal display of `dance live`: one line redrawn LIVE_DISPLAY_HZ
times a second (a bar counter, a dial that fills once per bar, the phase, the
bar length and tempo, the input level, dropped blocks), and a summary at the
end. When the output is not a terminal (a pipe, a log) only the summary is
written."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

import numpy as np

from dance import config
from dance.stream import Row

DIAL_WIDTH = 24  # characters for one bar
FLASH_SECONDS = 0.15  # the downbeat marker stays this long


def bar_text(bar_seconds: float) -> str:
    if math.isnan(bar_seconds):
        return "bar length –"
    return f"bar {bar_seconds:.2f} s ({60 / bar_seconds:.1f} bars/min)"


def level_text(peak: float) -> str:
    return f"input {20 * math.log10(peak):5.1f} dBFS" if peak > 0 else "input silent"


class TerminalDisplay:
    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.redraw = self.out.isatty()
        self.frames = self.downbeats = self.dropped = 0
        self.row: Row | None = None
        self.peak = 0.0  # largest |sample| since the last redraw
        self.next_redraw = 0.0
        self.flash_until = 0.0
        self.beat: int | None = None  # the number in the bar of the last beat

    def update(self, block: np.ndarray, rows: list[Row], dropped: int) -> None:
        now = time.monotonic()
        self.peak = max(self.peak, float(np.max(np.abs(block)))) if len(block) else self.peak
        self.dropped = dropped
        self.frames += len(rows)
        for row in rows:
            if row.downbeat is not None:
                self.downbeats += 1
                self.flash_until = now + FLASH_SECONDS
            if row.beat is not None:
                self.beat = row.beat
        self.row = rows[-1] if rows else self.row
        if self.redraw and now >= self.next_redraw:
            self.out.write("\r" + self.line(now) + "\x1b[K")
            self.out.flush()
            self.next_redraw = now + 1 / config.LIVE_DISPLAY_HZ
            self.peak = 0.0

    def line(self, now: float) -> str:
        if self.row is None:
            return "waiting for the first 20 ms of audio"
        filled = int(self.row.phase * DIAL_WIDTH)
        dial = "█" * filled + "·" * (DIAL_WIDTH - filled)
        flash = "●" if now < self.flash_until else " "
        beat = "" if math.isnan(self.row.beat_phase) else f"beat {self.beat or '-'}  "
        return (f"{flash} bar {self.downbeats:4d} |{dial}| phase {self.row.phase:.2f}  {beat}{bar_text(self.row.bar_seconds)}  "
                f"sure {self.row.confidence:.2f}  {level_text(self.peak)}  dropped {self.dropped}")

    def close(self) -> None:
        if self.redraw:
            self.out.write("\n")
            self.out.flush()

    def summary(self) -> str:
        bar = f"last {bar_text(self.row.bar_seconds)}" if self.row and not math.isnan(self.row.bar_seconds) else "no bar length yet"
        return (f"{self.frames} frames ({self.frames * config.FRAME_SECONDS:.1f} s of audio), {self.downbeats} downbeats, "
                f"{bar}, {self.dropped} dropped blocks")
