"""Fine-tuning on one user's music, measured: the README's recipe (label 20
songs, fine-tune, score 5 others) run on material that stands in for a
user's recordings, with the table before and after.

    python bench/user_style.py [--out data/user-style] [--results results/user-style] [--epochs 3]

The stand-in: an Irish session band heard through a laptop in a pub. Dance
tunes from O'Neill's 1850 collection (jigs, slip jigs, reels, hornpipes,
polkas, airs), which the dev benchmark's folk arrangements come from and no
training corpus uses, played by the dev benchmark's arranger (fiddle, flute,
accordion or whistle over chords, bass and a groove in the tune's meter, a
band's drifting tempo) and its room chain (reverb, a 200 Hz - 6 kHz laptop
band, saturation, noise at 20 dB SNR). The dev benchmark's own tunes are left
out. 20 tunes go to OUT/train and 5 others to OUT/test, each NAME.ogg beside
NAME.bars.csv: what `dance label` writes once a person has confirmed the
grid (the labels here are the true ones, from the MIDI). Then, as a user would:
  dance data chop OUT/train CHUNKS
  dance train phase_tcn_mel --chunks-path data/chunks/real --init dance/default_model.pt \\
      --mix-chunks CHUNKS --mix-share 0.5 -e EPOCHS --lr 3e-4 -t user-style
  dance eval OUT/test                          (before: the shipped model)
  dance eval OUT/test --model checkpoints/user-style/EPOCHS.pt     (after)
and the dev benchmark of the fine-tuned model, to show what it kept.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import devbench  # noqa: E402
from dance.data.audio import write_text  # noqa: E402
from dance.data.midi import SkipSong  # noqa: E402
from dance.errors import DanceError, run_script  # noqa: E402

BOOKS = "oneills1850"
TRAIN_TUNES, TEST_TUNES = 20, 5
COUNTED_BPM = {(6, 8): (100, 116), (9, 8): (96, 112), (12, 8): (90, 104), (2, 4): (100, 126), (4, 4): (100, 126),
               (2, 2): (88, 104), (3, 4): (100, 130)}  # the counted beat (devbench.beat_quarters) of each meter
SEED = 11


def tunes_in_books() -> list[tuple[str, int, tuple[int, int]]]:
    """(book path, tune number, meter) for every tune of O'Neill's books in a meter of COUNTED_BPM."""
    from music21 import corpus

    tunes = []
    for path in sorted(p for p in corpus.getPaths() if f"/{BOOKS}/" in str(p)):
        number = None
        for line in Path(path).read_text(errors="replace").splitlines():
            if (x := re.match(r"X:\s*(\d+)", line)):
                number = int(x.group(1))
            elif (m := re.match(r"M:\s*(C\||C|\d+/\d+)", line)) and number is not None:
                text = {"C": "4/4", "C|": "2/2"}.get(m.group(1), m.group(1))
                meter = tuple(int(v) for v in text.split("/"))
                if meter in COUNTED_BPM:
                    tunes.append((f"{BOOKS}/{Path(path).name}", number, meter))
                number = None
    return tunes


def held_out_numbers() -> set[int]:
    """The dev benchmark's own tunes, never used here."""
    return {spec.number for spec in devbench.ARRANGEMENT_PIECES if spec.path.startswith(BOOKS)}


def build_tune(spec: devbench.PieceSpec, part: str, rng: np.random.Generator, work: Path) -> devbench.Excerpt:
    seconds = devbench.excerpt_seconds(rng)
    perf, starts, cut, info = devbench.arrangement_performance(spec, seconds, rng)
    samples, bars = devbench.render_performance(perf, cut, seconds, work, starts)
    samples, room = devbench.room(devbench.finish(samples), rng)
    return devbench.Excerpt(f"{devbench.slug(spec)}", part, samples, bars, {**info, **room})


def build(out: Path, seed: int) -> dict:
    """OUT/train and OUT/test with manifest.json; a finished build of the same seed is kept."""
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text()).get("seed") == seed:
        print(f"{out}: already built with seed {seed}")
        return json.loads(manifest_path.read_text())
    rng = np.random.default_rng(seed)
    tunes = [t for t in tunes_in_books() if t[1] not in held_out_numbers()]
    order = rng.permutation(len(tunes))
    entries, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="user-style-") as tmp:
        for index in order:
            if len(entries) == TRAIN_TUNES + TEST_TUNES:
                break
            path, number, meter = tunes[index]
            spec = devbench.PieceSpec(path, COUNTED_BPM[meter], number=number, loop=True)
            part = "train" if len(entries) < TRAIN_TUNES else "test"
            try:
                excerpt = build_tune(spec, part, np.random.default_rng([seed, number]), Path(tmp))
            except (ValueError, SkipSong) as e:  # a tune with a pickup, a short bar or an odd meter marker; the next one will do
                skipped.append(f"{path} {number}: {e}")
                continue
            entries.append(devbench.write_excerpt(out, excerpt))
            print(f"{part:5s} {excerpt.name}  {'/'.join(map(str, meter))}  {entries[-1]['seconds']:.1f} s", flush=True)
    manifest = {"seed": seed, "tunes": entries, "skipped": skipped}
    write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")
    print(f"built {len(entries)} tunes into {out} ({len(skipped)} skipped: pickups or short bars)")
    return manifest


class StepFailed(DanceError):
    pass


def run(*command: str) -> None:
    """One step of the recipe; its own output shows why it failed, this says which."""
    if subprocess.run([sys.executable, *command], cwd=REPO).returncode:
        raise StepFailed(f"{' '.join(command[:4])} failed")


def dance(*args: str) -> None:
    print("$ dance " + " ".join(args), flush=True)
    run("-m", "dance", *args)


def summary(eval_folder: Path) -> dict:
    return json.loads((eval_folder / "eval.json").read_text())["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "data" / "user-style", help="folder for the tunes (default %(default)s)")
    parser.add_argument("--chunks", type=Path, default=REPO / "data" / "chunks" / "user-style", help="chunks of the training tunes")
    parser.add_argument("--corpus", type=Path, default=REPO / "data" / "chunks" / "real", help="the default corpus's chunks")
    parser.add_argument("--results", type=Path, default=REPO / "results" / "user-style", help="folder for the evaluations and table")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    build(args.out, args.seed)
    dance("data", "chop", str(args.out / "train"), str(args.chunks))
    started = time.monotonic()
    dance("train", "phase_tcn_mel", "--chunks-path", str(args.corpus), "--init", "dance/default_model.pt", "--mix-chunks", str(args.chunks),
          "--mix-share", "0.5", "-e", str(args.epochs), "--lr", str(args.lr), "-t", "user-style")
    minutes = (time.monotonic() - started) / 60
    tuned = REPO / "checkpoints" / "user-style" / f"{args.epochs}.pt"
    dance("eval", str(args.out / "test"), "--out", str(args.results / "before"), "--no-pictures")
    dance("eval", str(args.out / "test"), "--model", str(tuned), "--out", str(args.results / "after"), "--no-pictures")
    run(str(REPO / "bench" / "devbench.py"), "score", "--model", str(tuned), "--no-anchors", "--out", str(args.results / "devbench-after"))
    result = {"train_minutes": round(minutes, 1), "before": summary(args.results / "before"), "after": summary(args.results / "after")}
    write_text(args.results / "results.json", json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    run_script(main, "user_style")
