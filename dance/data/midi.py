"""Read a MIDI file into a `Song`: its bar grid in seconds and its notes.

The bar grid follows the tempo map and every time-signature event strictly.
A time-signature event starts a new bar; within a meter, bars are
`numerator * 4 / denominator` quarter notes long. The first bar is a pickup
(anacrusis) when it is shorter than the bar after it; the phase origin is then
the first full bar and the pickup gets its labels by extending that bar's
grid backwards (see `labels.phase_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from dance import config
from dance.data.labels import beat_starts


class SkipSong(Exception):
    """A song that cannot be used; `reason` is a short category for the summary."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Note:
    track: int
    channel: int
    pitch: int
    velocity: int
    start: int  # tick
    end: int  # tick


@dataclass(frozen=True)
class Bar:
    start: float  # seconds
    numerator: int
    denominator: int


@dataclass
class Song:
    midi: mido.MidiFile
    notes: list[Note]
    bars: list[Bar]  # from the phase origin on; the first is a full bar
    beat_starts: np.ndarray  # seconds; the beats of those bars (dance.data.labels' beat rule)
    music_end: float  # seconds: the end of the last (length-bounded) note
    tempo_map: "TempoMap"

    @property
    def bar_starts(self) -> np.ndarray:
        return np.array([b.start for b in self.bars])


class TempoMap:
    """Converts MIDI ticks to seconds through every set_tempo event."""

    def __init__(self, ticks_per_beat: int, changes: list[tuple[int, int]]):
        changes = sorted(changes)
        ticks, tempos = [0], [500000]  # MIDI default: 120 BPM
        for tick, tempo in changes:
            if tick == ticks[-1]:
                tempos[-1] = tempo
            else:
                ticks.append(tick)
                tempos.append(tempo)
        self.ticks = np.array(ticks, dtype=np.float64)
        self.seconds_per_tick = np.array(tempos, dtype=np.float64) / 1e6 / ticks_per_beat
        self.seconds = np.concatenate([[0.0], np.cumsum(np.diff(self.ticks) * self.seconds_per_tick[:-1])])

    def to_seconds(self, ticks):
        ticks = np.asarray(ticks, dtype=np.float64)
        i = np.searchsorted(self.ticks, ticks, side="right") - 1
        return self.seconds[i] + (ticks - self.ticks[i]) * self.seconds_per_tick[i]

    def to_ticks(self, seconds):
        seconds = np.asarray(seconds, dtype=np.float64)
        i = np.searchsorted(self.seconds, seconds, side="right") - 1
        return self.ticks[i] + (seconds - self.seconds[i]) / self.seconds_per_tick[i]


def load_midi(path: Path) -> mido.MidiFile:
    try:
        return mido.MidiFile(str(path), clip=True)
    except Exception as e:  # mido raises many types on corrupt files
        raise SkipSong("unreadable MIDI", f"{type(e).__name__}: {e}") from None


def absolute_events(midi: mido.MidiFile):
    """Yield (tick, track index, message) for every message of every track."""
    for index, track in enumerate(midi.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            yield tick, index, msg


def collect_notes(midi: mido.MidiFile, tempo_map: TempoMap) -> list[Note]:
    """Pair note-ons with note-offs; a note never released, or held longer than
    MAX_NOTE_SECONDS, is a stuck note and ends after MAX_NOTE_SECONDS."""
    open_notes: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    notes: list[Note] = []

    def close(key, start, velocity, end):
        longest = tempo_map.to_ticks(tempo_map.to_seconds(start) + config.MAX_NOTE_SECONDS)
        end = int(min(end, longest)) if end is not None else int(longest)
        notes.append(Note(key[0], key[1], key[2], velocity, start, max(end, start + 1)))

    for tick, track, msg in absolute_events(midi):
        if msg.type not in ("note_on", "note_off"):
            continue
        key = (track, msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault(key, []).append((tick, msg.velocity))
        elif open_notes.get(key):
            start, velocity = open_notes[key].pop(0)
            close(key, start, velocity, tick)
    for key, pending in open_notes.items():
        for start, velocity in pending:
            close(key, start, velocity, None)
    notes.sort(key=lambda n: (n.start, n.track, n.channel, n.pitch))
    return notes


def meter_events(midi: mido.MidiFile) -> list[tuple[int, int, int]]:
    """(tick, numerator, denominator) of each time signature; a later event at
    the same tick replaces an earlier one."""
    by_tick: dict[int, tuple[int, int]] = {}
    for tick, _, msg in absolute_events(midi):
        if msg.type == "time_signature":
            by_tick[tick] = (msg.numerator, msg.denominator)
    return [(tick, n, d) for tick, (n, d) in sorted(by_tick.items())]


def check_meters(meters: list[tuple[int, int, int]]) -> None:
    if not meters:
        raise SkipSong("no time signature")
    for _, numerator, denominator in meters:
        if not 1 <= numerator <= 32 or denominator not in (1, 2, 4, 8, 16, 32):
            raise SkipSong("implausible time signature", f"{numerator}/{denominator}")


def bar_ticks(meters: list[tuple[int, int, int]], ticks_per_beat: int, end_tick: int) -> list[tuple[int, int, int]]:
    """(tick, numerator, denominator) of every bar start before end_tick."""
    bars = []
    for i, (tick, numerator, denominator) in enumerate(meters):
        segment_end = meters[i + 1][0] if i + 1 < len(meters) else end_tick
        length = numerator * ticks_per_beat * 4 / denominator
        k = 0
        while tick + k * length < segment_end:
            bars.append((int(round(tick + k * length)), numerator, denominator))
            k += 1
    return bars


def drop_pickup(bars: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    if len(bars) >= 3 and bars[1][0] - bars[0][0] < bars[2][0] - bars[1][0]:
        return bars[1:]
    return bars


def check_bar_lengths(starts: np.ndarray) -> None:
    """Skip degenerate grids: one-tick time signatures, a tempo of microseconds
    or minutes per beat give bars no listener would count."""
    lengths = np.diff(starts)
    for i in (int(np.argmin(lengths)), int(np.argmax(lengths))):
        if not config.MIN_BAR_SECONDS <= lengths[i] <= config.MAX_BAR_SECONDS:
            raise SkipSong("implausible bar length", f"bar {i + 1} lasts {lengths[i]:.3g} s "
                           f"(allowed {config.MIN_BAR_SECONDS}-{config.MAX_BAR_SECONDS:.0f} s)")


def read_song(path: Path) -> Song:
    """Parse and validate one MIDI file; raises SkipSong with the reason."""
    midi = load_midi(path)
    if midi.type == 2:
        raise SkipSong("unreadable MIDI", "type 2 (asynchronous tracks) is not supported")
    if not 0 < midi.ticks_per_beat < 0x8000:
        raise SkipSong("unreadable MIDI", f"time division {midi.ticks_per_beat} (zero, or SMPTE time code) is not supported")
    tempo_changes = [(tick, msg.tempo) for tick, _, msg in absolute_events(midi) if msg.type == "set_tempo"]
    for tick, tempo in tempo_changes:
        if tempo <= 0:
            raise SkipSong("implausible tempo", f"set_tempo {tempo} us per quarter note at tick {tick}")
    tempo_map = TempoMap(midi.ticks_per_beat, tempo_changes)
    notes = collect_notes(midi, tempo_map)
    if not notes:
        raise SkipSong("no notes")
    end_tick = max(n.end for n in notes)
    music_end = float(tempo_map.to_seconds(end_tick))
    if music_end > config.MAX_SONG_SECONDS:
        end_tick = int(tempo_map.to_ticks(config.MAX_SONG_SECONDS))
        music_end = config.MAX_SONG_SECONDS
    meters = [m for m in meter_events(midi) if m[0] < end_tick]
    check_meters(meters)
    ticks = bar_ticks(meters, midi.ticks_per_beat, end_tick)
    marker_bars = sum(1 for _, numerator, _ in ticks if numerator == 1)
    if marker_bars > config.MAX_BEAT_MARKER_BARS:
        n, d = next((n, d) for _, n, d in ticks if n == 1)
        raise SkipSong("implausible time signature", f"{n}/{d} repeated over {marker_bars} bars (a beat marker)")
    ticks = drop_pickup(ticks)
    if len(ticks) < config.MIN_BARS:
        raise SkipSong("too short", f"{len(ticks)} bars")
    starts = tempo_map.to_seconds([t for t, _, _ in ticks])
    check_bar_lengths(starts)
    bars = [Bar(float(s), n, d) for s, (_, n, d) in zip(starts, ticks)]
    written_lengths = np.array([n * midi.ticks_per_beat * 4 / d for _, n, d in ticks])
    beats = tempo_map.to_seconds(beat_starts([t for t, _, _ in ticks], [(n, d) for _, n, d in ticks], written_lengths))
    return Song(midi, notes, bars, beats, music_end, tempo_map)


def write_render_midi(song: Song, out_path: Path, rng: np.random.Generator | None = None,
                      jitter_max: float = 0.0) -> None:
    """Write the MIDI FluidSynth renders: the song's own messages up to the
    music's end, with stuck notes released and, optionally, each note moved by
    j*r seconds (j ~ U(0, jitter_max) per song, r ~ U(-1, 1) per note). The
    tempo and meter map, and so the labels, stay unchanged."""
    end_tick = int(song.tempo_map.to_ticks(song.music_end))
    j = rng.uniform(0, jitter_max) if rng is not None and jitter_max > 0 else 0.0
    # sort key (tick, rank, order): note-offs before other messages before
    # note-ons at the same tick, so program changes precede notes and a
    # repeated pitch retriggers instead of being cut by its predecessor's off
    per_track: list[list[tuple[int, int, int, mido.Message]]] = [[] for _ in song.midi.tracks]
    for order, (tick, track, msg) in enumerate(absolute_events(song.midi)):
        if msg.type in ("note_on", "note_off", "end_of_track") or tick > end_tick:
            continue
        per_track[track].append((tick, 1, order, msg))
    for order, note in enumerate(song.notes):
        if note.start >= end_tick:
            continue
        start, end = note.start, min(note.end, end_tick)
        if j > 0:
            shift = j * rng.uniform(-1, 1)
            seconds = np.maximum(song.tempo_map.to_seconds([start, end]) + shift, 0.0)
            start, end = (int(t) for t in song.tempo_map.to_ticks(seconds))
            end = max(end, start + 1)
        per_track[note.track].append((start, 2, order, mido.Message("note_on", channel=note.channel, note=note.pitch, velocity=note.velocity)))
        per_track[note.track].append((end, 0, order, mido.Message("note_off", channel=note.channel, note=note.pitch, velocity=0)))
    out = mido.MidiFile(type=1, ticks_per_beat=song.midi.ticks_per_beat)
    for events in per_track:
        events.sort(key=lambda e: e[:3])
        track = mido.MidiTrack()
        last = 0
        for tick, _, _, msg in events:
            track.append(msg.copy(time=tick - last))
            last = tick
        track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - last)))
        out.tracks.append(track)
    out.save(str(out_path))

