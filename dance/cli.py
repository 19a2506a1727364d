"""The `dance` command: a thin shell over the library."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dance import config

EPILOG_DATA = """\
typical flow:
  dance data corpus data/midi/default          # write the embedded default MIDI corpus
  dance data build data/midi/default data/chunks/default
  dance data view data/chunks/default/<chunk>.ogg --out chunk.png
"""


def add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="make labelled training data from MIDI",
                          description="Make labelled training data: MIDI -> FluidSynth audio -> 32 s chunks with per-frame bar-phase labels.",
                          epilog=EPILOG_DATA, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = data.add_subparsers(dest="step", required=True, metavar="STEP")
    workers = dict(type=int, default=os.cpu_count() or 1, help="parallel worker processes (default: every core, %(default)s)")
    seed = dict(type=int, default=0, help="random seed; the same seed gives the same data (default %(default)s)")
    fonts = dict(nargs="+", default=list(config.DEFAULT_SOUNDFONTS), metavar="SOUNDFONT",
                 help="soundfont files or names in /usr/share/sounds/sf2|sf3; each song is rendered once per soundfont (default: %(default)s)")
    jitter = dict(type=float, default=0.0, metavar="SECONDS",
                  help=f"move each note by up to this many seconds (j*r, j~U(0,SECONDS) per song, r~U(-1,1) per note); labels unchanged; 0 = off, {config.TIMING_JITTER_MAX_SECONDS} is the SPEC's value")

    p = steps.add_parser("corpus", help="write the embedded default MIDI corpus (generator + MMA grooves)",
                         description="Write the embedded default corpus: half procedural songs (every meter, tempo steps and ramps, meter changes, pickups, humanised timing), half MMA accompaniments. Existing files are kept, so a rerun resumes.")
    p.add_argument("out", type=Path, help="folder for the MIDI files")
    p.add_argument("--songs", type=int, default=200, help="number of songs (default %(default)s; 4000 makes a large corpus)")
    p.add_argument("--seed", **seed)
    p.add_argument("--workers", **workers)

    for name, text in (("render", "MIDI folder -> one loudness-normalised OGG + .bars.csv per (song, soundfont)"),
                       ("build", "MIDI folder -> chunks in one pass (render-and-chop; the preferred path)")):
        p = steps.add_parser(name, help=text, description=text + ". Walks the folder recursively for .mid/.midi; "
                             "already finished work is skipped, so an interrupted run resumes. Songs without a usable time signature are skipped and logged to OUT/skips.log.")
        p.add_argument("midi", type=Path, help="folder of MIDI files (any tree, e.g. lmd_matched/)")
        p.add_argument("out", type=Path, help="output folder")
        p.add_argument("--soundfonts", **fonts)
        p.add_argument("--jitter", **jitter)
        p.add_argument("--seed", **seed)
        p.add_argument("--workers", **workers)

    p = steps.add_parser("chop", help="rendered songs -> 32 s chunks with labels and pitch augmentation",
                         description="Cut rendered songs (from `dance data render`) into 32 s .ogg chunks with .phase labels (one per 20 ms frame, 33 s), each chunk sped up by a random pitch factor in [0.71, 1.29].")
    p.add_argument("rendered", type=Path, help="folder written by `dance data render`")
    p.add_argument("out", type=Path, help="output folder for chunks")
    p.add_argument("--seed", **seed)
    p.add_argument("--workers", **workers)

    p = steps.add_parser("view", help="draw one chunk (waveform, spectrogram, labels, bar lines) as a PNG",
                         description="Draw a chunk: waveform, spectrogram and phase labels with the bar lines they imply.")
    p.add_argument("chunk", type=Path, help="a chunk .ogg (its .phase must sit beside it)")
    p.add_argument("--out", type=Path, help="PNG to write (default: CHUNK with .png)")


def run_data(args: argparse.Namespace) -> None:
    from dance.data import pipeline

    if args.step == "corpus":
        from dance.corpus.default import write_corpus
        count = write_corpus(args.out, args.songs, args.seed, args.workers)
        print(f"{count} MIDI files in {args.out}")
    elif args.step in ("render", "build"):
        run = pipeline.render if args.step == "render" else pipeline.build
        run(args.midi, args.out, args.soundfonts, args.workers, args.seed, args.jitter)
    elif args.step == "chop":
        pipeline.chop(args.rendered, args.out, args.workers, args.seed)
    elif args.step == "view":
        from dance.data.view import view_chunk
        if not args.chunk.is_file() or not args.chunk.with_suffix(".phase").is_file():
            raise FileNotFoundError(f"{args.chunk} and its .phase file must both exist")
        print(view_chunk(args.chunk, args.out or args.chunk.with_suffix(".png")))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dance", description="Real-time bar phase from audio: data, training, prediction.")
    p.add_argument("-v", "--verbose", action="store_true", help="log every skipped file and more")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from dance.corpus.mma import MMAError
    from dance.data.audio import AudioError
    from dance.data.pipeline import DataError
    from dance.data.synth import SynthError

    try:
        {"data": run_data}[args.command](args)
    except (DataError, SynthError, MMAError, AudioError, FileNotFoundError, ValueError) as e:
        print(f"dance: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dance: interrupted; finished work is kept, rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
