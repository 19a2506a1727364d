"""Write the embedded default corpus: procedural songs and MMA accompaniments,
half each, as plain MIDI files in OUT/generated and OUT/mma."""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path

from tqdm import tqdm

from dance.corpus import generator, mma
from dance.data.audio import write_atomic

log = logging.getLogger("dance.corpus")
MMA_ATTEMPTS = 5  # grooves whose meter MMA and the MIDI disagree on are retried with another seed


def write_generated(task: tuple[Path, int]) -> str | None:
    path, seed = task
    write_atomic(path, lambda tmp: generator.compose(seed).save(str(tmp)))
    return None


def write_mma(task: tuple[Path, int]) -> str | None:
    path, seed = task
    errors = []
    for attempt in range(MMA_ATTEMPTS):
        try:
            write_atomic(path, lambda tmp: mma.write_song(seed * MMA_ATTEMPTS + attempt, tmp))
            return None
        except mma.MMAError as e:
            errors.append(str(e))
    return f"{path.name}: {errors[-1]}"


def write_corpus(out: Path, songs: int, seed: int, workers: int) -> int:
    """Write `songs` MIDI files (existing ones are kept); returns how many exist."""
    mma.grooves()  # fails early with a clear message when MMA is missing
    tasks = []
    for i in range(songs):
        source = "generated" if i % 2 == 0 else "mma"
        path = out / source / f"{source}-{seed:04d}-{i // 2:05d}.mid"
        if not path.exists():
            tasks.append((write_generated if source == "generated" else write_mma, (path, seed * 1_000_003 + i)))
    for source in ("generated", "mma"):
        (out / source).mkdir(parents=True, exist_ok=True)
    with multiprocessing.get_context("fork").Pool(max(1, workers)) as pool:
        for problem in tqdm(pool.imap_unordered(call, tasks), total=len(tasks), desc="corpus", unit="song"):
            if problem:
                log.warning("skipped %s", problem)
    return sum(1 for _ in out.rglob("*.mid"))


def call(task):
    function, argument = task
    return function(argument)
