"""Play a score like a person: expressive tempo, per-part timing and dynamics,
and the arrangement changes real music has (no drums, drums only, breaks).

Everything works on a plain MIDI file and changes only notes and the tempo
map. The labels come from the tempo map and the time-signature events, so a
tempo curve moves the bar lines with the music exactly; timing offsets and
dynamics move notes, never bar lines (a drummer laid back behind the beat is
still in the same bar)."""

from __future__ import annotations

from dataclasses import dataclass

import mido
import numpy as np

from dance.corpus.generator import is_note_off, to_track
from dance.data.midi import TempoMap, absolute_events, bar_ticks

DRUM_CHANNEL = 9
TEMPO_STYLES = ("steady", "curve", "jumps", "drift", "phrase_rubato")
TEMPO_STYLE_WEIGHTS = (0.3, 0.25, 0.15, 0.15, 0.15)
MAX_TEMPO_SWING = 0.2  # a curve moves the tempo by up to +-20 %
ARRANGEMENTS = ("as_written", "no_drums", "drums_only", "breaks")


@dataclass(frozen=True)
class Performance:
    """What was done to a song, for the corpus summary."""
    tempo_style: str
    arrangement: str


def to_events(midi: mido.MidiFile) -> list[list[tuple[int, mido.Message]]]:
    """Per track, (absolute tick, message) without end-of-track markers."""
    tracks: list[list[tuple[int, mido.Message]]] = [[] for _ in midi.tracks]
    for tick, index, msg in absolute_events(midi):
        if msg.type != "end_of_track":
            tracks[index].append((tick, msg))
    return tracks


def from_events(tracks: list[list[tuple[int, mido.Message]]], ticks_per_beat: int) -> mido.MidiFile:
    """Absolute-tick events -> a type-1 file; note-offs sort before note-ons at a tick."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    midi.tracks.extend(to_track(events) for events in tracks)
    return midi


def speed_curve(rng: np.random.Generator, style: str, beats: np.ndarray, bar_beats: np.ndarray) -> np.ndarray:
    """Tempo multiplier at each beat position (quarter notes from the start).
    `bar_beats` are the bar starts in the same unit, for phrase-shaped styles."""
    n = len(beats)
    if style == "steady" or n == 0:
        return np.ones(n)
    if style == "curve":  # a few slow waves: pushing and relaxing over phrases
        curve = np.zeros(n)
        for _ in range(3):
            period = rng.uniform(8, 48)  # quarter notes
            curve += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * beats / period + rng.uniform(0, 2 * np.pi))
        return 1 + MAX_TEMPO_SWING * curve / max(1.0, np.abs(curve).max())
    if style == "jumps":  # sudden steps at random bar lines
        speed = np.ones(n)
        for bar in rng.choice(bar_beats[1:-1], size=min(len(bar_beats) - 2, int(rng.integers(1, 4))), replace=False) if len(bar_beats) > 3 else []:
            speed[beats >= bar] *= rng.choice([rng.uniform(0.75, 0.9), rng.uniform(1.1, 1.3)])
        return np.clip(speed, 0.6, 1.6)
    if style == "drift":  # a slow drift over the whole song
        return np.linspace(1.0, rng.uniform(0.85, 1.15), n)
    # phrase_rubato: slow down into the end of every 4- or 8-bar phrase, then back in tempo
    speed = np.ones(n)
    phrase = int(rng.choice([4, 8]))
    ends = bar_beats[phrase::phrase]
    depth = rng.uniform(0.1, MAX_TEMPO_SWING)
    for end in ends:
        before = (beats < end) & (beats >= end - 3)
        speed[before] = np.minimum(speed[before], 1 - depth * (1 - (end - beats[before]) / 3))
    return speed


def perform_tempo(tracks, ticks_per_beat: int, speed_of) -> None:
    """Replace the tempo map by the written tempo times a speed curve, one
    set_tempo event per quarter note (the bar grid follows through it).
    `speed_of(beats, bar_beats)` gives the speed at each quarter note."""
    tempo_changes = [(tick, msg.tempo) for events in tracks for tick, msg in events if msg.type == "set_tempo"]
    written = TempoMap(ticks_per_beat, tempo_changes)
    end = max((tick for events in tracks for tick, _ in events), default=0)
    grid = np.arange(0, end + ticks_per_beat, ticks_per_beat)
    speed = speed_of(grid / ticks_per_beat, bar_starts(tracks, ticks_per_beat) / ticks_per_beat)
    microseconds = written.seconds_per_tick[np.searchsorted(written.ticks, grid, side="right") - 1] * 1e6 * ticks_per_beat
    for events in tracks:
        events[:] = [(t, m) for t, m in events if m.type != "set_tempo"]
    tracks[0].extend((int(t), mido.MetaMessage("set_tempo", tempo=int(np.clip(round(us / s), 1, 0xFFFFFF))))
                     for t, us, s in zip(grid, microseconds, speed))


def bar_starts(tracks, ticks_per_beat: int) -> np.ndarray:
    """Bar start ticks from the time-signature events (just 0 without any)."""
    by_tick = {tick: (m.numerator, m.denominator) for events in tracks for tick, m in events if m.type == "time_signature"}
    meters = [(t, n, d) for t, (n, d) in sorted(by_tick.items())]
    end = max((tick for events in tracks for tick, _ in events), default=0)
    return np.array([t for t, _, _ in bar_ticks(meters, ticks_per_beat, end + 1)] if meters else [0], dtype=float)


def pair_notes(events) -> list[tuple[int, int, mido.Message]]:
    """(start, end, note_on) of a track's notes, in order."""
    open_notes: dict[tuple[int, int], list[tuple[int, mido.Message]]] = {}
    notes = []
    for tick, msg in events:
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault((msg.channel, msg.note), []).append((tick, msg))
        elif is_note_off(msg) and open_notes.get((msg.channel, msg.note)):
            start, on = open_notes[(msg.channel, msg.note)].pop(0)
            notes.append((start, tick, on))
    return notes


def rebuild_notes(events, notes) -> list[tuple[int, mido.Message]]:
    others = [(t, m) for t, m in events if m.type not in ("note_on", "note_off")]
    for start, end, on in notes:
        others.append((start, on))
        others.append((max(end, start + 1), mido.Message("note_off", channel=on.channel, note=on.note, velocity=0)))
    return others


def perform_notes(tracks, ticks_per_beat: int, rng: np.random.Generator, arrangement: str, bars: np.ndarray) -> None:
    """Per-part timing offset (pushed or laid back, about a 64th note), a slow
    dynamics curve with per-note variation, and the arrangement."""
    dynamics_period = rng.uniform(8, 32) * ticks_per_beat
    dynamics_phase = rng.uniform(0, 2 * np.pi)
    breaks = break_spans(rng, bars) if arrangement == "breaks" else []
    offsets: dict[int, int] = {}  # channel -> ticks
    for events in tracks:
        kept = []
        for start, end, on in pair_notes(events):
            drum = on.channel == DRUM_CHANNEL
            if (arrangement == "no_drums" and drum) or (arrangement == "drums_only" and not drum):
                continue
            if any(a <= start < b for a, b in breaks) and (drum or rng.random() < 0.9):
                continue
            loudness = 1 + 0.25 * np.sin(2 * np.pi * start / dynamics_period + dynamics_phase)
            velocity = int(np.clip(on.velocity * loudness * rng.uniform(0.9, 1.1), 1, 127))
            offset = offsets.setdefault(on.channel, int(rng.normal(0, ticks_per_beat / 24)))
            shift = offset + int(rng.normal(0, ticks_per_beat / 48))
            kept.append((max(0, start + shift), max(0, end + shift), on.copy(velocity=velocity)))
        events[:] = rebuild_notes(events, kept)


def break_spans(rng: np.random.Generator, bars: np.ndarray) -> list[tuple[int, int]]:
    """One to three stretches of one or two bars where the band (mostly) stops."""
    if len(bars) < 8:
        return []
    spans = []
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(2, len(bars) - 3))
        spans.append((int(bars[i]), int(bars[i + int(rng.integers(1, 3))])))
    return spans


def perform(midi: mido.MidiFile, rng: np.random.Generator, arrangement_weights: dict[str, float] | None = None) -> tuple[mido.MidiFile, Performance]:
    """A performed copy of `midi` and what was done. Arrangement weights default
    to keeping the song as written; a drums-only or no-drums choice on a song
    that has no drums (or nothing but drums) leaves it as written."""
    tracks = to_events(midi)
    ticks_per_beat = midi.ticks_per_beat
    style = str(rng.choice(TEMPO_STYLES, p=TEMPO_STYLE_WEIGHTS))
    weights = arrangement_weights or {"as_written": 1.0}
    names = list(weights)
    arrangement = str(rng.choice(names, p=np.array([weights[n] for n in names]) / sum(weights.values())))
    has_drums = any(m.type == "note_on" and m.channel == DRUM_CHANNEL for events in tracks for _, m in events)
    has_pitched = any(m.type == "note_on" and m.channel != DRUM_CHANNEL for events in tracks for _, m in events)
    if arrangement in ("no_drums", "drums_only") and not (has_drums and has_pitched):
        arrangement = "as_written"
    bars = bar_starts(tracks, ticks_per_beat)
    perform_tempo(tracks, ticks_per_beat, lambda beats, bar_beats: speed_curve(rng, style, beats, bar_beats))
    perform_notes(tracks, ticks_per_beat, rng, arrangement, bars)
    return from_events(tracks, ticks_per_beat), Performance(style, arrangement)
