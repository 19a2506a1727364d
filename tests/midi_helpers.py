"""Tiny hand-made MIDI files for tests."""

from __future__ import annotations

from pathlib import Path

import mido

TPB = 480


def write_midi(path: Path, meters=((0, 4, 4),), tempos=((0, 500000),), notes=(), end_tick=None,
               channel: int = 0, program: int | None = None) -> Path:
    """meters: (tick, numerator, denominator); tempos: (tick, us per quarter);
    notes: (start tick, end tick or None for a stuck note, pitch)."""
    meta = [(t, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for t, n, d in meters]
    meta += [(t, mido.MetaMessage("set_tempo", tempo=us)) for t, us in tempos]
    music = [] if program is None else [(0, mido.Message("program_change", channel=channel, program=program))]
    for start, end, pitch in notes:
        music.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=100)))
        if end is not None:
            music.append((end, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TPB)
    for events, last_tick in ((meta, None), (music, end_tick)):
        track, now = mido.MidiTrack(), 0
        for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
            track.append(msg.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=max(0, (last_tick or now) - now)))
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def steady_notes(end_tick: int, step: int = TPB, pitch: int = 60, length: int = TPB // 2):
    return [(t, t + length, pitch) for t in range(0, end_tick, step)]
