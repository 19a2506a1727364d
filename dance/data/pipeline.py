"""The three data commands, render, chop and build, as resumable parallel batch jobs.

Every job writes with atomic renames and finishes with a marker, so a crash or
Ctrl-C leaves no half-written file and a rerun picks up where it stopped.
Chunk names are `<song id>__<soundfont>__<k>.ogg/.phase/.beat` (audio, bar
phase labels, beat phase labels); the song id keeps validation splits by song
possible downstream. The file formats and names live in `dance.data.formats`.

Chunk start times: chunks tile a song back to back in the song's own (music)
time, from 0 or, with even odds, from a random offset in [0, CHUNK_SECONDS/4)
so bar lines fall at every position within a chunk. A chunk covers
CHUNK_SECONDS * factor seconds of music, played `factor` times faster; only
whole chunks are kept.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dance import config
from dance.data import audio, processes, synth
from dance.data.formats import bars_csv, chunk_name, chunks_of, find_rendered, job_stem, labels_text, read_bar_grid, song_of_chunk
from dance.data.labels import beat_starts, chunk_labels
from dance.data.midi import SkipSong, Song, read_song, write_render_midi
from dance.errors import DanceError

log = logging.getLogger("dance.data")


class DataError(DanceError):
    """A problem that stops a whole run (bad folder, no disk space); one line."""


@dataclass
class JobResult:
    song: str
    skip_reason: str | None = None
    detail: str = ""
    resumed: bool = False
    chunks: int = 0
    audio_seconds: float = 0.0
    fatal: str | None = None


@dataclass
class Summary:
    songs_seen: int
    jobs: int
    started: float = field(default_factory=time.monotonic)
    rendered_songs: set = field(default_factory=set)
    skipped_songs: dict = field(default_factory=dict)
    failed_jobs: Counter = field(default_factory=Counter)
    resumed_jobs: int = 0
    done_jobs: int = 0
    chunks: int = 0
    audio_seconds: float = 0.0
    midi_root: Path | None = None  # for the audio by source: the first folder under it
    kind: str = "build"  # render | chop | build: render makes songs, not chunks
    audio_by_source: Counter = field(default_factory=Counter)

    def add(self, r: JobResult) -> None:
        self.done_jobs += 1
        if r.skip_reason and r.skip_reason.startswith("render:"):
            self.failed_jobs[r.skip_reason] += 1
        elif r.skip_reason:
            self.skipped_songs.setdefault(r.song, r.skip_reason)
        else:
            self.rendered_songs.add(r.song)
            self.resumed_jobs += r.resumed
            self.chunks += r.chunks
            self.audio_seconds += r.audio_seconds
            self.audio_by_source[self.source_of(Path(r.song))] += r.audio_seconds

    def source_of(self, song: Path) -> str:
        """The first folder under the MIDI root (generated, mma, music21 in the
        default corpus); '.' for songs directly in it."""
        if self.midi_root is None or not song.is_relative_to(self.midi_root):
            return "."
        parts = song.relative_to(self.midi_root).parts
        return parts[0] if len(parts) > 1 else "."

    def as_dict(self) -> dict:
        # a song skipped with one soundfont (say, too short at that pitch factor) but rendered with another counts as rendered
        skipped = {song: reason for song, reason in self.skipped_songs.items() if song not in self.rendered_songs}
        return {
            "songs_seen": self.songs_seen,
            "songs_rendered": len(self.rendered_songs),
            "songs_skipped": len(skipped),
            "skipped_by_reason": dict(Counter(skipped.values()).most_common()),
            "jobs": self.jobs,
            "jobs_done": self.done_jobs,
            "jobs_already_done_before": self.resumed_jobs,
            "jobs_failed_by_reason": dict(self.failed_jobs.most_common()),
            "chunks_written": self.chunks,
            "audio_hours": round(self.audio_seconds / 3600, 3),
            "audio_hours_by_source": {k: round(v / 3600, 3) for k, v in self.audio_by_source.most_common()},
            "wall_seconds": round(time.monotonic() - self.started, 1),
        }

    def report(self) -> str:
        d = self.as_dict()
        reasons = ", ".join(f"{k}: {v}" for k, v in d["skipped_by_reason"].items())
        failures = ", ".join(f"{k}: {v}" for k, v in d["jobs_failed_by_reason"].items())
        lines = [
            f"songs seen      {d['songs_seen']}",
            f"songs rendered  {d['songs_rendered']}",
            f"songs skipped   {d['songs_skipped']}" + (f"  ({reasons})" if reasons else ""),
            f"jobs            {d['jobs_done']} of {d['jobs']} done, {d['jobs_already_done_before']} already done before"
            + (f", failed: {failures}" if failures else ""),
            *([] if self.kind == "render" else [f"chunks written  {d['chunks_written']}"]),
            f"audio           {d['audio_hours']:.2f} h",
        ]
        if len(d["audio_hours_by_source"]) > 1:
            total = max(d["audio_hours"], 1e-9)
            lines.append("  by source     " + ", ".join(f"{k} {v:.2f} h ({100 * v / total:.0f} %)" for k, v in d["audio_hours_by_source"].items()))
        lines.append(f"wall time       {d['wall_seconds']:.0f} s")
        return "\n".join(lines)


# ---------------------------------------------------------------- inputs

def find_midi_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"input folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
    if not files:
        raise DataError(f"no .mid/.midi files under {root}")
    return files


def safe_stem(path: Path) -> str:
    """A file's stem as part of an output name: letters, digits, '.', '-' and
    single '_' (never '__', which separates a chunk's song id from the rest)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", path.stem).strip("_")[:40] or "song"


def song_id(path: Path, root: Path) -> str:
    """Unique within a corpus and safe as a file name, without '__'."""
    relative = str(path.relative_to(root))
    return f"{safe_stem(path)}-{hashlib.sha1(relative.encode()).hexdigest()[:8]}"


def prepare_output(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise DataError(f"output folder {folder} is not writable: {e.strerror}") from None
    check_disk(folder)


def check_disk(folder: Path) -> None:
    free = shutil.disk_usage(folder).free
    if free < config.MIN_FREE_DISK_BYTES:
        raise DataError(f"only {free / 1024**3:.1f} GiB free under {folder}; need {config.MIN_FREE_DISK_BYTES / 1024**3:.0f} GiB")


def job_rng(seed: int, key: str) -> np.random.Generator:
    """Randomness that depends on the job, not on which worker runs it when."""
    return np.random.default_rng([seed, int(hashlib.sha1(key.encode()).hexdigest()[:12], 16)])


def random_factor(rng: np.random.Generator) -> float:
    return audio.quantise_factor(rng.uniform(config.PITCH_FACTOR_MIN, config.PITCH_FACTOR_MAX))


# ---------------------------------------------------------------- shared steps

def render_song(song: Song, soundfont: Path, sample_rate: int, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """MIDI -> loudness-normalised mono samples at `sample_rate`, bounded by the
    music's end plus a release tail."""
    with tempfile.TemporaryDirectory(prefix=processes.temp_dir_prefix("midi")) as tmp:
        midi_path = Path(tmp) / "song.mid"
        write_render_midi(song, midi_path, rng, jitter)
        samples = synth.render(midi_path, soundfont, sample_rate, song.music_end + config.RELEASE_TAIL_SECONDS)
    if not np.any(np.abs(samples) > 1e-4):
        raise SkipSong("render: silent", f"{soundfont.name} made no sound")
    return audio.normalise_loudness(samples)


def first_chunk_start(rng: np.random.Generator) -> float:
    return rng.uniform(0, config.CHUNK_SECONDS / 4) if rng.random() < 0.5 else 0.0


def plan_chunks(music_seconds: float, factor_of, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(music start, factor) of each chunk; `factor_of()` gives each chunk's factor."""
    start = first_chunk_start(rng)
    plans = []
    while True:
        factor = factor_of()
        if start + config.CHUNK_SECONDS * factor > music_seconds:
            return plans
        plans.append((start, factor))
        start += config.CHUNK_SECONDS * factor


def write_chunks(out: Path, stem: str, chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], settings: dict) -> None:
    """Write the chunks (samples, bar labels, beat labels) of one job, then its
    marker. Leftovers of an interrupted earlier attempt are removed first."""
    for old in out.glob(chunks_of(stem)):
        old.unlink()
    for k, (samples, bar_labels, beat_labels) in enumerate(chunks):
        name = chunk_name(stem, k)
        audio.write_text(out / f"{name}.phase", labels_text(bar_labels))
        audio.write_text(out / f"{name}.beat", labels_text(beat_labels))
        audio.write_ogg(out / f"{name}.ogg", audio.limit(samples))
    audio.write_text(out / f"{stem}.done", json.dumps({"chunks": len(chunks), "settings": settings}))


# ---------------------------------------------------------------- jobs (run in worker processes)

@dataclass(frozen=True)
class Job:
    kind: str  # render | chop | build
    source: Path  # MIDI file (render, build) or rendered .ogg (chop)
    stem: str  # output name stem
    out: Path
    seed: int
    soundfont: Path | None = None
    jitter: float = 0.0


@functools.lru_cache(maxsize=None)
def file_bytes(path: Path) -> int:
    return path.stat().st_size


def job_settings(job: Job) -> dict:
    """What a job's output depends on besides its source file: recorded in
    its .done marker and compared when a later run finds the marker."""
    settings = {"command": job.kind, "seed": job.seed}
    if job.kind in ("render", "build"):
        settings.update(jitter=job.jitter, soundfont=job.soundfont.name, soundfont_bytes=file_bytes(job.soundfont))
    if job.kind in ("chop", "build"):
        settings.update(pitch_factor=[config.PITCH_FACTOR_MIN, config.PITCH_FACTOR_MAX])
    return json.loads(json.dumps(settings))  # as a marker reads back


def check_settings(jobs: list[Job]) -> None:
    """Refuse to mix work made with other settings into one folder: finished
    work would be reported "already done" though this run would make it otherwise."""
    for job in jobs:
        marker = job.out / f"{job.stem}.done"
        if not marker.exists():
            continue
        try:
            recorded = json.loads(marker.read_text()).get("settings")
        except (ValueError, AttributeError):
            recorded = None
        if recorded is None:  # a marker from before settings were recorded: trusted
            continue
        now = job_settings(job)
        if recorded != now:
            changes = ", ".join(f"{k} {recorded.get(k)} -> {now.get(k)}" for k in sorted(set(recorded) | set(now)) if recorded.get(k) != now.get(k))
            raise DataError(f"{job.out} holds work made with other settings ({changes}, in {marker.name}); "
                            f"rerun with the same settings, use another output folder, or delete {job.out} to start again")


class WorkerStop(BaseException):
    """SIGTERM in a worker (Ctrl-C or an error in the parent, or the parent's
    death): unwinds the job so FluidSynth is killed and temporary files go."""


_in_job = False


def stop_worker(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up run uninterrupted
    if _in_job:
        raise WorkerStop
    os._exit(128 + signum)  # idle: nothing to clean


def worker_init(parent: int) -> None:
    """Workers ignore Ctrl-C (the parent decides), stop cleanly on SIGTERM and
    get SIGTERM when the parent dies, even by SIGKILL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop_worker)
    processes.die_with_parent(parent, signal.SIGTERM)


def run_job(job: Job) -> JobResult:
    global _in_job
    _in_job = True
    try:
        return run_job_inner(job)
    except WorkerStop:
        os._exit(128 + signal.SIGTERM)  # the with-blocks and finally-clauses have run: temp files and FluidSynth are gone
    finally:
        _in_job = False


def run_job_inner(job: Job) -> JobResult:
    try:
        check_disk(job.out)
        return {"render": render_job, "chop": chop_job, "build": build_job}[job.kind](job)
    except SkipSong as e:
        return JobResult(str(job.source), e.reason, str(e))
    except (synth.SynthError, audio.AudioError) as e:
        return JobResult(str(job.source), "render: failed", str(e))
    except DataError as e:
        return JobResult(str(job.source), fatal=str(e))
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):  # the output, not the song: stop the run
            return JobResult(str(job.source), fatal=f"cannot write to {job.out}: {e.strerror}")
        return JobResult(str(job.source), "unexpected error", f"unexpected error: {type(e).__name__}: {e}")
    except Exception as e:  # any other per-song failure: a logged skip naming the file, the batch goes on
        log.debug("job %s failed", job.stem, exc_info=True)
        first_line = str(e).splitlines()[0] if str(e) else ""
        return JobResult(str(job.source), "unexpected error", f"unexpected error: {type(e).__name__}: {first_line}")


def render_job(job: Job) -> JobResult:
    ogg = job.out / f"{job.stem}.ogg"
    if ogg.exists():  # its .done marker (settings) follows; an .ogg without one is from before markers
        return JobResult(str(job.source), resumed=True)
    song = read_song(job.source)
    samples = render_song(song, job.soundfont, config.SAMPLE_RATE, job_rng(job.seed, job.stem), job.jitter)
    audio.write_text(job.out / f"{job.stem}.bars.csv", bars_csv(song.bars))
    audio.write_ogg(ogg, audio.limit(samples))
    audio.write_text(job.out / f"{job.stem}.done", json.dumps({"settings": job_settings(job)}))
    return JobResult(str(job.source), audio_seconds=len(samples) / config.SAMPLE_RATE)


def done_result(job: Job) -> JobResult | None:
    marker = job.out / f"{job.stem}.done"
    if not marker.exists():
        return None
    return JobResult(str(job.source), resumed=True)


def chop_job(job: Job) -> JobResult:
    if (result := done_result(job)) is not None:
        return result
    samples = audio.read_audio(job.source)
    bar_starts, meters = read_bar_grid(job.source.with_suffix(".bars.csv"))
    beats = beat_starts(bar_starts, meters)  # a bars.csv has no tempo map: beats are even within each bar
    rng = job_rng(job.seed, job.stem)
    margin = config.SAMPLE_RATE // 10  # resampling filter run-in, dropped afterwards
    chunks = []
    for music_start, factor in plan_chunks(len(samples) / config.SAMPLE_RATE, lambda: random_factor(rng), rng):
        first = int(round(music_start * config.SAMPLE_RATE))
        lead = min(margin, first)
        source = samples[first - lead: first + int(math.ceil(config.CHUNK_SAMPLES * factor)) + margin]
        sped = audio.speed_up(source, factor)[int(round(lead / factor)):][: config.CHUNK_SAMPLES]
        sped = np.pad(sped, (0, config.CHUNK_SAMPLES - len(sped)))
        music_start = first / config.SAMPLE_RATE
        chunks.append((sped, chunk_labels(bar_starts, music_start, factor), chunk_labels(beats, music_start, factor)))
    if not chunks:
        raise SkipSong("shorter than a chunk")
    write_chunks(job.out, job.stem, chunks, job_settings(job))
    return JobResult(str(job.source), chunks=len(chunks), audio_seconds=len(chunks) * config.CHUNK_SECONDS)


def song_labels(song: Song, music_start: float, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(bar phase labels, beat phase labels) of a chunk of a MIDI song."""
    return chunk_labels(song.bar_starts, music_start, factor), chunk_labels(song.beat_starts, music_start, factor)


def build_job(job: Job) -> JobResult:
    """Render-and-chop: FluidSynth renders at SAMPLE_RATE / factor, so read back
    at SAMPLE_RATE the audio is already sped up by `factor`: the pitch
    augmentation costs no resampling, and each chunk is encoded once."""
    if (result := done_result(job)) is not None:
        return result
    song = read_song(job.source)
    rng = job_rng(job.seed, job.stem)
    render_rate = int(round(config.SAMPLE_RATE / random_factor(rng)))
    factor = config.SAMPLE_RATE / render_rate
    samples = render_song(song, job.soundfont, render_rate, rng, job.jitter)
    chunks = []
    for music_start, _ in plan_chunks(len(samples) / render_rate, lambda: factor, rng):
        first = int(round(music_start * render_rate))
        chunks.append((samples[first: first + config.CHUNK_SAMPLES], *song_labels(song, first / render_rate, factor)))
    if not chunks:
        raise SkipSong("shorter than a chunk")
    write_chunks(job.out, job.stem, chunks, job_settings(job))
    return JobResult(str(job.source), chunks=len(chunks), audio_seconds=len(chunks) * config.CHUNK_SECONDS)


# ---------------------------------------------------------------- batch runner

def run_jobs(jobs: list[Job], songs_seen: int, out: Path, workers: int, label: str, midi_root: Path | None = None) -> Summary:
    """Run jobs on worker processes with a progress bar; skips go to the log and
    OUT/skips.log; the summary is printed and saved as OUT/summary.json."""
    try:
        with processes.FolderLock(out):
            processes.remove_leftover_temp_files(out)  # of dead runs only; the lock keeps live ones out
            processes.remove_leftover_temp_dirs()
            check_settings(jobs)
            return run_locked(jobs, songs_seen, out, workers, label, midi_root)
    except processes.FolderBusy as e:
        raise DataError(str(e)) from None


def run_locked(jobs: list[Job], songs_seen: int, out: Path, workers: int, label: str, midi_root: Path | None) -> Summary:
    summary = Summary(songs_seen=songs_seen, jobs=len(jobs), midi_root=midi_root, kind=label)
    context = multiprocessing.get_context("fork")
    executor = ProcessPoolExecutor(max(1, workers), mp_context=context, initializer=worker_init, initargs=(os.getpid(),))
    try:
        with open(out / "skips.log", "a") as skip_log, tqdm(total=len(jobs), desc=label, unit="job", dynamic_ncols=True) as bar:
            for future in as_completed([executor.submit(run_job, job) for job in jobs]):
                result = future.result()
                if result.fatal:
                    raise DataError(result.fatal)
                summary.add(result)
                if result.skip_reason:
                    line = f"skip {result.song}: {result.detail}"
                    skip_log.write(line + "\n")
                    skip_log.flush()
                    log.warning(line)
                bar.set_postfix(chunks=summary.chunks, hours=f"{summary.audio_seconds / 3600:.2f}")
                bar.update()
    except BrokenProcessPool:
        raise DataError("a worker process crashed; finished work is kept, rerun the same command to resume") from None
    finally:
        for child in context.active_children():  # on Ctrl-C or an error, stop at once
            child.terminate()
        executor.shutdown(wait=True, cancel_futures=True)
        audio.remove_stale_temp_files(out)
        (out / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2))
        print(summary.report())
    return summary


def midi_jobs(kind: str, midi_root: Path, out: Path, soundfonts: list[str], seed: int, jitter: float) -> tuple[list[Job], int]:
    fonts = [synth.find_soundfont(name) for name in soundfonts]
    synth.require_fluidsynth()
    files = find_midi_files(midi_root)
    jobs = [Job(kind, f, job_stem(song_id(f, midi_root), synth.soundfont_tag(sf)), out, seed, sf, jitter)
            for f in files for sf in fonts]
    return jobs, len(files)


def render(midi_root: Path, out: Path, soundfonts: list[str], workers: int, seed: int, jitter: float) -> Summary:
    jobs, songs = midi_jobs("render", midi_root, out, soundfonts, seed, jitter)
    prepare_output(out)
    return run_jobs(jobs, songs, out, workers, "render", midi_root)


def build(midi_root: Path, out: Path, soundfonts: list[str], workers: int, seed: int, jitter: float) -> Summary:
    jobs, songs = midi_jobs("build", midi_root, out, soundfonts, seed, jitter)
    prepare_output(out)
    return run_jobs(jobs, songs, out, workers, "build", midi_root)


def chop(rendered: Path, out: Path, workers: int, seed: int) -> Summary:
    if not rendered.is_dir():
        raise DataError(f"rendered folder {rendered} does not exist")
    sources = find_rendered(rendered)
    if not sources:
        raise DataError(f"no rendered songs (.ogg with .bars.csv) in {rendered}")
    prepare_output(out)
    jobs = [Job("chop", p, p.stem, out, seed) for p in sources]
    return run_jobs(jobs, len({song_of_chunk(p) for p in sources}), out, workers, "chop")


def relabel(chunks: Path, midi_roots: list[Path], seed: int, jitter: float) -> tuple[int, dict[str, int]]:
    """Beat labels for chunks that `build` wrote before chunks had them: each
    job's chunk plan is replayed from its seed (no rendering) and its bar
    labels must match the .phase files before a .beat file is written.
    Returns (chunks labelled, skipped songs by reason)."""
    if not chunks.is_dir():
        raise DataError(f"chunk folder {chunks} does not exist")
    songs = {song_id(f, root): f for root in midi_roots for f in find_midi_files(root)}
    done, skipped = 0, Counter()
    for marker in tqdm(sorted(chunks.glob("*.done")), desc="relabel", unit="job", dynamic_ncols=True):
        stem = marker.name[: -len(".done")]
        try:
            done += relabel_job(chunks, stem, songs, seed, jitter, json.loads(marker.read_text()).get("chunks", 0))
        except SkipSong as e:
            skipped[e.reason] += 1
            log.warning(f"skip {stem}: {e}")
    return done, dict(skipped)


def relabel_job(chunks: Path, stem: str, songs: dict[str, Path], seed: int, jitter: float, count: int) -> int:
    if song_of_chunk(Path(stem)) not in songs:
        raise SkipSong("no MIDI file", "its song is in none of the MIDI folders (or it was chopped from rendered audio: chop again)")
    song = read_song(songs[song_of_chunk(Path(stem))])
    rng = job_rng(seed, stem)
    render_rate = int(round(config.SAMPLE_RATE / random_factor(rng)))
    factor = config.SAMPLE_RATE / render_rate
    if jitter > 0:  # draws from the job's generator, as build_job's render did
        with tempfile.TemporaryDirectory(prefix=processes.temp_dir_prefix("midi")) as tmp:
            write_render_midi(song, Path(tmp) / "song.mid", rng, jitter)
    start = first_chunk_start(rng)
    labelled = []
    for k in range(count):
        first = int(round((start + k * config.CHUNK_SECONDS * factor) * render_rate))
        bar_labels, beat_labels = song_labels(song, first / render_rate, factor)
        phase_file = chunks / f"{chunk_name(stem, k)}.phase"
        if not phase_file.exists():
            raise SkipSong("missing chunk", f"{phase_file.name} is missing")
        written = np.array(phase_file.read_text().split(), dtype=np.float64)
        gap = np.abs(written - bar_labels)
        if np.max(np.minimum(gap, 1 - gap)) > 1e-5:
            raise SkipSong("plan differs", "replayed bar labels differ from the .phase file (built with another --seed or --jitter?)")
        labelled.append(beat_labels)
    for k, beat_labels in enumerate(labelled):
        audio.write_text(chunks / f"{chunk_name(stem, k)}.beat", labels_text(beat_labels))
    return count
