"""Benchmark: how fast `dance data build` makes training audio, against the
two-step `render` + `chop` path and against FluidSynth's bare render of the
same MIDI files (the floor: no labels, no chunking, no encoding).

    python bench/build_speed.py [--songs 8] [--soundfont FluidR3_GM.sf2] [--workers 1]

Prints seconds of song (music) processed per wall-clock second for each path.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from dance.corpus.default import write_corpus
from dance.data import pipeline, synth
from dance.data.midi import read_song


def timed(function) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        function()
    return time.perf_counter() - start


def bare_render(midi_files: list[Path], soundfont: Path, out: Path) -> None:
    for i, midi in enumerate(midi_files):
        subprocess.run(["fluidsynth", "-ni", "-q", "-r", "16000", "-F", str(out / f"{i}.wav"), str(soundfont), str(midi)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=8, help="songs from the default corpus (default %(default)s)")
    parser.add_argument("--soundfont", default="FluidR3_GM.sf2")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for build/render/chop (default %(default)s)")
    args = parser.parse_args()
    soundfont = synth.find_soundfont(args.soundfont)

    with tempfile.TemporaryDirectory(prefix="dance-bench-") as tmp:
        tmp = Path(tmp)
        write_corpus(tmp / "midi", args.songs, seed=12345, workers=args.workers)
        midi_files = pipeline.find_midi_files(tmp / "midi")
        music = sum(read_song(m).music_end for m in midi_files)
        (tmp / "bare").mkdir()
        results = {
            "FluidSynth bare render (floor)": timed(lambda: bare_render(midi_files, soundfont, tmp / "bare")),
            "dance data build": timed(lambda: pipeline.build(tmp / "midi", tmp / "build", [str(soundfont)], args.workers, 0, 0.0)),
            "dance data render + chop": timed(lambda: (
                pipeline.render(tmp / "midi", tmp / "rendered", [str(soundfont)], args.workers, 0, 0.0),
                pipeline.chop(tmp / "rendered", tmp / "chopped", args.workers, 0))),
        }
    floor = results["FluidSynth bare render (floor)"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{len(midi_files)} songs, {music:.0f} s of music, soundfont {soundfont.name}, {args.workers} worker(s)")
    print("| path | wall s | music s per wall s | x bare render |")
    print("|---|---|---|---|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.1f} | {music / seconds:.0f} | {seconds / floor:.2f} |")


if __name__ == "__main__":
    main()
