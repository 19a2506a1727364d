"""Helpers several test files share: the `dance` command line, run in a fresh
process or in this one, the circular distance between phases (the metrics'
own), and a chunk written as a 44.1 kHz stereo WAV."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile

from dance import config
from dance.cli import main
from dance.data.dataset import read_chunk_audio
from dance.metrics import circular_distance as circular  # noqa: F401  (the tests' name for it)


def dance(*args, check_rc: int | None = None, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """The real command in a fresh process (for process limits, environment
    variables, interpreter start-up); `check_rc`: the exit status it must have."""
    result = subprocess.run([sys.executable, "-m", "dance", *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check_rc is not None:
        assert result.returncode == check_rc, result.stderr
    return result


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def in_process(capsys, *args) -> Result:
    """The same command line in this process (no interpreter start-up: fast);
    `capsys` is the test's pytest fixture. Unpacks as (rc, out, err)."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return Result(rc, out, err)


def stereo_44k_wav(chunk: Path, seconds: float, path: Path, right_gain: float = 1.0) -> np.ndarray:
    """The first `seconds` of a chunk, upsampled to 44.1 kHz and written as a
    stereo WAV (right channel times `right_gain`); returns the 16 kHz samples."""
    samples = read_chunk_audio(chunk)[: int(seconds * config.SAMPLE_RATE)].astype(np.float32) / 32768
    upsampled = np.interp(np.arange(0, len(samples), config.SAMPLE_RATE / 44100), np.arange(len(samples)), samples)
    soundfile.write(str(path), np.stack([upsampled, right_gain * upsampled], axis=1), 44100)
    return samples
