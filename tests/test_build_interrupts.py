"""`dance data build` interrupted the hard ways, with the real FluidSynth:
Ctrl-C during a render, SIGKILL of the main process, a second run into the
same folder, other runs' temporary files, and a rerun with other settings."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dance.data import pipeline
from tests.midi_helpers import TPB, steady_notes, write_midi

SOUNDFONT = "TimGM6mb.sf2"


def state(pid):
    """Process state letter from /proc, or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid):
    return state(pid) not in (None, "Z", "X")


def find_fluidsynth(midi_dir):
    """(fluidsynth pid, its parent pid) for a render of a file under midi_dir's temp files."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if cmdline and cmdline[0].endswith(b"fluidsynth") and any(str(midi_dir).encode() in a for a in cmdline):
            return int(entry.name), ppid
    return None


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    return condition()


@pytest.fixture
def slow_song(tmp_path):
    """A song FluidSynth needs many seconds to render: 16-note string chords
    every sixteenth for 4 minutes."""
    midi = tmp_path / "midi"
    midi.mkdir()
    notes = [n for pitch in range(48, 80, 2) for n in steady_notes(480 * TPB, step=TPB // 4, pitch=pitch, length=TPB)]
    write_midi(midi / "slow.mid", notes=notes, program=48)
    temp = tmp_path / "tmp"  # the system temp folder of the run, to see what it leaves
    temp.mkdir()
    return midi, temp


def start_build(midi, out, temp):
    env = {**os.environ, "TMPDIR": str(temp)}
    cmd = [sys.executable, "-m", "dance", "data", "build", str(midi), str(out), "--soundfonts", SOUNDFONT, "--workers", "1"]
    # its own process group, as a shell gives a foreground job: Ctrl-C reaches every process in it
    # a shell that started the tests in the background hands SIGINT down ignored; Ctrl-C must reach dance
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_during_a_render_stops_fluidsynth_and_leaves_no_temp_files(slow_song, tmp_path):
    midi, temp = slow_song
    out = tmp_path / "out"
    build = start_build(midi, out, temp)
    try:
        found = wait_for(lambda: find_fluidsynth(temp), 120)
        assert found, build.communicate(timeout=60)
        fluidsynth, worker = found
        # a second run into the same folder is refused while this one works
        second = subprocess.run([sys.executable, "-m", "dance", "data", "build", str(midi), str(out), "--soundfonts", SOUNDFONT],
                                capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(temp)})
        assert second.returncode == 2 and f"another dance run (pid {build.pid}) is using {out}" in second.stderr, second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        assert alive(fluidsynth), "the render finished before the interrupt: make the song slower"
        os.killpg(build.pid, signal.SIGINT)  # Ctrl-C at the terminal
        _, stderr = build.communicate(timeout=60)
    finally:
        if build.poll() is None:
            os.killpg(build.pid, signal.SIGKILL)
    assert build.returncode == 130 and "rerun the same command to resume" in stderr
    assert wait_for(lambda: not alive(fluidsynth) and not alive(worker), 10), "FluidSynth or the worker outlived the run"
    assert list(temp.iterdir()) == []
    assert [p.name for p in out.iterdir() if ".tmp-" in p.name] == []


def test_sigkill_of_the_main_process_ends_the_workers_and_fluidsynth(slow_song, tmp_path):
    midi, temp = slow_song
    build = start_build(midi, tmp_path / "out", temp)
    try:
        found = wait_for(lambda: find_fluidsynth(temp), 120)
        assert found, build.communicate(timeout=60)
        fluidsynth, worker = found
        os.kill(build.pid, signal.SIGKILL)
        build.wait(timeout=10)
        assert wait_for(lambda: not alive(worker), 10), "the worker outlived its parent"
        assert wait_for(lambda: not alive(fluidsynth), 10), "FluidSynth outlived its worker"
        assert wait_for(lambda: list(temp.iterdir()) == [], 5), list(temp.iterdir())
    finally:
        os.killpg(build.pid, signal.SIGKILL)


def test_only_dead_runs_temp_files_are_removed(tmp_path, monkeypatch):
    midi = tmp_path / "midi"
    midi.mkdir()
    write_midi(midi / "song.mid", notes=steady_notes(80 * TPB), program=0)
    out, temp = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    gone = subprocess.Popen(["true"])
    gone.wait()
    live = os.getppid()  # a process that is alive and is not this run
    for pid in (live, gone.pid):
        (out / f".song__x__000.tmp-{pid}.ogg").write_bytes(b"half a file")
        (temp / f"dance-render-{pid}-abcd1234").mkdir()
    pipeline.build(midi, out, [SOUNDFONT], workers=1, seed=0, jitter=0.0)
    assert (out / f".song__x__000.tmp-{live}.ogg").exists() and (temp / f"dance-render-{live}-abcd1234").exists()
    assert not (out / f".song__x__000.tmp-{gone.pid}.ogg").exists() and not (temp / f"dance-render-{gone.pid}-abcd1234").exists()


@pytest.mark.parametrize("command", ["build", "render"])
def test_a_rerun_with_other_settings_is_refused(tmp_path, command):
    midi = tmp_path / "midi"
    midi.mkdir()
    write_midi(midi / "song.mid", notes=steady_notes(80 * TPB), program=0)
    out = tmp_path / "out"
    run = getattr(pipeline, command)
    run(midi, out, [SOUNDFONT], workers=1, seed=0, jitter=0.0)
    with pytest.raises(pipeline.DataError, match=r"other settings \(seed 0 -> 1, in song-.*\.done\)"):
        run(midi, out, [SOUNDFONT], workers=1, seed=1, jitter=0.0)
    with pytest.raises(pipeline.DataError, match=r"jitter 0\.0 -> 0\.02"):
        run(midi, out, [SOUNDFONT], workers=1, seed=0, jitter=0.02)
    assert run(midi, out, [SOUNDFONT], workers=1, seed=0, jitter=0.0).resumed_jobs == 1


def test_chop_records_and_checks_its_seed(tmp_path):
    rendered = tmp_path / "rendered"
    midi = tmp_path / "midi"
    midi.mkdir()
    write_midi(midi / "song.mid", notes=steady_notes(100 * TPB), program=0)
    pipeline.render(midi, rendered, [SOUNDFONT], workers=1, seed=0, jitter=0.0)
    pipeline.chop(rendered, tmp_path / "chunks", workers=1, seed=0)
    with pytest.raises(pipeline.DataError, match=r"seed 0 -> 3"):
        pipeline.chop(rendered, tmp_path / "chunks", workers=1, seed=3)
