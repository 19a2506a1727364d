"""The on-disk formats: one place that writes and reads each of them.

Bar grid, `<name>.bars.csv` (written by `dance data render` and `dance label`,
read by `chop`, `eval` and `view`): a header line `start,numerator,denominator`,
then one line per bar: its start in seconds (6 decimals) and its time signature.

Per-frame labels, `<chunk>.phase` (bar phase) and `<chunk>.beat` (beat phase):
one phase in [0, 1) per line, 6 decimals, config.LABEL_FRAMES lines (one per
20 ms frame). A chunk written before beat labels has no `.beat`; it reads as NaN.

Chunks, `<song id>__<soundfont>__<k>.ogg` with `.phase` and `.beat` beside it:
the song id (from `pipeline.song_id`, without '__') keeps validation splits by
song possible; `<song id>__<soundfont>` is the job stem, `<k>` the chunk number
in three digits. A chunk is an `.ogg` with its `.phase`.

Rendered songs: `<song id>__<soundfont>.ogg` with its `.bars.csv`. Labelled audio
for `dance eval` is either a rendered song or a chunk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dance import config

if TYPE_CHECKING:
    from dance.data.midi import Bar

SEPARATOR = "__"  # between the song id, the soundfont tag and the chunk number


# ---------------------------------------------------------------- bar grids (.bars.csv)

def bars_csv(bars: list[Bar]) -> str:
    """A bar grid as `dance data render` writes it and `chop`, `eval` and `view` read it."""
    return "start,numerator,denominator\n" + "".join(f"{b.start:.6f},{b.numerator},{b.denominator}\n" for b in bars)


def read_bar_grid(path: Path) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(bar starts in seconds, (numerator, denominator) of each bar)."""
    rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return rows[:, 0], [(int(n), int(d)) for n, d in rows[:, 1:3]]


def read_bars_csv(path: Path) -> np.ndarray:
    """The bar starts of a .bars.csv, in seconds."""
    return read_bar_grid(path)[0]


# ---------------------------------------------------------------- per-frame labels (.phase, .beat)

def labels_text(labels: np.ndarray) -> str:
    return "".join(f"{p:.6f}\n" for p in labels)


def read_labels(path: Path) -> np.ndarray:
    """A chunk's .phase or .beat labels; a missing .beat (a chunk written before
    beat labels) reads as NaN, which the training loss leaves out."""
    if path.suffix == ".beat" and not path.exists():
        return np.full(config.LABEL_FRAMES, np.nan, dtype=np.float32)
    labels = np.array(path.read_text().split(), dtype=np.float32)
    if labels.shape != (config.LABEL_FRAMES,):
        raise ValueError(f"{path} has {labels.size} labels, expected {config.LABEL_FRAMES}")
    return labels


# ---------------------------------------------------------------- names and discovery

def job_stem(song_id: str, soundfont_tag: str) -> str:
    """The name stem of one (song, soundfont): its rendered song, or the prefix of its chunks."""
    return f"{song_id}{SEPARATOR}{soundfont_tag}"


def chunk_name(stem: str, k: int) -> str:
    """The name (without suffix) of chunk `k` of a job stem."""
    return f"{stem}{SEPARATOR}{k:03d}"


def chunks_of(stem: str) -> str:
    """A glob pattern for every chunk file of a job stem."""
    return f"{stem}{SEPARATOR}*"


def song_of_chunk(chunk: Path) -> str:
    """The song id of a chunk (or of a rendered song, or of a job stem)."""
    return chunk.name.split(SEPARATOR)[0]


def find_chunks(folder: Path) -> list[Path]:
    """Chunk audio files that have their label file, sorted by name."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"chunk folder {folder} does not exist")
    return sorted(p for p in Path(folder).glob("*.ogg") if p.with_suffix(".phase").exists())


def find_rendered(folder: Path) -> list[Path]:
    """Rendered songs (.ogg with their .bars.csv) in a folder, sorted by name."""
    return sorted(p for p in folder.glob("*.ogg") if p.with_suffix(".bars.csv").exists())


def find_labelled(folder: Path) -> list[Path]:
    """Labelled audio for `dance eval`: rendered songs and chunks, sorted by name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"evaluation folder {folder} does not exist")
    found = sorted(p for p in folder.glob("*.ogg") if p.with_suffix(".bars.csv").exists() or p.with_suffix(".phase").exists())
    if not found:
        raise FileNotFoundError(f"no labelled audio in {folder} (.ogg with .bars.csv or .phase beside it)")
    return found
