"""Labelling real recordings: a proposed bar grid that a person confirms or
corrects (`dance label`, the page in web/label/), written as a rendered song.

Beats come from librosa's beat tracker (a dynamic-programming tracker on an
onset envelope, on PyPI and maintained for a decade); which beat is the
downbeat and how many beats make a bar come from the project's own model: of
every meter in LABEL_METERS and every beat offset, the grid whose downbeats
best match the downbeats the model predicts over the whole file.

A song whose meter or tempo changes is cut into sections at change marks:
each section has its own meter and offset, counted over its own beats, and
may have its own tapped tempo, at which the beat tracker runs on that
section's stretch of the onset envelope alone.

An accepted recording becomes OUT/NAME.ogg (16 kHz mono, loudness-normalised
and limited like `dance data render`'s songs), OUT/NAME.bars.csv (render's
format) and OUT/NAME.label.json (the settings it was made with), so
`dance data chop` and `dance eval` take it like a rendered song. Every
decision (accepted, rejected, skipped) goes into OUT/labels.json, the ledger:
a recording named there is not offered again."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import savgol_filter

from dance import config, inference, metrics
from dance.data import audio
from dance.data.midi import Bar
from dance.data.formats import bars_csv
from dance.data.pipeline import safe_stem
from dance.errors import DanceError

RECORDING_SUFFIXES = (".wav", ".ogg", ".flac", ".mp3")
LEDGER = "labels.json"
DECISIONS = ("accept", "reject", "skip")
RECORDED_AS = {"accept": "accepted", "reject": "rejected", "skip": "skipped"}
FINGERPRINT_BYTES = 1 << 20  # a recording's name hashes its size and first MiB: it survives moving or renaming the folder
# when meters fit the model's downbeats equally well, the first of these wins
METER_PREFERENCE = (4, 3, 2, 6, 5, 7, 8, 9)
CACHED_ANALYSES = 3  # decoded recordings kept in memory (the current one, the next, the one before)
# A change mark sits on a beat; its section owns the time from this long
# before the mark, so the mark's own beat is in it even where the tracker put
# it a little early, and a tapped section's tracker sees that beat's attack
# (it misses the first attacks of a stretch that starts right on them).
SECTION_LEAD_SECONDS = 0.05
MIN_SECTION_SECONDS = 1.0  # shorter stretches are too short for the beat tracker (it fails on a few frames)
MAX_CHANGES = 32  # change marks in one recording; the page's request stays small
HOP_SECONDS = config.LABEL_ONSET_HOP / config.SAMPLE_RATE  # one onset-envelope frame


class LabelError(DanceError):
    """A bad request or input; the message is one line. `status`: its HTTP status on the page's API."""
    status = 400


class AlreadyDecided(LabelError):
    status = 409


class NoGrid(LabelError):
    """A recording in which the beat tracker finds too little to build a grid on."""
    status = 422


@dataclass(frozen=True)
class Recording:
    name: str  # output stem: safe stem + fingerprint, never '__'
    path: Path


@dataclass
class Analysis:
    samples: np.ndarray  # 16 kHz mono, normalised and limited: what is played, written and chopped
    envelope: np.ndarray  # librosa onset strength, one value per LABEL_ONSET_HOP
    model_downbeats: np.ndarray  # seconds, where the model's phase wraps


@dataclass
class Proposal:
    beats: np.ndarray  # seconds
    tempo: float  # beats per minute: the tracker's estimate, or the tapped tempo it was held to
    best_offsets: dict[int, int]  # meter -> the offset whose downbeats best match the model's
    meter: int  # the meter that matches best
    proposed_offset: int

    def as_json(self) -> dict:
        return {"beats": [round(float(b), 4) for b in self.beats], "tempo": round(self.tempo, 2),
                "best_offsets": {str(m): o for m, o in self.best_offsets.items()},
                "meter": self.meter, "offset": self.proposed_offset}


@dataclass(frozen=True)
class Section:
    """A stretch of a recording with one grid: every `meter`-th of its beats
    from beat `offset`; `bpm` is a tapped tempo the beat tracker was held to on
    this stretch alone (None: the whole recording's beats). It starts at the
    change mark `start` (seconds, 0 for the first) and runs to the next."""
    start: float
    meter: int
    offset: int
    bpm: float | None

    def as_json(self) -> dict:
        return {"start": round(self.start, 4), "meter": self.meter, "offset": self.offset, "tapped_bpm": self.bpm}


@dataclass(frozen=True)
class Settings:
    """What a person settled on: the first section's meter, offset and tapped
    tempo, one more section per change mark in `changes`, and `nudge` seconds
    that move the whole grid."""
    meter: int
    offset: int
    nudge: float
    bpm: float | None
    changes: tuple[Section, ...] = ()

    @classmethod
    def from_json(cls, data: dict) -> "Settings":
        first = section_from_json(data, 0.0)
        nudge_ms = number(data, "nudge_ms", -1000 * config.LABEL_MAX_NUDGE_SECONDS, 1000 * config.LABEL_MAX_NUDGE_SECONDS)
        return cls(first.meter, first.offset, nudge_ms / 1000, first.bpm, changes_from_json(data.get("changes", [])))

    def sections(self) -> list[Section]:
        return [Section(0.0, self.meter, self.offset, self.bpm), *self.changes]


def section_from_json(data: dict, start: float) -> Section:
    meter = whole_number(data, "meter", config.LABEL_METERS[0], config.LABEL_METERS[-1])
    offset = whole_number(data, "offset", 0, meter - 1)
    bpm = None if data.get("bpm") is None else number(data, "bpm", *config.LABEL_TEMPO_RANGE)
    return Section(start, meter, offset, bpm)


def changes_from_json(changes: object) -> tuple[Section, ...]:
    """Change marks [{"start", "meter", "offset", "bpm"}], in order, each at
    least MIN_SECTION_SECONDS after the one before (and after 0)."""
    if not isinstance(changes, list) or len(changes) > MAX_CHANGES:
        raise LabelError(f"changes must be a list of at most {MAX_CHANGES} change marks")
    sections, previous = [], 0.0
    for i, change in enumerate(changes, 1):
        if not isinstance(change, dict) or set(change) != {"start", "meter", "offset", "bpm"}:
            raise LabelError(f"change {i} must be an object with start, meter, offset and bpm")
        start = change["start"]
        if not isinstance(start, (int, float)) or isinstance(start, bool) or not start >= previous + MIN_SECTION_SECONDS:
            raise LabelError(f"change {i} starts at {json.dumps(start)} s; change marks must be in order, "
                             f"each at least {MIN_SECTION_SECONDS:g} s after the one before (and after 0 s)")
        try:
            sections.append(section_from_json(change, float(start)))
        except LabelError as e:
            raise LabelError(f"change {i}: {e}") from None
        previous = start
    return tuple(sections)


def whole_number(data: dict, key: str, low: int, high: int) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise LabelError(f"{key} must be a whole number from {low} to {high}, got {json.dumps(value)}")
    return value


def number(data: dict, key: str, low: float, high: float) -> float:
    value = data.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise LabelError(f"{key} must be a number from {low:g} to {high:g}, got {json.dumps(value)}")
    return float(value)


# ---------------------------------------------------------------- recordings

def find_recordings(inputs: list[Path], out: Path) -> list[Recording]:
    """Recordings in the given files and folders (recursively), in order, each
    once; files inside OUT are its own output and left out."""
    found: dict[str, Recording] = {}
    for given in inputs:
        if given.is_dir():
            files = sorted(p for p in given.rglob("*") if p.suffix.lower() in RECORDING_SUFFIXES and p.is_file())
        elif given.is_file():
            if given.suffix.lower() not in RECORDING_SUFFIXES:
                raise LabelError(f"{given} is not a recording ({', '.join(RECORDING_SUFFIXES)})")
            files = [given]
        else:
            raise LabelError(f"{given} does not exist")
        for path in files:
            if not path.resolve().is_relative_to(out.resolve()):
                recording = Recording(recording_name(path), path)
                found.setdefault(recording.name, recording)
    if not found:
        raise LabelError(f"no recordings ({', '.join(RECORDING_SUFFIXES)}) in {', '.join(map(str, inputs))}")
    return list(found.values())


def recording_name(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(FINGERPRINT_BYTES)
    digest = hashlib.sha1(str(path.stat().st_size).encode() + b"\0" + head).hexdigest()
    return f"{safe_stem(path)}-{digest[:8]}"


# ---------------------------------------------------------------- the proposal

def analyse(path: Path, model) -> Analysis:
    """Decode, normalise, the onset envelope and the model's downbeats (the slow part, done once per recording)."""
    import librosa

    samples = audio.limit(audio.normalise_loudness(audio.read_audio(path)))
    inference.check_audio(samples, str(path))
    envelope = librosa.onset.onset_strength(y=samples, sr=config.SAMPLE_RATE, hop_length=config.LABEL_ONSET_HOP,
                                            n_fft=config.LABEL_ONSET_WINDOW, center=False)
    times, phases = inference.predict_phase(model, samples, 0.0)
    return Analysis(samples, envelope, metrics.downbeats(times, phases))


def track_beats(envelope: np.ndarray, bpm: float | None = None) -> tuple[np.ndarray, float]:
    """(beat times in seconds, tempo in BPM); with `bpm` the tracker holds that tempo."""
    import librosa

    tempo, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=config.SAMPLE_RATE, hop_length=config.LABEL_ONSET_HOP,
                                           units="time", bpm=bpm)
    if len(beats) >= config.LABEL_SMOOTHING_BEATS:
        beats = savgol_filter(beats, config.LABEL_SMOOTHING_BEATS, polyorder=1, mode="interp")
    return np.asarray(beats, dtype=np.float64), float(np.atleast_1d(tempo)[0])


def best_offset(beats: np.ndarray, meter: int, model_downbeats: np.ndarray) -> tuple[int, float]:
    """(offset, downbeat F1 against the model's downbeats) of the best grid in this meter."""
    scores = [np.nan_to_num(metrics.downbeat_f1(model_downbeats, beats[offset::meter])) for offset in range(meter)]
    return int(np.argmax(scores)), float(max(scores))


def fit_meters(beats: np.ndarray, model_downbeats: np.ndarray) -> tuple[float, int, dict[int, int]]:
    """(score, best meter, best offset per meter) of a beat sequence against the model's downbeats."""
    fits = {meter: best_offset(beats, meter, model_downbeats) for meter in METER_PREFERENCE}
    meter = max(METER_PREFERENCE, key=lambda m: fits[m][1])  # the first of equals
    return fits[meter][1], meter, {m: fits[m][0] for m in config.LABEL_METERS}


def between(beats: np.ndarray) -> np.ndarray:
    """The beats and the midpoints between them: twice the tempo."""
    return np.sort(np.concatenate([beats, (beats[:-1] + beats[1:]) / 2]))


def propose(analysis: Analysis, bpm: float | None = None, frames: tuple[int, int] | None = None) -> Proposal:
    """The grid proposed for the whole recording, or with `frames` for one
    section's stretch of the onset envelope (see `section_frames`) alone."""
    first, last = frames or (0, None)
    beats, tempo = track_beats(analysis.envelope[first:last], bpm)
    beats = beats + first * HOP_SECONDS
    # a section may be a few bars long; a whole recording needs a bar in every meter
    needed = 1 if frames else 2 * config.LABEL_METERS[-1]
    if len(beats) < needed:
        raise NoGrid(f"the beat tracker found only {len(beats)} beats there; too few for a bar grid")
    model_downbeats = analysis.model_downbeats[analysis.model_downbeats >= first * HOP_SECONDS]
    if last is not None:
        model_downbeats = model_downbeats[model_downbeats < last * HOP_SECONDS]
    # Trackers often follow half the tempo on the off-beats (a loud backbeat,
    # snare on 2 and 4), where no beat is a downbeat; the model's downbeats
    # then fall between the beats, and twice the tempo fits them. A tapped
    # tempo is the person's word and stays.
    levels = [(beats, tempo)] + ([] if bpm else [(between(beats), 2 * tempo)])
    scored = [(fit_meters(level, model_downbeats), level, level_tempo) for level, level_tempo in levels]
    (_, meter, offsets), beats, tempo = max(scored, key=lambda item: item[0][0])  # the tracker's own tempo wins ties
    return Proposal(beats, tempo, offsets, meter, offsets[meter])


def section_frames(start: float, end: float | None, length: int) -> tuple[int, int] | None:
    """The onset-envelope frames [first, last) a section from change mark
    `start` to `end` (None: the end of the recording) owns; None for the whole
    recording (no change marks). `length`: the envelope's frames."""
    if start == 0 and end is None:
        return None
    first = max(0, round((start - SECTION_LEAD_SECONDS) / HOP_SECONDS))
    return first, length if end is None else round((end - SECTION_LEAD_SECONDS) / HOP_SECONDS)


def owned(beats: np.ndarray, start: float, end: float | None) -> np.ndarray:
    """The beats in a section from change mark `start` to `end` (None: the end of the recording)."""
    low = start - SECTION_LEAD_SECONDS if start else -np.inf
    high = np.inf if end is None else end - SECTION_LEAD_SECONDS
    return beats[(beats >= low) & (beats < high)]


def bar_grid(sections: list[tuple[Section, np.ndarray]], nudge: float) -> list[Bar]:
    """Every `meter`-th of each section's beats from its `offset`, moved by the
    nudge. The denominator is 4: a beat tracker knows beats, not note values."""
    bars = [Bar(float(t + nudge), section.meter, 4) for section, beats in sections for t in beats[section.offset:: section.meter]]
    if len(bars) < 2:
        raise LabelError("that grid has fewer than two bars")
    starts = np.array([bar.start for bar in bars])
    if np.any(np.diff(starts) <= 0):
        raise LabelError(f"bars out of order at {starts[1:][np.diff(starts) <= 0][0]:.2f} s; move the change mark there")
    return bars


# ---------------------------------------------------------------- a labelling run

class Labeller:
    """One labelling run: recordings, the output folder and its ledger, and
    analyses cached for the page. Safe to call from the server's threads."""

    def __init__(self, recordings: list[Recording], out: Path, model, model_name: str):
        self.recordings = {r.name: r for r in recordings}
        self.out = out
        self.model = model
        self.model_name = model_name
        self.ledger_lock = threading.Lock()
        self.cache_lock = threading.Lock()  # held for dictionary look-ups only
        self.compute_lock = threading.Lock()  # one analysis at a time: the CPU is the limit, and none is done twice
        self.analyses: OrderedDict[str, Analysis] = OrderedDict()
        self.proposals: dict[tuple[str, float | None, tuple[int, int] | None], Proposal] = {}
        self.ledger()  # a broken ledger stops the run now, not at the first decision

    def ledger(self) -> dict[str, dict]:
        path = self.out / LEDGER
        if not path.exists():
            return {}
        try:
            entries = json.loads(path.read_text())
        except ValueError as e:
            raise LabelError(f"{path} is not valid JSON ({e}); repair or move it") from None
        if not isinstance(entries, dict):
            raise LabelError(f"{path} is not a labelling ledger (a JSON object of decisions)")
        return entries

    def todo(self) -> list[Recording]:
        decided = self.ledger()
        return [r for r in self.recordings.values() if r.name not in decided]

    def counts(self) -> dict[str, int]:
        decided = [entry.get("decision") for entry in self.ledger().values() if isinstance(entry, dict)]
        return {word: decided.count(word) for word in RECORDED_AS.values()}

    def recording(self, name: object) -> Recording:
        if not isinstance(name, str) or name not in self.recordings:
            raise LabelError(f"no recording named {json.dumps(name)} in this run")
        return self.recordings[name]

    def analysis(self, name: str) -> Analysis:
        cached = self.cached(name)
        if cached is not None:
            return cached
        with self.compute_lock:
            cached = self.cached(name)  # analysed by another thread while this one waited
            if cached is not None:
                return cached
            result = analyse(self.recordings[name].path, self.model)
            with self.cache_lock:
                self.analyses[name] = result
                while len(self.analyses) > CACHED_ANALYSES:
                    self.analyses.popitem(last=False)
            return result

    def cached(self, name: str) -> Analysis | None:
        with self.cache_lock:
            if name in self.analyses:
                self.analyses.move_to_end(name)
            return self.analyses.get(name)

    def proposal(self, name: str, bpm: float | None = None, start: float = 0.0, end: float | None = None) -> Proposal:
        """The proposal for the whole recording, or with a tapped `bpm` for the
        section from change mark `start` to `end` (None: to the end)."""
        analysis = self.analysis(name)
        check_marks(analysis, [mark for mark in (start, end) if mark])
        key = (name, bpm, section_frames(start, end, len(analysis.envelope)))
        with self.cache_lock:
            if key in self.proposals:
                return self.proposals[key]
        proposal = propose(analysis, bpm, key[2])
        with self.cache_lock:
            self.proposals[key] = proposal
        return proposal

    def prefetch_after(self, name: str) -> None:
        """Analyse the next undecided recording in the background, so it opens at once."""
        names = [r.name for r in self.todo()]
        later = names[names.index(name) + 1:] if name in names else []
        if later:
            threading.Thread(target=self.quietly_propose, args=(later[0],), daemon=True).start()

    def quietly_propose(self, name: str) -> None:
        try:
            self.proposal(name)
        except Exception:  # the page asks again when it gets there and shows the error then
            pass

    def decide(self, name: str, decision: str, settings: Settings | None) -> list[Path]:
        """Record a decision; accepting writes the labelled recording first. Returns the files written."""
        recording = self.recording(name)
        if decision not in DECISIONS:
            raise LabelError(f"decision must be one of {', '.join(DECISIONS)}, got {json.dumps(decision)}")
        with self.ledger_lock:  # one decision at a time: a recording is never decided twice
            entries = self.ledger()
            if name in entries:
                raise AlreadyDecided(f"{name} is already decided ({entries[name].get('decision')}); its line in {LEDGER} says so")
            written = []
            if decision == "accept":
                if settings is None:
                    raise LabelError("accepting needs the grid's settings")
                written = self.write_labelled(recording, settings)
            entries[name] = {"decision": RECORDED_AS[decision], "file": str(recording.path), "time": now()}
            audio.write_text(self.out / LEDGER, json.dumps(entries, indent=1) + "\n")
        return written + [self.out / LEDGER]

    def section_proposal(self, name: str, section: Section, end: float | None) -> Proposal:
        """A tapped section's own proposal (the tracker held to its tempo on its stretch alone), else the whole recording's."""
        return self.proposal(name, section.bpm, section.start, end) if section.bpm else self.proposal(name)

    def bars(self, name: str, settings: Settings) -> list[Bar]:
        """The bar grid of the settings: each section's bars from the beats in its stretch."""
        check_marks(self.analysis(name), [section.start for section in settings.changes])
        sections = settings.sections()
        ends = [section.start for section in sections[1:]] + [None]
        return bar_grid([(section, owned(self.section_proposal(name, section, end).beats, section.start, end))
                         for section, end in zip(sections, ends)], settings.nudge)

    def write_labelled(self, recording: Recording, settings: Settings) -> list[Path]:
        bars = self.bars(recording.name, settings)
        first_end = settings.changes[0].start if settings.changes else None
        proposal = self.section_proposal(recording.name, settings.sections()[0], first_end)
        analysis = self.analysis(recording.name)
        files = [self.out / f"{recording.name}{suffix}" for suffix in (".ogg", ".bars.csv", ".label.json")]
        record = {"file": str(recording.path), "beats": beats_source(), "tracker_tempo_bpm": round(proposal.tempo, 2),
                  "tapped_bpm": settings.bpm, "meter": settings.meter, "offset": settings.offset,
                  "changes": [section.as_json() for section in settings.changes],
                  "nudge_ms": round(1000 * settings.nudge, 3), "proposed": {"meter": proposal.meter, "offset": proposal.proposed_offset},
                  "downbeat_model": self.model_name, "bars": len(bars), "time": now()}
        audio.write_ogg(files[0], analysis.samples)
        audio.write_text(files[1], bars_csv(bars))
        audio.write_text(files[2], json.dumps(record, indent=1) + "\n")
        return files


def check_marks(analysis: Analysis, marks: list[float]) -> None:
    """Change marks must leave a section of MIN_SECTION_SECONDS before the end of the recording."""
    duration = len(analysis.samples) / config.SAMPLE_RATE
    for mark in marks:
        if not 0 <= mark <= duration - MIN_SECTION_SECONDS:
            raise LabelError(f"a change mark at {mark:g} s is outside the recording: it must be from 0 to "
                             f"{duration - MIN_SECTION_SECONDS:.2f} s ({MIN_SECTION_SECONDS:g} s before its end of {duration:.2f} s)")


def beats_source() -> str:
    import librosa
    return (f"librosa {librosa.__version__} beat_track; onset windows {config.LABEL_ONSET_WINDOW} samples every "
            f"{config.LABEL_ONSET_HOP}, not centred; smoothed over {config.LABEL_SMOOTHING_BEATS} beats")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
