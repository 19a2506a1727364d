"""Click tracks: what a musician hears from a metronome or a DAW's click, a
General MIDI percussion sound on every beat with the downbeat accented
(another sound, louder), sometimes with quieter subdivisions. A count-in and
a click under a performance are the commonest music a bar tracker meets that
has nothing but the beat in it. Unaccented clicks are left out: nothing in
them says where the bar starts, so they would teach a guess.

Some tracks are beeps instead, as digital metronomes and phone apps make them:
a short pitched tone on a melodic channel (ocarina, flute, recorder, square or
sawtooth lead: plain, steady tones), the downbeat an octave or a fifth higher.
The beep is chosen after every other draw, so a seed gives the same meters,
tempo and rhythm with or without it."""

from __future__ import annotations

import mido
import numpy as np

from dance.corpus.generator import DRUM_CHANNEL, METERS, TICKS_PER_QUARTER, choose_tempo, to_track

EIGHTH = TICKS_PER_QUARTER // 2
# (downbeat sound, other beats' sound): metronome bell/click, wood blocks, claves, cowbell, side stick, hi-hat
SOUNDS = ((34, 33), (76, 77), (75, 75), (56, 56), (37, 37), (46, 42), (81, 80))
METER_CHOICES = ((4, 4), (3, 4), (2, 4), (6, 8), (5, 4), (7, 8), (9, 8), (12, 8))
ACCENT_VELOCITY = 120  # the downbeat's; the other beats 80, subdivisions 45
BEEP_SHARE = 0.4
BEEP_PROGRAMS = (79, 73, 74, 80, 81)  # GM ocarina, flute, recorder, square lead, sawtooth lead (0-based)
BEEP_CHANNEL = 0
BEEP_PITCHES = (72, 88)  # the other beats' note: C5 to E6 (523-1319 Hz)
BEEP_ACCENT_INTERVALS = (12, 7)  # the downbeat an octave or a fifth above


def compose(seed: int) -> mido.MidiFile:
    """One click track of 60-150 s in one meter (sometimes a second one after
    a meter change), accents on every downbeat."""
    rng = np.random.default_rng(seed)
    meters = [METER_CHOICES[i] for i in rng.choice(len(METER_CHOICES), size=int(rng.choice([1, 1, 1, 2])))]
    quarter_bpm = choose_tempo(rng, meters[0])
    downbeat_sound, beat_sound = SOUNDS[rng.integers(len(SOUNDS))]
    subdivide = rng.random() < 0.3
    seconds = rng.uniform(60, 150) / len(meters)
    meta = [(0, mido.MetaMessage("set_tempo", tempo=int(round(60e6 / quarter_bpm))))]
    notes = []
    tick = 0
    for numerator, denominator in meters:
        groups = METERS[(numerator, denominator)][rng.integers(len(METERS[(numerator, denominator)]))]
        bar_ticks = numerator * TICKS_PER_QUARTER * 4 // denominator
        meta.append((tick, mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)))
        for _ in range(max(4, int(seconds / (bar_ticks / TICKS_PER_QUARTER * 60 / quarter_bpm)))):
            beat = 0
            for k, group in enumerate(groups):
                sound, velocity = (downbeat_sound, ACCENT_VELOCITY) if k == 0 else (beat_sound, 80)
                notes.append((tick + beat, sound, velocity))
                if subdivide:
                    notes += [(tick + beat + e * EIGHTH, beat_sound, 45) for e in range(1, group)]
                beat += group * EIGHTH
            tick += bar_ticks
    notes.append((tick, downbeat_sound, ACCENT_VELOCITY))
    channel, length, events = DRUM_CHANNEL, EIGHTH // 2, []
    if rng.random() < BEEP_SHARE:
        notes, program = as_beeps(notes, rng)
        channel, length = BEEP_CHANNEL, EIGHTH // 4
        events.append((0, mido.Message("program_change", channel=channel, program=program)))
    for start, pitch, velocity in notes:
        events.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((start + length, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    midi.tracks.append(to_track(meta))
    midi.tracks.append(to_track(events))
    return midi


def as_beeps(notes: list[tuple[int, int, int]], rng: np.random.Generator) -> tuple[list[tuple[int, int, int]], int]:
    """The percussion clicks as pitched beeps, the downbeat's (ACCENT_VELOCITY) higher; (notes, GM program)."""
    program = int(BEEP_PROGRAMS[rng.integers(len(BEEP_PROGRAMS))])
    low = int(rng.integers(BEEP_PITCHES[0], BEEP_PITCHES[1] + 1))
    high = low + int(BEEP_ACCENT_INTERVALS[rng.integers(len(BEEP_ACCENT_INTERVALS))])
    return [(start, high if velocity == ACCENT_VELOCITY else low, velocity) for start, _, velocity in notes], program
