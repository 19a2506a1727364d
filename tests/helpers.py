"""Helpers several test files share: the `dance` command line, run in a fresh
process or in this one, and the circular distance between phases."""

from __future__ import annotations

import subprocess
import sys
from typing import NamedTuple

import numpy as np

from dance.cli import main


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


def circular(a, b) -> np.ndarray:
    """Distance between phases in [0, 1), the short way round the circle."""
    d = np.abs(np.asarray(a) - np.asarray(b)) % 1
    return np.minimum(d, 1 - d)
