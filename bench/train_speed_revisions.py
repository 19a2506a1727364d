"""Whole `dance train` epochs of two git revisions, side by side on this
machine: the model issue's "3x the training throughput" measured against the
code it was filed on, not against a figure from another day.

    python bench/train_speed_revisions.py --chunks data/chunks/bal --before ecfe79c
    python bench/train_speed_revisions.py --chunks data/chunks/bal --before ecfe79c --count 400 --epochs 3 --rounds 2 \\
        --setting "TCN=" --setting "TCN bf16=--bf16" \\
        --setting "shipped bf16=--bf16 --hparam onset_flux=true --hparam beats=true --hparam recurrent=resonator"

Each revision is checked out into a temporary git worktree and trains
`phase_tcn_mel` from scratch with its own `dance train` (its own loader,
augmentation and defaults, batch 8) on the same --count chunks, a link folder
drawn from --chunks with a fixed seed. An epoch's time is the time between two
consecutive checkpoints (training, validation on the songs held out, the
checkpoint write); epoch 1 is left out, since older code decoded the chunks
during it. The `before` revision runs without extra flags (it had none of
them); every --setting is a label and the extra `dance train` flags for the
current working tree. Settings alternate --rounds times, so a machine busy
with something else shows as spread, not bias. Prints one table of chunks per
second (median over the timed epochs of every round) and the ratio to
`before`.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from dance import config  # noqa: E402
from dance.data.dataset import split_by_song  # noqa: E402
from dance.data.formats import find_chunks  # noqa: E402


def link_chunks(source: Path, count: int, folder: Path) -> int:
    """Links `count` chunks of `source` (seeded draw) into `folder`; returns how many."""
    chunks = find_chunks(source)
    if len(chunks) < count:
        sys.exit(f"error: {source} has {len(chunks)} chunks with labels, fewer than --count {count}")
    folder.mkdir(parents=True)
    for chunk in random.Random(0).sample(chunks, count):
        for suffix in (".ogg", ".phase", ".beat"):
            if chunk.with_suffix(suffix).exists():
                (folder / chunk.with_suffix(suffix).name).symlink_to(chunk.with_suffix(suffix).resolve())
    return count


def train_chunks(code: Path, chunks: Path, work: Path, flags: list[str], epochs: int) -> list[float]:
    """Epoch times (seconds) of epochs 2.. of one fresh `dance train` run of the code in `code`."""
    checkpoints = Path(tempfile.mkdtemp(dir=work))
    command = [sys.executable, "-m", "dance", "train", "phase_tcn_mel", "--chunks-path", str(chunks), "-t", "speed",
               "-e", str(epochs), "-b", "8", "--checkpoints", str(checkpoints), *flags]
    environment = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(command, cwd=code, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"error: {shlex.join(command)} in {code} failed: {done.stderr.strip().splitlines()[-1]}")
    written = [(checkpoints / "speed" / f"{epoch}.pt").stat().st_mtime for epoch in range(1, epochs + 1)]
    return [b - a for a, b in zip(written, written[1:])]


def trained_per_epoch(chunks: Path) -> int:
    """Chunks an epoch trains on: those of the songs `dance train`'s split keeps for training."""
    train, _ = split_by_song(find_chunks(chunks), config.VALIDATION_FRACTION)
    return len(train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=Path, required=True, help="folder of chunks to draw from (.ogg + .phase)")
    parser.add_argument("--before", required=True, help="git revision to compare against (e.g. ecfe79c, the code the model issue was filed on)")
    parser.add_argument("--count", type=int, default=400, help="chunks to train on (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs a run; the first is not timed (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="times every setting runs, alternating (default %(default)s)")
    parser.add_argument("--setting", action="append", metavar="LABEL=FLAGS",
                        help='a label and the extra `dance train` flags for the working tree, e.g. "TCN bf16=--bf16" (default: "TCN=")')
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not timed")
    if not args.chunks.is_dir():
        parser.error(f"--chunks {args.chunks} is not a folder")
    settings = [tuple(s.split("=", 1)) for s in (args.setting or ["TCN="])]
    if any(len(s) != 2 for s in settings):
        parser.error("--setting takes LABEL=FLAGS")
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        chunks = work / "chunks"
        link_chunks(args.chunks, args.count, chunks)
        before = work / "before"
        added = subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", str(before), args.before],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if added.returncode:
            sys.exit(f"error: cannot check out --before {args.before}: {added.stderr.strip().splitlines()[-1]}")
        try:
            runs = [(f"{args.before} (before)", before, [])] + [(label, REPOSITORY, shlex.split(flags)) for label, flags in settings]
            times: dict[str, list[float]] = {label: [] for label, _, _ in runs}
            for _ in range(args.rounds):
                for label, code, flags in runs:
                    times[label] += train_chunks(code, chunks, work, flags, args.epochs)
                    print(f"{label}: epochs of {', '.join(f'{t:.1f}' for t in times[label])} s", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(before)], check=False)
        per_epoch = trained_per_epoch(chunks)
        base = per_epoch / statistics.median(times[runs[0][0]])
        print(f"\n{per_epoch} training chunks an epoch (of {args.count}), batch 8, epochs 2-{args.epochs}, {args.rounds} round(s)\n")
        print("| code | seconds an epoch (median) | chunks per second | × before |\n|---|---|---|---|")
        for label, _, _ in runs:
            seconds = statistics.median(times[label])
            print(f"| {label} | {seconds:.1f} | {per_epoch / seconds:.1f} | {per_epoch / seconds / base:.2f} |")


if __name__ == "__main__":
    main()
