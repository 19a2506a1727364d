"""Write the embedded default corpus as plain MIDI files, one folder per source:
OUT/generated (the procedural generator), OUT/mma (MMA grooves) and
OUT/music21 (real compositions from the music21 corpus) and OUT/metronome
(accented click tracks). Every song is then
*performed* (`performance.py`): an expressive tempo map, per-part timing and
dynamics, and for generated and MMA songs sometimes no drums, drums only or
breaks. OUT/corpus.json records each song's source and performance."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np
from tqdm import tqdm

from dance import config
from dance.corpus import generator, metronome, mma, music21_source, performance
from dance.data.audio import write_atomic, write_text

log = logging.getLogger("dance.corpus")
MMA_ATTEMPTS = 5  # grooves whose meter MMA and the MIDI disagree on are retried with another seed
# share of songs from each source; song i takes its source from this cycle
SOURCE_CYCLE = ("generated", "music21", "mma", "generated", "music21", "mma", "generated", "music21", "mma", "music21", "metronome")
# band songs (generator, MMA): how often the arrangement changes; music21 pieces have no drums
BAND_ARRANGEMENTS = {"as_written": 0.6, "no_drums": 0.1, "drums_only": 0.15, "breaks": 0.15}


def performed(midi, seed: int, arrangements: dict[str, float] | None):
    return performance.perform(midi, np.random.default_rng([seed, 1]), arrangements)


def write_generated(task: tuple[Path, int, object]) -> dict:
    path, seed, _ = task
    midi, how = performed(generator.compose(seed), seed, BAND_ARRANGEMENTS)
    write_atomic(path, lambda tmp: midi.save(str(tmp)))
    return {"tempo": how.tempo_style, "arrangement": how.arrangement}


def write_mma(task: tuple[Path, int, object]) -> dict:
    path, seed, _ = task
    errors = []
    for attempt in range(MMA_ATTEMPTS):
        try:
            raw = path.with_name(f".{path.stem}.raw.mid")
            mma.write_song(seed * MMA_ATTEMPTS + attempt, raw)
            midi, how = performed(mido.MidiFile(str(raw)), seed, BAND_ARRANGEMENTS)
            raw.unlink()
            write_atomic(path, lambda tmp: midi.save(str(tmp)))
            return {"tempo": how.tempo_style, "arrangement": how.arrangement}
        except mma.MMAError as e:
            errors.append(str(e))
    return {"problem": f"{path.name}: {errors[-1]}"}


def write_music21(task: tuple[Path, int, Path]) -> dict:
    path, seed, piece = task
    try:
        midi, how = performed(music21_source.piece_to_midi(piece, np.random.default_rng(seed)), seed, None)
    except music21_source.Music21Error as e:
        return {"problem": f"{piece.name}: {e}"}
    write_atomic(path, lambda tmp: midi.save(str(tmp)))
    return {"tempo": how.tempo_style, "arrangement": "as_written", "piece": str(Path(*piece.parts[piece.parts.index("corpus") + 1:]))}


def write_metronome(task: tuple[Path, int, object]) -> dict:
    path, seed, _ = task
    midi, how = performed(metronome.compose(seed), seed, None)
    write_atomic(path, lambda tmp: midi.save(str(tmp)))
    return {"tempo": how.tempo_style, "arrangement": "as_written"}


WRITERS = {"generated": write_generated, "mma": write_mma, "music21": write_music21, "metronome": write_metronome}
assert tuple(WRITERS) == config.CORPUS_SOURCES


def write_corpus(out: Path, songs: int, seed: int, workers: int, sources: tuple[str, ...] = tuple(WRITERS)) -> int:
    """Write `songs` MIDI files (existing ones are kept) from the given sources,
    in their SOURCE_CYCLE proportions; returns how many exist."""
    unknown = set(sources) - set(WRITERS)
    if unknown or not sources:
        raise ValueError(f"unknown corpus source {', '.join(sorted(unknown)) or '(none given)'}; known: {', '.join(WRITERS)}")
    mma.grooves()  # fails early with a clear message when MMA is missing
    cycle = [source for source in SOURCE_CYCLE if source in sources]
    sources = [cycle[i % len(cycle)] for i in range(songs)]
    pieces = iter(music21_source.choose_pieces(sources.count("music21"), seed))
    tasks = []
    for i, source in enumerate(sources):
        path = out / source / f"{source}-{seed:04d}-{i:05d}.mid"
        piece = next(pieces, None) if source == "music21" else None
        if source == "music21" and piece is None:
            source, path = "generated", out / "generated" / f"generated-{seed:04d}-{i:05d}.mid"  # the collections ran out
        if not path.exists():
            tasks.append((source, (path, seed * 1_000_003 + i, piece)))
    for source in WRITERS:
        (out / source).mkdir(parents=True, exist_ok=True)
    manifest_path = out / "corpus.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    with multiprocessing.get_context("fork").Pool(max(1, workers)) as pool:
        for (source, (path, _, _)), record in tqdm(zip(tasks, pool.imap(call, tasks)), total=len(tasks), desc="corpus", unit="song"):
            if "problem" in record:
                log.warning("skipped %s", record["problem"])
                continue
            manifest[str(path.relative_to(out))] = {"source": source, **record}
    write_text(manifest_path, json.dumps(manifest, indent=1))
    print(composition(manifest))
    return sum(1 for _ in out.rglob("*.mid"))


def composition(manifest: dict) -> str:
    """Shares of songs by source, tempo style and arrangement."""
    lines = []
    for key in ("source", "tempo", "arrangement"):
        counts = Counter(record[key] for record in manifest.values())
        total = sum(counts.values()) or 1
        lines.append(f"{key:<12}" + ", ".join(f"{name} {100 * n / total:.0f} %" for name, n in counts.most_common()))
    return "\n".join(lines)


def call(task):
    source, argument = task
    return WRITERS[source](argument)


def exclude_pattern(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        raise ValueError(f"--exclude {pattern!r} is not a regular expression: {e}") from None


def perform_folder(source: Path, out: Path, seed: int, exclude: Sequence[str] = ()) -> int:
    """Perform every MIDI file under `source` (a user's collection: Lakh, VGMIDI,
    ...) into the same relative path under `out`, as the default corpus's band
    songs are performed; a file mido cannot read is logged and skipped, and so
    is a file whose relative path matches one of the `exclude` regular
    expressions (case-insensitive; a folder or a song that must not train).
    Each file's random draws come from (seed, its relative path), so adding
    files never changes the others. Existing outputs are kept; returns how many exist."""
    patterns = [exclude_pattern(pattern) for pattern in exclude]
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
    kept = [p for p in files if not any(pattern.search(p.relative_to(source).as_posix()) for pattern in patterns)]
    if len(kept) < len(files):
        print(f"left out {len(files) - len(kept)} of {len(files)} MIDI files matching --exclude")
    files = kept
    if not files:
        raise ValueError(f"no MIDI files (.mid, .midi) under {source}" + (" that --exclude leaves" if patterns else ""))
    manifest_path = out / "corpus.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for path in tqdm(files, desc="perform", unit="song"):
        relative = path.relative_to(source)
        target = out / relative.with_suffix(".mid")
        if target.exists():
            continue
        try:
            midi = mido.MidiFile(str(path))
            file_seed = int.from_bytes(hashlib.sha1(f"{seed}/{relative.as_posix()}".encode()).digest()[:8], "big")
            played, how = performed(midi, file_seed, BAND_ARRANGEMENTS)
        except (OSError, ValueError, EOFError, KeyError, IndexError) as e:  # what mido raises on a corrupt file
            log.warning("skipped %s: %s", relative, e or type(e).__name__)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, lambda tmp: played.save(str(tmp)))
        manifest[str(relative.with_suffix(".mid"))] = {"source": source.name, "tempo": how.tempo_style, "arrangement": how.arrangement}
    write_text(manifest_path, json.dumps(manifest, indent=1))
    print(composition(manifest))
    return sum(1 for _ in out.rglob("*.mid"))
