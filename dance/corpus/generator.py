"""A procedural song generator: drums, bass, chords and melody in any meter,
with tempo steps and ramps, meter changes, pickups and humanised timing.

Every song is a standard MIDI file whose tempo map and time-signature events
are the truth; nothing about the song reaches the labels except through them.
"""

from __future__ import annotations

from dataclasses import dataclass

import mido
import numpy as np

TICKS_PER_QUARTER = 480
EIGHTH = TICKS_PER_QUARTER // 2

# meter -> beat groups in eighth notes (where the accents fall within the bar)
METERS: dict[tuple[int, int], list[list[int]]] = {
    (2, 4): [[2, 2]],
    (3, 4): [[2, 2, 2]],
    (4, 4): [[2, 2, 2, 2]],
    (5, 4): [[2, 2, 2, 2, 2], [2, 2, 2, 4], [6, 4]],
    (6, 8): [[3, 3]],
    (7, 8): [[2, 2, 3], [3, 2, 2], [2, 3, 2]],
    (9, 8): [[3, 3, 3]],
    (12, 8): [[3, 3, 3, 3]],
}
METER_WEIGHTS = {(2, 4): 1, (3, 4): 2, (4, 4): 3, (5, 4): 1, (6, 8): 2, (7, 8): 1, (9, 8): 1, (12, 8): 1}

SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10], "dorian": [0, 2, 3, 5, 7, 9, 10]}
PROGRESSIONS = [[0, 3, 4, 0], [0, 5, 3, 4], [0, 4, 5, 3], [1, 4, 0, 0], [0, 3, 0, 4], [5, 3, 0, 4], [0, 0, 3, 4]]

BASS_PROGRAMS = list(range(32, 40)) + [0, 42, 58]
CHORD_PROGRAMS = list(range(0, 8)) + list(range(16, 22)) + list(range(24, 31)) + [46, 48, 49, 50, 52, 61, 88, 89, 90, 91, 94]
LEAD_PROGRAMS = list(range(0, 6)) + [11, 13, 22, 25, 26, 40, 41, 56, 60, 64, 65, 66, 68, 71, 73, 75, 80, 81, 105]

KICK, SNARE, SIDESTICK, CLOSED_HAT, OPEN_HAT, RIDE, CRASH, TAMBOURINE, SHAKER, LOW_TOM = 36, 38, 37, 42, 46, 51, 49, 54, 70, 45
DRUM_CHANNEL = 9


@dataclass
class Section:
    numerator: int
    denominator: int
    bars: int
    groups: list[int]  # beat groups in eighths

    @property
    def bar_ticks(self) -> int:
        return self.numerator * TICKS_PER_QUARTER * 4 // self.denominator


class Composer:
    """Builds one song into per-channel event lists; `song()` returns the MIDI."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.events: dict[int, list[tuple[int, int, int, int]]] = {}  # channel -> (tick, dur, pitch, vel)
        self.humanise = rng.uniform(0, 12)  # ticks of timing spread
        self.swing = rng.choice([0, 0, 0, 0.33 * EIGHTH])

    def note(self, channel: int, tick: int, duration: int, pitch: int, velocity: float) -> None:
        offset = int(self.rng.normal(0, self.humanise)) if self.humanise else 0
        tick = max(0, tick + offset)
        velocity = int(np.clip(velocity + self.rng.normal(0, 6), 1, 127))
        self.events.setdefault(channel, []).append((tick, max(30, duration), int(pitch), velocity))

    def swung(self, tick_in_bar: int, bar_start: int) -> int:
        if self.swing and (tick_in_bar // EIGHTH) % 2 == 1 and tick_in_bar % EIGHTH == 0:
            return bar_start + tick_in_bar + int(self.swing)
        return bar_start + tick_in_bar


def choose_meters(rng: np.random.Generator) -> list[tuple[int, int]]:
    meters = list(METER_WEIGHTS)
    weights = np.array([METER_WEIGHTS[m] for m in meters], dtype=float)
    n_sections = int(rng.choice([1, 1, 2, 3]))
    return [meters[i] for i in rng.choice(len(meters), size=n_sections, p=weights / weights.sum())]


def choose_tempo(rng: np.random.Generator, meter: tuple[int, int]) -> float:
    """Quarter notes per minute for a felt beat of 60-180 BPM (the dotted
    quarter in compound meters)."""
    compound = meter[1] == 8 and meter[0] % 3 == 0
    beat_bpm = rng.uniform(60, 180)
    return float(np.clip(beat_bpm * 1.5 if compound else beat_bpm, 50, 240))


def choose_sections(rng: np.random.Generator, meters: list[tuple[int, int]], quarter_bpm: float, seconds: float) -> list[Section]:
    sections = []
    for n, d in meters:
        bar_seconds = n * 4 / d * 60 / quarter_bpm
        bars = max(4, int(seconds / len(meters) / bar_seconds))
        sections.append(Section(n, d, bars, METERS[(n, d)][rng.integers(len(METERS[(n, d)]))]))
    return sections


def tempo_events(rng: np.random.Generator, quarter_bpm: float, sections: list[Section], pickup_ticks: int) -> list[tuple[int, int]]:
    """(tick, microseconds per quarter): constant, steps at section starts or
    mid-song, or ramps (one event per eighth note)."""
    events = [(0, quarter_bpm)]
    starts = np.cumsum([pickup_ticks] + [s.bars * s.bar_ticks for s in sections])
    end = int(starts[-1])
    style = rng.choice(["constant", "steps", "ramp"], p=[0.5, 0.25, 0.25])
    if style == "steps":
        cuts = list(starts[1:-1]) or [int(rng.integers(end // 4, 3 * end // 4)) // EIGHTH * EIGHTH]
        for cut in cuts:
            events.append((int(cut), float(np.clip(events[-1][1] * rng.uniform(0.75, 1.3), 50, 240))))
    elif style == "ramp":
        ramp_start = int(rng.integers(0, end // 2)) // EIGHTH * EIGHTH
        ramp_len = int(rng.integers(end // 8, end // 2)) // EIGHTH * EIGHTH
        target = float(np.clip(quarter_bpm * rng.uniform(0.7, 1.35), 50, 240))
        for tick in range(ramp_start, ramp_start + ramp_len + 1, EIGHTH):
            events.append((tick, quarter_bpm + (target - quarter_bpm) * (tick - ramp_start) / max(1, ramp_len)))
    return [(tick, int(round(60e6 / bpm))) for tick, bpm in events]


def drum_bar(c: Composer, bar_start: int, section: Section, style: dict, first_of_section: bool, fill: bool) -> None:
    tick = 0
    beat_starts = []
    for group in section.groups:
        beat_starts.append(tick)
        tick += group * EIGHTH
    if first_of_section and style["crash"]:
        c.note(DRUM_CHANNEL, bar_start, EIGHTH, CRASH, 110)
    for i, beat in enumerate(beat_starts):
        if i == 0:
            c.note(DRUM_CHANNEL, bar_start, EIGHTH, KICK, 112)
        elif c.rng.random() < style["kick_rate"]:
            c.note(DRUM_CHANNEL, c.swung(beat, bar_start), EIGHTH, KICK, 90)
        if i > 0 and (i % 2 == 1 or len(beat_starts) <= 3 or style["snare_every_beat"]):
            c.note(DRUM_CHANNEL, bar_start + beat, EIGHTH, style["snare"], 100)
    step = EIGHTH if style["hat_eighths"] else None
    for t in range(0, section.bar_ticks, step or EIGHTH):
        on_beat = t in beat_starts
        if step is None and not on_beat:
            continue
        velocity = 95 if t == 0 else (80 if on_beat else 60)
        c.note(DRUM_CHANNEL, c.swung(t, bar_start), EIGHTH // 2, style["hat"], velocity)
    if fill:
        for t in range(section.bar_ticks - 2 * TICKS_PER_QUARTER // 2, section.bar_ticks, EIGHTH // 2):
            if t >= 0:
                c.note(DRUM_CHANNEL, bar_start + t, EIGHTH // 2, c.rng.choice([SNARE, LOW_TOM, 47, 48]), 70 + 30 * t / section.bar_ticks)


def chord_tones(root_degree: int, scale: list[int], key: int) -> list[int]:
    return [key + scale[(root_degree + k) % 7] + 12 * ((root_degree + k) // 7) for k in (0, 2, 4)]


def harmony_bar(c: Composer, bar_start: int, section: Section, chord: list[int], parts: dict) -> None:
    beat_starts, tick = [], 0
    for group in section.groups:
        beat_starts.append(tick)
        tick += group * EIGHTH
    bar = section.bar_ticks
    root = chord[0]
    # bass: root on the downbeat, then root/fifth on some beats
    if parts["bass"] is not None:
        c.note(parts["bass"], bar_start, beat_starts[1] if len(beat_starts) > 1 else bar, root - 24, 105)
        for beat, nxt in zip(beat_starts[1:], beat_starts[2:] + [bar]):
            if c.rng.random() < parts["bass_density"]:
                c.note(parts["bass"], c.swung(beat, bar_start), nxt - beat, root - 24 + c.rng.choice([0, 7, 12]), 85)
    # chords: held from the downbeat, comped on the beats, or arpeggiated
    style = parts["chord_style"]
    if style == "held":
        for p in chord:
            c.note(parts["chords"], bar_start, bar - 20, p, 80)
    elif style == "comp":
        for i, beat in enumerate(beat_starts):
            for p in chord:
                c.note(parts["chords"], c.swung(beat, bar_start), EIGHTH, p, 85 if i == 0 else 65)
    else:
        pattern = chord + [chord[1] + 12 if len(chord) > 1 else chord[0] + 12]
        for k, t in enumerate(range(0, bar, EIGHTH)):
            c.note(parts["chords"], c.swung(t, bar_start), EIGHTH * 2, pattern[k % len(pattern)], 80 if t == 0 else 62)


def melody_bar(c: Composer, bar_start: int, bar_ticks: int, chord: list[int], scale_notes: list[int], channel: int, start_tick: int = 0) -> None:
    t = start_tick
    while t < bar_ticks:
        duration = int(c.rng.choice([EIGHTH, EIGHTH, 2 * EIGHTH, 3 * EIGHTH, 4 * EIGHTH]))
        if c.rng.random() < 0.8:
            pool = chord if t == 0 else scale_notes
            c.note(channel, c.swung(t, bar_start), min(duration, bar_ticks - t), int(c.rng.choice(pool)) + 12, 90 if t == 0 else 75)
        t += duration


def compose(seed: int) -> mido.MidiFile:
    rng = np.random.default_rng(seed)
    c = Composer(rng)
    meters = choose_meters(rng)
    quarter_bpm = choose_tempo(rng, meters[0])
    sections = choose_sections(rng, meters, quarter_bpm, rng.uniform(45, 150))
    key = int(rng.integers(48, 60))
    scale = SCALES[rng.choice(list(SCALES))]
    scale_notes = [key + 12 + s for s in scale]
    progression = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
    has_drums = rng.random() < 0.7
    channels = [ch for ch in range(16) if ch != DRUM_CHANNEL]
    parts = {
        "bass": channels[0] if rng.random() < 0.85 else None,
        "bass_density": rng.uniform(0.2, 0.9),
        "chords": channels[1],
        "chord_style": rng.choice(["held", "comp", "arpeggio"]),
        "lead": channels[2] if rng.random() < 0.75 else None,
    }
    drum_style = {
        "kick_rate": rng.uniform(0, 0.6), "snare": int(rng.choice([SNARE, SNARE, SIDESTICK])),
        "hat": int(rng.choice([CLOSED_HAT, CLOSED_HAT, RIDE, SHAKER, TAMBOURINE, OPEN_HAT])),
        "hat_eighths": rng.random() < 0.7, "crash": rng.random() < 0.7, "snare_every_beat": rng.random() < 0.15,
    }
    pickup_eighths = int(rng.choice([2, 4])) if rng.random() < 0.2 else 0
    pickup_ticks = pickup_eighths * EIGHTH

    meta_events = []
    if pickup_ticks:
        meta_events.append((0, mido.MetaMessage("time_signature", numerator=pickup_eighths // 2, denominator=4)))
    tick = pickup_ticks
    for s in sections:
        meta_events.append((tick, mido.MetaMessage("time_signature", numerator=s.numerator, denominator=s.denominator)))
        tick += s.bars * s.bar_ticks
    end_tick = tick
    for t, tempo in tempo_events(rng, quarter_bpm, sections, pickup_ticks):
        meta_events.append((t, mido.MetaMessage("set_tempo", tempo=tempo)))

    if pickup_ticks and parts["lead"] is not None:
        melody_bar(c, 0, pickup_ticks, scale_notes[:3], scale_notes, parts["lead"])
    tick, bar_index = pickup_ticks, 0
    for s in sections:
        for b in range(s.bars):
            chord = chord_tones(progression[bar_index % len(progression)], scale, key)
            if has_drums:
                drum_bar(c, tick, s, drum_style, b == 0, fill=(b == s.bars - 1 and rng.random() < 0.6))
            harmony_bar(c, tick, s, chord, parts)
            if parts["lead"] is not None and (bar_index // 4) % 3 != 2:
                melody_bar(c, tick, s.bar_ticks, [p + 12 for p in chord], scale_notes, parts["lead"])
            tick += s.bar_ticks
            bar_index += 1
    # a final chord on the downbeat after the last bar, so the song ends on a bar line
    for p in chord_tones(0, scale, key):
        c.note(parts["chords"], end_tick, TICKS_PER_QUARTER * 2, p, 80)

    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    midi.tracks.append(to_track(meta_events))
    programs = {parts["chords"]: rng.choice(CHORD_PROGRAMS)}
    if parts["bass"] is not None:
        programs[parts["bass"]] = rng.choice(BASS_PROGRAMS)
    if parts["lead"] is not None:
        programs[parts["lead"]] = rng.choice(LEAD_PROGRAMS)
    for channel, notes in sorted(c.events.items()):
        events = [] if channel == DRUM_CHANNEL else [(0, mido.Message("program_change", channel=channel, program=int(programs[channel])))]
        for t, duration, pitch, velocity in notes:
            events.append((t + duration, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
            events.append((t, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        midi.tracks.append(to_track(events))
    return midi


def is_note_off(msg: mido.Message) -> bool:
    return msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)


def to_track(events: list[tuple[int, mido.Message]]) -> mido.MidiTrack:
    """Absolute-tick events -> a track; note-offs (velocity-0 note-ons too) sort before note-ons at a tick."""
    events = sorted(events, key=lambda e: (e[0], 0 if is_note_off(e[1]) else 1))
    track, last = mido.MidiTrack(), 0
    for tick, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track
