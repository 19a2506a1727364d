"""Real compositions from the music21 corpus (shipped in the `music21` wheel):
chorales, fiddle tunes, Renaissance polyphony, madrigals, string quartets,
folk songs, each written as a plain MIDI file with its bar grid intact.

music21's own MIDI export does not pad pickup bars, so its time-signature grid
would put every bar line of a piece with an anacrusis in the wrong place. The
bar grid here comes from music21's measures instead: a time-signature event at
every measure whose length differs from the one before, so pickups, short
bars at repeats and meter changes all land where the score has them. Only the
collections in `config.MUSIC21_TRAINING_COLLECTIONS` are used; the others are
kept for the development benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import mido
import numpy as np

from dance import config
from dance.corpus.generator import to_track

TICKS_PER_QUARTER = 480
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")
MAX_MUSIC_SECONDS = 150.0  # longer pieces are cut here
MIN_MUSIC_SECONDS = 60.0  # shorter pieces are played again, up to MAX_REPEATS times
MAX_REPEATS = 4
COLLECTION_WEIGHTS = {"bach": 3, "ryansMammoth": 3, "palestrina": 2, "essenFolksong": 2, "trecento": 1.5, "monteverdi": 1.5, "haydn": 1}
# (name, weight, GM programs the parts draw from): real music is often without drums
ENSEMBLES = (
    ("piano", 4, [0, 1, 2]),
    ("strings", 2, [40, 41, 42, 48, 49]),
    ("guitar", 1.5, [24, 25, 26]),
    ("choir_organ", 1.5, [19, 20, 52, 53]),
    ("winds", 1, [68, 71, 73, 56, 60]),
    ("mixed", 2, [0, 4, 11, 24, 40, 46, 48, 68, 73]),
)


class Music21Error(Exception):
    """A piece that cannot be turned into a usable MIDI file; one line."""


@lru_cache(maxsize=1)
def collection_files() -> dict[str, tuple[Path, ...]]:
    """Score files of every training collection, sorted."""
    from music21 import corpus
    files: dict[str, list[Path]] = {name: [] for name in config.MUSIC21_TRAINING_COLLECTIONS}
    for path in corpus.getCorePaths():
        path = Path(path)
        parts = path.parts
        if path.suffix.lower() not in SCORE_SUFFIXES or "corpus" not in parts:
            continue
        collection = parts[parts.index("corpus") + 1]
        if collection in files:
            files[collection].append(path)
    return {name: tuple(sorted(paths)) for name, paths in files.items() if paths}


def choose_pieces(count: int, seed: int) -> list[Path]:
    """`count` distinct pieces, collections drawn by weight (a collection that
    runs out drops out of the draw)."""
    rng = np.random.default_rng(seed)
    pools = {name: list(rng.permutation(len(paths))) for name, paths in collection_files().items()}
    chosen = []
    while len(chosen) < count and pools:
        names = list(pools)
        weights = np.array([COLLECTION_WEIGHTS.get(n, 0.5) for n in names])
        name = names[rng.choice(len(names), p=weights / weights.sum())]
        chosen.append(collection_files()[name][pools[name].pop()])
        if not pools[name]:
            del pools[name]
    return chosen


def meter_of_length(quarters: Fraction) -> tuple[int, int]:
    """A time signature whose bar is `quarters` long: 3 -> 3/4, 1.5 -> 3/8."""
    for denominator in (4, 8, 16, 32):
        numerator = quarters * denominator / 4
        if numerator.denominator == 1 and 1 <= numerator <= 32:
            return int(numerator), denominator
    raise Music21Error(f"a measure of {float(quarters)} quarter notes has no time signature")


@dataclass(frozen=True)
class Measure:
    offset: Fraction  # quarter notes from the start
    length: Fraction  # as played
    written: Fraction  # as its time signature says
    meter: tuple[int, int]

    @property
    def short(self) -> bool:
        return self.length < self.written


def measures_of(part) -> list[Measure]:
    """Every measure of a part with its real length."""
    from music21 import stream
    found = list(part.getElementsByClass(stream.Measure))
    if len(found) < config.MIN_BARS:
        raise Music21Error(f"only {len(found)} measures")
    result, signature = [], None
    for i, m in enumerate(found):
        signature = m.timeSignature or signature or m.getContextByClass("TimeSignature")
        if signature is None:
            raise Music21Error("no time signature")
        offset = quarters(m.offset)
        end = quarters(found[i + 1].offset) if i + 1 < len(found) else offset + quarters(m.duration.quarterLength)
        if end > offset:
            result.append(Measure(offset, end - offset, quarters(signature.barDuration.quarterLength), (signature.numerator, signature.denominator)))
    return result


def quarters(value: float) -> Fraction:
    return Fraction(value).limit_denominator(64)


def repeat(measures: list[Measure], times: int) -> tuple[list[Measure], Fraction]:
    """The piece played `times` times through, as a player repeats a tune:
    (measures, quarter notes from one play to the next). A pickup whose
    complement is not the last measure is played over the end of the last
    bar, so the bars run on without a gap."""
    total = measures[-1].offset + measures[-1].length
    overlapping_pickup = measures[0].short and not measures[-1].short and len(measures) > 1
    period = total - measures[0].length if overlapping_pickup else total
    played = list(measures)
    for k in range(1, times):
        played += [Measure(m.offset + k * period, m.length, m.written, m.meter)
                   for j, m in enumerate(measures) if not (overlapping_pickup and j == 0)]
    return played, period


def bar_grid(measures: list[Measure]) -> list[tuple[Fraction, int, int]]:
    """(offset, numerator, denominator) of every bar a listener hears. Two
    adjacent short measures that add up to a full bar (the halves of a bar
    split at a repeat sign, or a piece's last bar and the pickup of its
    repeat) are one bar; a leading pickup is a bar of its own length (the
    label code takes the phase origin from the first full bar); a short last
    measure keeps its written meter (the music has ended by then)."""
    grid, i = [], 0
    while i < len(measures):
        m = measures[i]
        if m.short and i + 1 < len(measures) and measures[i + 1].short and m.length + measures[i + 1].length == m.written:
            grid.append((m.offset, *m.meter))
            i += 2
            continue
        if m.short and 0 < i < len(measures) - 1:
            grid.append((m.offset, *meter_of_length(m.length)))
        elif m.short and i == 0:
            grid.append((m.offset, *meter_of_length(m.length)))
        else:
            grid.append((m.offset, *m.meter))
        i += 1
    return grid


def beat_quarters(numerator: int, denominator: int) -> float:
    """The felt beat in quarter notes: dotted in compound meters (6/8, 9/8, 12/8)."""
    compound = denominator >= 8 and numerator % 3 == 0 and numerator > 3
    return (12 if compound else 4) / denominator


def score_of(path: Path, rng: np.random.Generator):
    from music21 import corpus, stream
    try:
        parsed = corpus.parse(str(path))
    except Exception as e:  # music21 raises many types on the odd file
        raise Music21Error(f"music21 cannot parse {path.name}: {type(e).__name__}") from None
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise Music21Error(f"{path.name} is an empty collection")
        parsed = scores[int(rng.integers(len(scores)))]
    return parsed.stripTies()


def piece_to_midi(path: Path, rng: np.random.Generator) -> mido.MidiFile:
    return score_to_midi(score_of(path, rng), rng)


def score_to_midi(score, rng: np.random.Generator) -> mido.MidiFile:
    """A music21 score as MIDI: a part per channel on an ensemble's programs, a
    tempo drawn for a felt beat of 60-150 BPM, repeated up to MIN_MUSIC_SECONDS
    like a player repeats a short tune, the bar grid from the measures."""
    parts = list(score.parts) or [score]
    measures = measures_of(parts[0])
    first_full = next((m for m in measures if not m.short), measures[0])
    quarter_bpm = rng.uniform(60, 150) * beat_quarters(*first_full.meter)
    piece_quarters = measures[-1].offset + measures[-1].length
    times = int(np.clip(np.ceil(MIN_MUSIC_SECONDS * quarter_bpm / 60 / float(piece_quarters)), 1, MAX_REPEATS))
    played, period = repeat(measures, times)
    end_quarters = min(played[-1].offset + played[-1].length, quarters(MAX_MUSIC_SECONDS * quarter_bpm / 60))
    grid = [g for g in bar_grid(played) if g[0] < end_quarters]

    def tick(quarters) -> int:
        return int(round(float(quarters) * TICKS_PER_QUARTER))

    meta = [(0, mido.MetaMessage("set_tempo", tempo=int(round(60e6 / quarter_bpm))))]
    previous = None
    for offset, n, d in grid:
        if (n, d) != previous:
            meta.append((tick(offset), mido.MetaMessage("time_signature", numerator=n, denominator=d)))
            previous = (n, d)
    _, weights, programs = zip(*ENSEMBLES)
    pool = programs[rng.choice(len(ENSEMBLES), p=np.array(weights) / sum(weights))]
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    midi.tracks.append(to_track(meta))
    channels = [c for c in range(16) if c != 9]
    for channel, part in zip(channels, parts):
        events = [(0, mido.Message("program_change", channel=channel, program=int(rng.choice(pool))))]
        for k, element in ((k, e) for k in range(times) for e in part.flatten().notes):
            start, length = quarters(element.offset) + k * period, quarters(element.quarterLength)
            if length <= 0 or start >= end_quarters:
                continue
            velocity = element.volume.velocity if element.volume.velocity else int(rng.integers(60, 95))
            for pitch in element.pitches:
                note = int(np.clip(pitch.midi, 0, 127))
                events.append((tick(start), mido.Message("note_on", channel=channel, note=note, velocity=int(velocity))))
                events.append((tick(start + length), mido.Message("note_off", channel=channel, note=note, velocity=0)))
        if len(events) > 1:
            midi.tracks.append(to_track(events))
    if len(midi.tracks) < 2:
        raise Music21Error("no notes")
    return midi
