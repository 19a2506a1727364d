"""How well a model fits its own training data, source by source: the bar
phase error on chunks it trained on and on the songs held out from them,
split by beats per bar. A model that is far from its training labels on some
source has not learnt it (more capacity or more training, not more data of
the kind); one that fits training but not held-out songs has memorised them.

    python bench/fit_by_source.py data/chunks/bal
    python bench/fit_by_source.py data/chunks/bal data/chunks/jam --model checkpoints/bal/7.pt --sample 200

A chunk's group is its corpus source when its name says so (`dance data
corpus` names songs generated-…, mma-…, music21-…, metronome-…), else the name
of its folder. Train and held-out sides are `dance train`'s split by song
(validation fraction 0.1). Up to --sample chunks of each group and side are
drawn (seeded); the error is the mean circular distance between the
predicted and the true bar phase at anticipation 0 from --skip seconds on
(the model has had time to lock), in bars.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dance import config, metrics  # noqa: E402
from dance.data.dataset import split_by_song  # noqa: E402
from dance.data.formats import find_chunks  # noqa: E402
from dance.data.pick import chunk_beats_per_bar, corpus_source  # noqa: E402
from dance.evaluate import read_chunk  # noqa: E402
from dance.inference import load_model, predict  # noqa: E402

METER_COLUMNS = ("2", "3", "4", "other")


def group_of(chunk: Path, folder: Path) -> str:
    return corpus_source(chunk) or folder.name


def meter_column(chunk: Path) -> str:
    count = chunk_beats_per_bar(chunk)
    return "" if count is None else str(count) if str(count) in METER_COLUMNS else "other"


def chunk_error(model, chunk: Path, skip: float) -> float:
    item = read_chunk(chunk)
    prediction = predict(model, item.samples, 0.0)
    truth = item.true_phase(prediction.times, 0.0)
    kept = ~np.isnan(truth) & (prediction.times >= skip)
    return float(metrics.circular_distance(prediction.phases[kept], truth[kept]).mean())


def drawn(folders: list[Path], sample: int) -> dict[tuple[str, str], list[Path]]:
    """(group, side) -> up to `sample` chunks, drawn with a fixed seed."""
    found: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for folder in folders:
        train, held_out = split_by_song(find_chunks(folder), config.VALIDATION_FRACTION)
        for side, chunks in (("train", train), ("held out", held_out)):
            for chunk in chunks:
                found[(group_of(chunk, folder), side)].append(chunk)
    rng = random.Random(0)
    return {key: sorted(rng.sample(chunks, min(sample, len(chunks)))) for key, chunks in sorted(found.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+", help="chunk folders (.ogg + .phase, from `dance data build`)")
    parser.add_argument("--model", type=Path, help="checkpoint (.pt) or ONNX export; default: the shipped model")
    parser.add_argument("--sample", type=int, default=120, help="chunks drawn per group and side (default %(default)s)")
    parser.add_argument("--skip", type=float, default=10.0, help="seconds at each chunk's start left out (default %(default)s)")
    args = parser.parse_args()
    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    model = load_model(args.model)
    print(f"model {args.model or 'shipped'}; bar phase error (bars) from {args.skip:g} s on, at anticipation 0; (chunks)\n")
    print(f"| group | side | chunks | error | {' | '.join(f'{c} beats' if c != 'other' else 'other meters' for c in METER_COLUMNS)} |")
    print("|---|---|---|---|" + "---|" * len(METER_COLUMNS))
    for (group, side), chunks in drawn(args.folders, args.sample).items():
        by_meter: dict[str, list[float]] = defaultdict(list)
        errors = []
        for chunk in chunks:
            error = chunk_error(model, chunk, args.skip)
            errors.append(error)
            by_meter[meter_column(chunk)].append(error)
        cells = [f"{np.mean(by_meter[c]):.3f} ({len(by_meter[c])})" if by_meter[c] else "—" for c in METER_COLUMNS]
        print(f"| {group} | {side} | {len(chunks)} | {np.mean(errors):.3f} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
