"""`dance live`: audio from the sound card (PortAudio, through `sounddevice`)
or a file played in real time, through the Stream, to the outputs and the
terminal.

Both sources give consecutive blocks of 16 kHz mono float32 samples. The
sound card's callback runs on PortAudio's thread and only queues its block;
resampling and the model run on the main thread, so a slow model call costs
queued audio, and blocks are dropped (and counted) only when the queue holds
more than LIVE_QUEUE_SECONDS."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from dance import config
from dance.data.audio import StreamingResampler, open_audio, resampling_ratio, stream_audio
from dance.errors import DanceError
from dance.stream import Row, Stream

QUEUE_WAIT_SECONDS = 1.0  # with no block from the sound card for this long, the loop checks it is still running


class LiveError(DanceError):
    """A live input or output that cannot be used, with a one-line reason."""


class Source(Protocol):
    name: str
    dropped: int  # blocks lost because the model fell behind

    def blocks(self) -> Iterator[np.ndarray]: ...


class FileSource:
    """A file played in real time (or `speed` times faster): each 10 ms block is
    released when the clock reaches its end, as a sound card would deliver
    it. Nothing is dropped: a late block is released at once."""

    def __init__(self, path: Path, speed: float = 1.0):
        if not speed > 0:
            raise LiveError(f"--speed must be above 0, got {speed}")
        open_audio(path).close()  # a missing or unreadable file fails before any output opens
        self.path, self.speed, self.dropped = path, speed, 0
        self.name = str(path) if speed == 1 else f"{path} at {speed:g}x real time"

    def blocks(self) -> Iterator[np.ndarray]:
        size = round(config.LIVE_BLOCK_SECONDS * config.SAMPLE_RATE)
        start, released = time.monotonic(), 0
        for decoded in stream_audio(self.path):
            for offset in range(0, len(decoded), size):
                block = decoded[offset: offset + size]
                released += len(block)
                wait = start + released / config.SAMPLE_RATE / self.speed - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                yield block


def sounddevice_module():
    """`sounddevice`, or a LiveError naming the missing PortAudio library."""
    try:
        import sounddevice
    except OSError:
        raise LiveError("PortAudio is not installed (Debian: apt-get install libportaudio2); --input FILE plays a file instead") from None
    return sounddevice


def list_devices() -> str:
    devices = sounddevice_module().query_devices()
    return str(devices) if len(devices) else "no audio devices found (PortAudio sees none on this machine)"


def device_argument(device: str | None) -> int | str | None:
    """An index ("3") or a part of the device's name ("USB")."""
    return int(device) if device is not None and device.isdigit() else device


class SoundCard:
    """One input channel from a PortAudio device at its own rate, resampled to 16 kHz."""

    def __init__(self, device: str | None):
        sd = self.sd = sounddevice_module()
        self.device = device_argument(device)
        if not any(d["max_input_channels"] > 0 for d in sd.query_devices()):
            raise LiveError("no audio input device on this machine (PortAudio sees none); --input FILE plays a file instead")
        try:
            info = sd.query_devices(self.device, kind="input")
        except (ValueError, sd.PortAudioError) as e:
            which = f"input device {device!r}" if device is not None else "default audio input device"
            raise LiveError(f"no {which} ({e}); `dance live --list-devices` lists them") from None
        if info["max_input_channels"] < 1:
            raise LiveError(f"device {info['name']!r} has no input channels; `dance live --list-devices` lists them")
        self.name = info["name"]
        self.rate = int(info["default_samplerate"])
        self.resampler = StreamingResampler(*resampling_ratio(self.rate)) if self.rate != config.SAMPLE_RATE else None
        block = round(config.LIVE_BLOCK_SECONDS * self.rate)
        self.queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=round(config.LIVE_QUEUE_SECONDS / config.LIVE_BLOCK_SECONDS))
        self.dropped = 0
        try:
            self.stream = sd.InputStream(device=info["index"], channels=1, samplerate=self.rate, blocksize=block,
                                         dtype="float32", callback=self._callback)
        except sd.PortAudioError as e:
            raise LiveError(f"cannot open {self.name!r} at {self.rate} Hz: {e}") from None

    def _callback(self, indata: np.ndarray, frames: int, when, status) -> None:
        if status.input_overflow:
            self.dropped += 1
        try:
            self.queue.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.dropped += 1

    def blocks(self) -> Iterator[np.ndarray]:
        with self.stream:
            while self.stream.active:
                try:
                    block = self.queue.get(timeout=QUEUE_WAIT_SECONDS)
                except queue.Empty:
                    continue
                samples = self.resampler.feed(block) if self.resampler else block
                if len(samples):
                    yield samples


class Sink(Protocol):
    def send(self, rows: list[Row]) -> None: ...


class Monitor(Protocol):
    def update(self, block: np.ndarray, rows: list[Row], dropped: int) -> None: ...


def run(source: Source, stream: Stream, sinks: list[Sink], monitor: Monitor) -> None:
    """Every block through the stream to every sink, until the source ends."""
    # A frame or two per model call is too little work to share between
    # threads: extra PyTorch threads only wait for each other (40 times
    # slower per frame on a busy 2-core machine).
    torch.set_num_threads(1)
    for block in source.blocks():
        rows = stream.push(block)
        for sink in sinks:
            sink.send(rows)
        monitor.update(block, rows, source.dropped)
