"""Benchmark: `dance live --midi-clock` on a rendered song, played as
`dance live --input FILE` plays it (FileSource in real time, or --speed times
faster, through the Stream and the live loop) into the MIDI clock output, with
a function in place of the MIDI port (this needs no MIDI device).

    python bench/midi_clock_jitter.py [--audio song.ogg] [--seed 3] [--speed 1] [--model M]

Without --audio it writes one MMA song (4/4; `dance.corpus.mma`) and renders
it with `dance data render` (FluidSynth, TimGM6mb). It prints:

- pulses per predicted quarter: the pulses between two consecutive predicted
  downbeats over the quarters in the clock's bar (4 without a beat phase);
- against the song's own bar grid (`.bars.csv` beside the audio): pulses per
  true quarter, counted the same way between the true downbeats;
- the scheduler's pulse timing jitter: |interval between consecutive pulses -
  the pulse period the bar length implies| (ms), the rows' own time axis;
- the sender's lateness: from a message's due time to the send returning
  (time.monotonic, ms): the thread and the machine's scheduling."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dance import config, live  # noqa: E402
from dance.clock import CLOCK, PULSES_PER_QUARTER, ClockScheduler  # noqa: E402
from dance.inference import DEFAULT_MODEL, load_model  # noqa: E402
from dance.outputs import MidiClockOutput  # noqa: E402
from dance.stream import Stream  # noqa: E402


def render_song(seed: int, folder: Path) -> Path:
    from dance.corpus.mma import write_song

    (folder / "midi").mkdir()
    write_song(seed, folder / "midi" / f"mma-{seed}.mid")
    done = subprocess.run([sys.executable, "-m", "dance", "data", "render", str(folder / "midi"), str(folder / "rendered"),
                           "--soundfonts", "TimGM6mb.sf2", "--workers", "1"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"dance data render failed:\n{done.stderr}")
    return next((folder / "rendered").glob("*.ogg"))


class Rows:
    """The live loop's monitor: keeps every row."""

    def __init__(self) -> None:
        self.rows: list = []

    def update(self, block, rows, dropped) -> None:
        self.rows += rows


def replay(rows: list) -> tuple[np.ndarray, np.ndarray, int]:
    """The scheduler's pulses for these rows (the output computed the same):
    their times, the pulse period the bar implied when each was scheduled, and
    the quarters in the bar at the end."""
    scheduler, times, periods = ClockScheduler(), [], []
    for row in rows:
        for event in scheduler.push(row):
            if event.message == CLOCK:
                times.append(event.time)
                periods.append(row.bar_seconds / scheduler.pulses_per_bar)
    return np.array(times), np.array(periods), scheduler.quarters


def per_quarter(pulses: np.ndarray, downbeats: np.ndarray, quarters: np.ndarray) -> np.ndarray:
    """Pulses between consecutive downbeats (after the clock started) / the quarters in that bar."""
    downbeats, quarters = downbeats[downbeats >= pulses[0]], quarters[downbeats >= pulses[0]]
    counts = np.diff(np.searchsorted(pulses, downbeats - 1e-6))
    return counts / quarters[:-1]


def summary(values: np.ndarray) -> str:
    return (f"median {np.median(values):.2f}, mean {values.mean():.2f}, 5-95 % {np.percentile(values, 5):.2f}-{np.percentile(values, 95):.2f}, "
            f"min-max {values.min():.2f}-{values.max():.2f} over {len(values)} bars")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, help="a rendered song (its .bars.csv beside it is used when there)")
    parser.add_argument("--seed", type=int, default=3, help="the MMA song to write without --audio (default %(default)s)")
    parser.add_argument("--speed", type=float, default=1.0, help="play this many times faster than real time (default %(default)s)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="checkpoint or ONNX export (default: the shipped model)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dance-midi-clock-") as tmp:
        audio = args.audio or render_song(args.seed, Path(tmp))
        bars_csv = audio.with_suffix(".bars.csv")
        truth = np.loadtxt(bars_csv, delimiter=",", skiprows=1, ndmin=2) if bars_csv.exists() else None
        source = live.FileSource(audio, args.speed)
        stream = Stream(load_model(args.model), 0.0)
        sent: list[bytes] = []
        output = MidiClockOutput("bench", speed=args.speed, send=sent.append, record=True)
        rows = Rows()
        live.run(source, stream, [output], rows)
        output.close()
    rows = rows.rows
    pulses, periods, quarters = replay(rows)
    predicted = np.array([r.downbeat for r in rows if r.downbeat is not None])
    seconds = len(rows) * config.FRAME_SECONDS
    print(f"{audio.name if args.audio else f'MMA song seed {args.seed}, TimGM6mb'}: {seconds:.0f} s at {args.speed:g}x real time, "
          f"{args.model.name}; {len(predicted)} predicted downbeats, clock from {pulses[0]:.2f} s, {len(pulses)} pulses "
          f"({sum(m == CLOCK for m in sent)} sent), {quarters} quarters per bar at the end")
    print(f"pulses per predicted quarter: {summary(per_quarter(pulses, predicted, np.full(len(predicted), quarters)))}")
    if truth is not None:
        true_quarters = truth[:, 1] * 4 / truth[:, 2]
        print(f"pulses per true quarter:      {summary(per_quarter(pulses, truth[:, 0], true_quarters))}")
        print(f"  (the song: {', '.join(sorted({f'{int(n)}/{int(d)}' for n, d in truth[:, 1:3]}))}, "
              f"{60 / np.median(np.diff(truth[:, 0]) / true_quarters[:-1]):.1f} quarters per minute; "
              f"the clock's median tempo {np.median(60 / (periods * PULSES_PER_QUARTER)):.1f})")
    jitter = np.abs(np.diff(pulses) - periods[1:]) * 1000
    late = np.array(output.sender.lateness) * 1000
    print(f"scheduler pulse interval jitter: median {np.median(jitter):.3f} ms, p99 {np.percentile(jitter, 99):.3f} ms "
          f"(pulse period median {np.median(periods) * 1000:.2f} ms)")
    print(f"sender lateness: median {np.median(late):.3f} ms, p99 {np.percentile(late, 99):.3f} ms over {len(late)} messages")


if __name__ == "__main__":
    main()
