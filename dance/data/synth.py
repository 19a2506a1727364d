"""FluidSynth: find soundfonts and render a MIDI file to mono samples."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from dance import config
from dance.data.processes import die_with_parent, temp_dir_prefix
from dance.errors import DanceError


class SynthError(DanceError):
    """FluidSynth or a soundfont cannot be used; the message is one line."""


def find_soundfont(name: str) -> Path:
    """A path, or a bare file name looked up in the system soundfont folders."""
    path = Path(name)
    candidates = [path] if path.is_absolute() or path.parent != Path(".") else [path] + [Path(d) / name for d in config.SOUNDFONT_DIRS]
    for candidate in candidates:
        if candidate.is_file():
            with open(candidate, "rb") as f:
                if f.read(4) != b"RIFF":
                    raise SynthError(f"soundfont {candidate} is not a SoundFont (.sf2/.sf3) file")
            return candidate.resolve()
    raise SynthError(f"soundfont {name} not found (looked in: {', '.join(str(c) for c in candidates)})")


def soundfont_tag(path: Path) -> str:
    """A short name for file names: 'FluidR3_GM.sf2' -> 'FluidR3_GM'."""
    return path.stem.replace("__", "_")


def require_fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise SynthError("fluidsynth is not installed (apt-get install fluidsynth, or run `make setup`)")
    return exe


def render(midi_path: Path, soundfont: Path, sample_rate: int, max_seconds: float) -> np.ndarray:
    """Render with FluidSynth's fast file renderer; returns float32 mono of at
    most max_seconds. The render itself is bounded by the MIDI's length (the
    caller writes a MIDI that ends with the music) and a timeout."""
    exe = require_fluidsynth()
    me = os.getpid()
    with tempfile.TemporaryDirectory(prefix=temp_dir_prefix("render")) as tmp:
        wav = Path(tmp) / "render.wav"
        cmd = [exe, "-ni", "-q", "-g", "0.5", "-r", str(sample_rate), "-T", "wav", "-O", "float",
               "-o", "synth.polyphony=256", "-F", str(wav), str(soundfont), str(midi_path)]
        try:
            # FluidSynth dies with us: on SIGKILL of this process too (a Ctrl-C or SIGTERM
            # interrupts run(), which kills it before the exception goes on)
            result = subprocess.run(cmd, capture_output=True, timeout=config.RENDER_TIMEOUT_SECONDS,
                                    preexec_fn=lambda: die_with_parent(me, signal.SIGKILL))
        except subprocess.TimeoutExpired:
            raise SynthError(f"fluidsynth took over {config.RENDER_TIMEOUT_SECONDS:.0f} s on {midi_path}") from None
        if result.returncode != 0 or not wav.exists():
            message = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
            raise SynthError(f"fluidsynth failed on {midi_path.name} with {soundfont.name}: {message[-1] if message else 'no output'}")
        frames = min(soundfile.info(str(wav)).frames, int(max_seconds * sample_rate))
        samples, _ = soundfile.read(str(wav), frames=frames, dtype="float32", always_2d=True)
    return samples.mean(axis=1)
