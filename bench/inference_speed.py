"""Benchmark: per-frame inference cost of the shipped model, streaming one
20 ms frame per call, in the browser (onnxruntime-web, WASM, one thread, in
Debian's headless Chromium), in Python ONNX Runtime and in PyTorch; then the
page's live microphone path for a few minutes: frames analysed, frames
dropped, and the time from a frame reaching the page to the picture showing it.

    python bench/inference_speed.py [--frames 1500] [--live-minutes 5] [--model x.pt]

`--live-minutes 0` times the three runtimes only; bench/sweep.py calls
`runtime_costs` for every variant it compares.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dance import config  # noqa: E402
from dance.export import OnnxModel, export_onnx  # noqa: E402
from dance.inference import DEFAULT_MODEL, load_model  # noqa: E402
from tests.browser import mic_flags, page_at, served  # noqa: E402


def per_frame_ms(model, frames: torch.Tensor) -> np.ndarray:
    state, a, times = model.initial_state(1), torch.zeros(1), []
    with torch.no_grad():
        for t in range(frames.shape[1]):
            start = time.perf_counter()
            _, state = model(frames[:, t: t + 1], a, state)
            times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def row(name: str, ms) -> str:
    ms = np.asarray(ms)
    return f"| {name} | {np.median(ms):.3f} | {np.percentile(ms, 99):.3f} | {len(ms)} |"


def test_audio(frames: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.1 * rng.normal(size=frames * config.FRAME_SIZE)).astype(np.float32)


def runtime_costs(model, samples: np.ndarray, onnx_path: Path, wav: Path) -> dict[str, np.ndarray]:
    """Per-frame milliseconds, one frame per call, in PyTorch, ONNX Runtime and
    the browser; `onnx_path` and `wav` are written here."""
    frames = torch.from_numpy(samples).view(1, -1, config.FRAME_SIZE)
    export_onnx(model, onnx_path)
    soundfile.write(str(wav), samples, config.SAMPLE_RATE, subtype="PCM_16")
    results = {"PyTorch (1 thread)": per_frame_ms(model, frames),
               "ONNX Runtime, Python (CPU)": per_frame_ms(OnnxModel(onnx_path), frames)}
    with served(onnx_path) as url:
        with page_at(url, files={wav.name: wav}) as page:
            results["onnxruntime-web, Chromium (WASM, 1 thread)"] = np.array(page.evaluate(f"dance.analyzeOffline('{wav.name}', 0, 1)")["perFrameMs"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1500, help="frames timed per runtime (default %(default)s = 30 s)")
    parser.add_argument("--live-minutes", type=float, default=5.0, help="minutes of live microphone audio, 0 for none (default %(default)s)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="checkpoint to time (default: the shipped model)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    samples = test_audio(args.frames)
    model = load_model(args.model)

    with tempfile.TemporaryDirectory(prefix="dance-speed-") as tmp:
        tmp = Path(tmp)
        results = runtime_costs(model, samples, tmp / "model.onnx", tmp / "audio.wav")
        if args.live_minutes > 0:
            live_wav = tmp / "live.wav"
            music = np.tile(samples, int(np.ceil(args.live_minutes * 60 / (len(samples) / config.SAMPLE_RATE))) + 1)
            soundfile.write(str(live_wav), music, config.SAMPLE_RATE, subtype="PCM_16")
            with served(tmp / "model.onnx") as url, page_at(url, extra_flags=mic_flags(live_wav)) as page:
                page.click("#mic")
                time.sleep(args.live_minutes * 60)
                live = page.evaluate("({frames: dance.live.frames, dropped: dance.live.dropped, latency: dance.live.displayLatency, timings: dance.live.timings})")

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; model {args.model}")
    print("| runtime | median ms per frame | p99 ms per frame | frames |")
    print("|---|---|---|---|")
    for name, ms in results.items():
        print(row(name, ms))
    if args.live_minutes <= 0:
        return
    seconds = args.live_minutes * 60
    print(f"\nlive microphone path, {args.live_minutes:g} min: {live['frames']} frames analysed "
          f"({live['frames'] / seconds:.1f} per s), {live['dropped']} dropped; frame arrival -> picture: "
          f"median {np.median(live['latency']):.1f} ms, p99 {np.percentile(live['latency'], 99):.1f} ms "
          f"(plus up to 20 ms to fill a frame and the device's input latency)")


if __name__ == "__main__":
    main()
