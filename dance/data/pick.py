"""`dance data pick`: link the chunks of a folder that are in given meters
into another folder, for `dance train --mix-chunks` (a share of every batch
from music in the meters a corpus has too little of).

Only chunks of songs that `dance train` would train on are picked (its split
by song), so a run on the source folder with the picked ones mixed in never
trains on a song it validates on. A chunk's meter is its beats per bar,
counted from its labels (`.beat` started beats over `.phase` started bars), so
6/8 is 2 and 9/8 is 3, by the beat rule of `dance.data.labels`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dance.config import CORPUS_SOURCES
from dance.data.dataset import split_by_song
from dance.data.formats import find_chunks, read_labels

LABEL_SUFFIXES = (".ogg", ".phase", ".beat")


def corpus_source(chunk: Path) -> str | None:
    """The embedded corpus source a chunk's song came from, or None for any other MIDI."""
    source = chunk.name.split("-")[0]
    return source if source in CORPUS_SOURCES else None


def chunk_beats_per_bar(chunk: Path) -> int | None:
    """Beats per bar over the chunk (rounded), from its labels; None without beat labels or a bar start."""
    bars, beats = read_labels(chunk.with_suffix(".phase")), read_labels(chunk.with_suffix(".beat"))
    if np.isnan(beats).any():
        return None
    bar_starts = np.count_nonzero(np.diff(bars) < -0.5)
    return round(np.count_nonzero(np.diff(beats) < -0.5) / bar_starts) if bar_starts else None


def pick(source: Path, out: Path, meters: set[int], skip_sources: set[str], validation_fraction: float) -> int:
    """Links the training side's chunks in `meters` (beats per bar) and not from `skip_sources` into `out`; returns how many."""
    unknown = skip_sources - set(CORPUS_SOURCES)
    if unknown:
        raise ValueError(f"unknown corpus source(s) {', '.join(sorted(unknown))}: expected {', '.join(CORPUS_SOURCES)}")
    train, _ = split_by_song(find_chunks(source), validation_fraction)
    chosen = [c for c in train if corpus_source(c) not in skip_sources and chunk_beats_per_bar(c) in meters]
    out.mkdir(parents=True, exist_ok=True)
    for chunk in chosen:
        for suffix in LABEL_SUFFIXES:
            target, link = chunk.with_suffix(suffix).resolve(), out / chunk.with_suffix(suffix).name
            if target.exists() and not link.exists():
                link.symlink_to(target)
    return len(chosen)
