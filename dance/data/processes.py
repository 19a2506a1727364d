"""Process hygiene for the batch commands: children that die with their
parent, an exclusive lock on an output folder, and temporary files named by
the process that writes them, so a run removes only its own or dead runs' leftovers."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h
TEMP_PID = re.compile(r"\.tmp-(\d+)")  # hidden temporary files: .NAME.tmp-PID[.suffix]
TEMP_DIR = re.compile(r"^dance-[a-z]+-(\d+)-")  # temporary folders: dance-KIND-PID-random
LOCK_NAME = ".dance.lock"


class FolderBusy(Exception):
    """Another live run holds the output folder."""


def die_with_parent(expected_parent: int, sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies
    (Linux prctl); elsewhere a watchdog thread polls the parent's pid. Call it
    in the child right after the fork, with the pid of the process that forked
    it: if that one is already gone, the signal is sent at once."""
    parent = expected_parent
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), sig)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # orphaned before the request took effect
        os.kill(os.getpid(), sig)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def is_leftover(name: str, pattern: re.Pattern = TEMP_PID) -> bool:
    """A temporary name whose writer is this process or no longer alive."""
    match = pattern.search(name)
    if not match:
        return False
    pid = int(match.group(1))
    return pid == os.getpid() or not pid_alive(pid)


def remove_leftover_temp_files(folder: Path) -> int:
    """Hidden temporary files in `folder` whose writer is gone (or is us);
    a live process's files are left alone."""
    removed = 0
    for p in folder.glob(".*.tmp-*"):
        if is_leftover(p.name):
            p.unlink(missing_ok=True)
            removed += 1
    return removed


def temp_dir_prefix(kind: str) -> str:
    """For tempfile.TemporaryDirectory(prefix=...): the name carries the pid."""
    return f"dance-{kind}-{os.getpid()}-"


def remove_leftover_temp_dirs() -> int:
    """Our temporary folders under the system temp folder whose process died
    without cleaning up (killed with SIGKILL, say)."""
    removed = 0
    root = Path(tempfile.gettempdir())
    for p in root.glob("dance-*-*-*"):
        try:
            mine = p.is_dir() and p.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and is_leftover(p.name, TEMP_DIR):
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed


class FolderLock:
    """An exclusive flock on FOLDER/.dance.lock for the length of a run; the
    kernel drops it when the process (and any forked worker) is gone, so a
    crash never leaves a stale lock."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> "FolderLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderBusy(f"another dance run (pid {holder}) is using {self.path.parent}; "
                                 "wait for it to finish, stop it, or use another output folder") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock; the file stays (removing it would race with a waiting run)
            self.fd = None
