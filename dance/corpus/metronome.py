"""Click tracks: what a musician hears from a metronome or a DAW's click, a
General MIDI percussion sound on every beat with the downbeat accented
(another sound, louder), sometimes with quieter subdivisions. A count-in and
a click under a performance are the commonest music a bar tracker meets that
has nothing but the beat in it. Unaccented clicks are left out: nothing in
them says where the bar starts, so they would teach a guess."""

from __future__ import annotations

import mido
import numpy as np

from dance.corpus.generator import DRUM_CHANNEL, METERS, TICKS_PER_QUARTER, choose_tempo, to_track

EIGHTH = TICKS_PER_QUARTER // 2
# (downbeat sound, other beats' sound): metronome bell/click, wood blocks, claves, cowbell, side stick, hi-hat
SOUNDS = ((34, 33), (76, 77), (75, 75), (56, 56), (37, 37), (46, 42), (81, 80))
METER_CHOICES = ((4, 4), (3, 4), (2, 4), (6, 8), (5, 4), (7, 8), (9, 8), (12, 8))


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
                sound, velocity = (downbeat_sound, 120) if k == 0 else (beat_sound, 80)
                notes.append((tick + beat, sound, velocity))
                if subdivide:
                    notes += [(tick + beat + e * EIGHTH, beat_sound, 45) for e in range(1, group)]
                beat += group * EIGHTH
            tick += bar_ticks
    events = []
    for start, pitch, velocity in notes:
        events.append((start, mido.Message("note_on", channel=DRUM_CHANNEL, note=pitch, velocity=velocity)))
        events.append((start + EIGHTH // 2, mido.Message("note_off", channel=DRUM_CHANNEL, note=pitch, velocity=0)))
    events.append((tick, mido.Message("note_on", channel=DRUM_CHANNEL, note=downbeat_sound, velocity=120)))
    events.append((tick + EIGHTH // 2, mido.Message("note_off", channel=DRUM_CHANNEL, note=downbeat_sound, velocity=0)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    midi.tracks.append(to_track(meta))
    midi.tracks.append(to_track(events))
    return midi
