"""Benchmark: `dance live`'s processing latency, from the sample that completes
a 20 ms frame entering `Stream.push` to that frame's OSC message leaving (the
UDP send returned), for the shipped model in PyTorch (one thread) and as an
ONNX export in ONNX Runtime. Audio arrives as the sound card gives it, in
10 ms blocks (config.LIVE_BLOCK_SECONDS); a local UDP socket receives.

    python bench/live_latency.py [--seconds 60] [--audio song.wav]

Not included: the wait for a frame to fill (up to 20 ms) and the sound card's
own input latency, which depend on the audio, not on dance."""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dance import config  # noqa: E402
from dance.data.audio import read_audio  # noqa: E402
from dance.export import OnnxModel, export_onnx  # noqa: E402
from dance.inference import DEFAULT_MODEL, load_model  # noqa: E402
from dance.outputs import OscOutput  # noqa: E402
from dance.stream import Stream  # noqa: E402


def clicks(seconds: float) -> np.ndarray:
    """4/4 at 120 BPM: a loud click on each downbeat, softer ones on the other beats, over noise."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.01, int(seconds * config.SAMPLE_RATE)).astype(np.float32)
    beat = config.SAMPLE_RATE // 2
    for i, start in enumerate(range(0, len(x) - 400, beat)):
        x[start: start + 400] += (0.8 if i % 4 == 0 else 0.3) * np.hanning(400) * np.sin(np.arange(400) * 0.6)
    return x


def drain(receiver: socket.socket, counter: list[int]) -> None:
    while True:
        try:
            receiver.recv(256)
        except OSError:  # closed: the benchmark is over
            return
        counter[0] += 1


def latencies_ms(model, samples: np.ndarray) -> tuple[np.ndarray, int]:
    """Per frame: ms from the push that completes it to its OSC send returning; and datagrams received."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    received = [0]
    threading.Thread(target=drain, args=(receiver, received), daemon=True).start()
    osc = OscOutput(f"127.0.0.1:{receiver.getsockname()[1]}")
    stream, block, times = Stream(model, 0.0), round(config.LIVE_BLOCK_SECONDS * config.SAMPLE_RATE), []
    for start in range(0, len(samples), block):
        began = time.perf_counter()
        rows = stream.push(samples[start: start + block])
        osc.send(rows)
        if rows:
            times.append((time.perf_counter() - began) * 1000)
    time.sleep(0.2)
    osc.close()
    receiver.close()
    return np.array(times), received[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of audio (default %(default)s)")
    parser.add_argument("--audio", type=Path, help="an audio file (default: synthetic clicks, 4/4 at 120 BPM)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    samples = read_audio(args.audio)[: int(args.seconds * config.SAMPLE_RATE)] if args.audio else clicks(args.seconds)
    model = load_model(DEFAULT_MODEL)
    print(f"{len(samples) / config.SAMPLE_RATE:.0f} s of audio in {config.LIVE_BLOCK_SECONDS * 1000:.0f} ms blocks, shipped model")
    print("| runtime | median ms | p99 ms | frames | OSC datagrams received |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="dance-latency-") as tmp:
        onnx = OnnxModel(export_onnx(model, Path(tmp) / "model.onnx"))
        for name, runtime in (("PyTorch (1 thread)", model), ("ONNX Runtime (CPU)", onnx)):
            ms, received = latencies_ms(runtime, samples)
            print(f"| {name} | {np.median(ms):.3f} | {np.percentile(ms, 99):.3f} | {len(ms)} | {received} |")


if __name__ == "__main__":
    main()
