"""Model variants compared under one training budget on the real-music
development benchmark: which capacity and structure to ship is measured, not guessed.

    python bench/sweep.py bench/sweep.toml [--out results/sweep]

The config (TOML) names the training chunks, the budget every variant gets
(epochs, batch size, learning rate, seed) and the variants (a name and the
model's hyperparameters; see bench/sweep.toml). For each variant in turn:
  1. `dance train` under the tag sweep-NAME: an interrupted sweep, run again,
     resumes each variant where it stopped, as training does;
  2. the dev benchmark at anticipation 0 and 0.5 s (`bench/devbench.py score`,
     which must be built: `python bench/devbench.py build`);
  3. the cost per 20 ms frame, one frame per call, in PyTorch, ONNX Runtime and
     Chromium (bench/inference_speed.py), against the browser budget.
A `reference` checkpoint in the config (say, the shipped model) is scored and
timed beside them, not trained. One table: OUT/table.md, and OUT/results.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dance.data.audio import write_text  # noqa: E402
from dance.errors import DanceError, run_script  # noqa: E402
from dance.inference import load_model  # noqa: E402

BROWSER_BUDGET_MS = {"median": 1.0, "p99": 5.0}  # the model issue's budget per frame in Chromium
SPEED_FRAMES = 1000
BROWSER = "onnxruntime-web, Chromium (WASM, 1 thread)"


class SweepError(DanceError):
    pass


def read_config(path: Path) -> dict:
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SweepError(f"{path}: {e}") from None
    missing = [k for k in ("chunks", "epochs", "variant") if k not in config]
    if missing:
        raise SweepError(f"{path}: missing {', '.join(missing)} (see bench/sweep.toml)")
    names = [v.get("name") for v in config["variant"]]
    if None in names or len(set(names)) != len(names):
        raise SweepError(f"{path}: every [[variant]] needs a unique name")
    return config


def train(config: dict, variant: dict, checkpoints: Path, log: Path) -> tuple[Path, float]:
    """Train (or resume) one variant; its checkpoint after the budget and the seconds this call took."""
    tag = f"sweep-{variant['name']}"
    command = [sys.executable, "-m", "dance", "train", variant.get("model", "phase_tcn_mel"), "--chunks-path", str(config["chunks"]),
               "-t", tag, "-e", str(config["epochs"]), "-b", str(config.get("batch_size", 8)), "--lr", str(config.get("lr", 2e-3)),
               "--seed", str(config.get("seed", 0)), "--checkpoints", str(checkpoints)]
    for name, value in variant.get("hparams", {}).items():
        command += ["--hparam", f"{name}={json.dumps(value)}"]
    started = time.monotonic()
    with log.open("a") as out:
        done = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SweepError(f"training {variant['name']} failed (exit {done.returncode}); see {log}")
    return checkpoints / tag / f"{config['epochs']}.pt", time.monotonic() - started


def dev_benchmark(checkpoint: Path, out: Path, log: Path) -> dict:
    """The dev benchmark's summary (slice -> tracker -> metrics) for one checkpoint."""
    command = [sys.executable, str(REPO / "bench" / "devbench.py"), "score", "--model", str(checkpoint), "--no-anchors", "--out", str(out)]
    with log.open("a") as text:
        done = subprocess.run(command, cwd=REPO, stdout=text, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SweepError(f"scoring {checkpoint} failed (exit {done.returncode}); see {log}")
    return json.loads((out / "results.json").read_text())["summary"]


def frame_costs(checkpoint: Path) -> dict[str, dict[str, float]]:
    from inference_speed import runtime_costs, test_audio

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="dance-sweep-") as tmp:
        costs = runtime_costs(load_model(checkpoint), test_audio(SPEED_FRAMES), Path(tmp) / "model.onnx", Path(tmp) / "audio.wav")
    return {name: {"median": float(np.median(ms)), "p99": float(np.percentile(ms, 99))} for name, ms in costs.items()}


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_variant(config: dict, variant: dict, out: Path) -> dict:
    """Train, score and time one variant; the result is saved, so a rerun skips what is done."""
    record_path = out / f"{variant['name']}.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    weights = file_digest(Path(variant["checkpoint"])) if "checkpoint" in variant else None  # a reference file replaced since
    if (record.get("variant") == variant and record.get("epochs") == config["epochs"] and "speed" in record
            and record.get("checkpoint_sha256") == weights):
        return record
    log = out / f"{variant['name']}.log"
    if "checkpoint" in variant:
        checkpoint, seconds = Path(variant["checkpoint"]), 0.0
    else:
        checkpoint, seconds = train(config, variant, Path(config.get("checkpoints", "checkpoints")), log)
    model = load_model(checkpoint)
    record = {"variant": variant, "epochs": config["epochs"], "checkpoint": str(checkpoint), "checkpoint_sha256": weights,
              "parameters": sum(p.numel() for p in model.parameters()),
              "train_seconds": record.get("train_seconds", 0.0) + seconds,
              "dev": dev_benchmark(checkpoint, out / variant["name"], log), "speed": frame_costs(checkpoint)}
    write_text(record_path, json.dumps(record, indent=1) + "\n")
    return record


def cell(summary: dict, slice_name: str, tracker: str, key: str) -> str:
    value = summary.get(slice_name, {}).get(tracker, {}).get(key, float("nan"))
    return "–" if value != value else f"{value:.3f}" if key == "phase_error" else f"{value:.2f}"


def table(records: list[dict], config: dict) -> str:
    slices = [s for s in next(iter(records))["dev"] if s != "all"]
    head = ("| variant | parameters | training (min) | error @0 | F1 @0 | error @0.5 | F1 @0.5 | beat F1 @0 | "
            + " | ".join(f"F1 {s}" for s in slices) + " | browser ms median / p99 |")
    lines = [head, "|" + "---|" * (9 + len(slices))]
    for r in records:
        dev, name = r["dev"], r["variant"]["name"]
        trained = f"{r['train_seconds'] / 60:.0f}" if "checkpoint" not in r["variant"] else "reference"
        browser = r["speed"][BROWSER]
        within = browser["median"] <= BROWSER_BUDGET_MS["median"] and browser["p99"] <= BROWSER_BUDGET_MS["p99"]
        lines.append(f"| {name} | {r['parameters']:,} | {trained} | {cell(dev, 'all', 'dance @ 0.0 s', 'phase_error')} | "
                     f"{cell(dev, 'all', 'dance @ 0.0 s', 'downbeat_f1')} | {cell(dev, 'all', 'dance @ 0.5 s', 'phase_error')} | "
                     f"{cell(dev, 'all', 'dance @ 0.5 s', 'downbeat_f1')} | {cell(dev, 'all', 'dance @ 0.0 s', 'beat_f1')} | "
                     + " | ".join(cell(dev, s, "dance @ 0.0 s", "downbeat_f1") for s in slices)
                     + f" | {browser['median']:.2f} / {browser['p99']:.2f}{'' if within else ' (over budget)'} |")
    budget = (f"every variant: {config['epochs']} epochs of {config['chunks']}, batch {config.get('batch_size', 8)}, "
              f"lr {config.get('lr', 2e-3)}, seed {config.get('seed', 0)}, from random weights")
    return budget + "\n\n" + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="sweep config (TOML), e.g. bench/sweep.toml")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "sweep", help="folder for the table, records and logs (default %(default)s)")
    args = parser.parse_args()
    config = read_config(args.config)
    args.out.mkdir(parents=True, exist_ok=True)
    variants = config["variant"] + ([{"name": "reference", "checkpoint": config["reference"]}] if "reference" in config else [])
    records = []
    for variant in variants:
        print(f"{variant['name']}: training, scoring and timing (log: {args.out / (variant['name'] + '.log')})", flush=True)
        records.append(run_variant(config, variant, args.out))
        print(table(records, config), flush=True)
    write_text(args.out / "table.md", table(records, config) + "\n")
    write_text(args.out / "results.json", json.dumps(records, indent=1) + "\n")
    print(f"written to {args.out / 'table.md'}")


if __name__ == "__main__":
    run_script(main, "sweep")
