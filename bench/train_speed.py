"""Training throughput in chunks per second on this machine: the training
step as `dance train` runs it (acoustic augmentation, random gain, forward,
backward, AdamW), on real chunks already decoded into the cache, in float32
and with `--bf16`, and how far bf16 moves the loss and the gradient (beside
how far a 0.1 dB change of level moves the float32 gradient: the network's own
sensitivity, the yardstick for bf16's).

    python bench/train_speed.py --chunks data/chunks/real
    python bench/train_speed.py --chunks data/chunks/real --hparam beats=true --batches 30
    python bench/train_speed.py --chunks data/chunks/real --stages --loader-threads 2 --batch-size 32
    python bench/train_speed.py --chunks data/chunks/real --batches 2 --rounds 1 --weights dance/default_model.pt

With --stages it times the two halves of training apart instead: the loader
alone (decoded chunks -> augmented batches on the device, in --loader-threads
threads, as `dance train --loader-threads` builds them) and the training step
alone on one batch already on the device (CUDA when there is one), then prints
PyTorch's profile of that step: where a slow run spends its time.

Each setting trains a fresh model (same seed) for --batches batches after two
warm-up batches; the settings alternate --rounds times and the median is
reported, so a machine busy with something else shows as spread, not bias.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import BatchSampler, RandomSampler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dance import config  # noqa: E402
from dance.cli import parse_hparams  # noqa: E402
from dance.data.dataset import ChunkDataset  # noqa: E402
from dance.data.formats import find_chunks  # noqa: E402
from dance.data.loader import Batches  # noqa: E402
from dance.model import selector  # noqa: E402
from dance.train import Options, batch_step  # noqa: E402

SETTINGS = {"float32": False, "bf16": True}


def run(dataset: ChunkDataset, hparams: dict, batches: int, batch_size: int, bf16: bool) -> float:
    """Chunks per second over `batches` training steps."""
    torch.manual_seed(0)
    model = selector.create("phase_tcn_mel", **hparams).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sampler = BatchSampler(RandomSampler(dataset, generator=torch.Generator().manual_seed(0)), batch_size, drop_last=True)
    loader = Batches(dataset, sampler, 1, torch.device("cpu"))  # `dance train`'s default: one loader thread
    warmup = config.FRAMES_PER_SECOND
    started, steps = None, 0
    for frames, bar, beat in loader:
        if steps == 2:
            started = time.perf_counter()
        loss = batch_step(model, frames, bar, beat, 0.25, warmup, Options.gain_db, bf16)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
        if steps == batches + 2:
            break
    return batches * batch_size / (time.perf_counter() - started)


def loader_alone(dataset: ChunkDataset, batch_size: int, threads: int, batches: int, device: torch.device) -> float:
    """Chunks per second the loader delivers to `device` with nothing consuming
    them, over one unbroken pass (chunks drawn with replacement, so a small set
    does not restart the threads), after one warm-up batch."""
    draws = RandomSampler(dataset, replacement=True, num_samples=(batches + 1) * batch_size, generator=torch.Generator().manual_seed(0))
    loader = iter(Batches(dataset, BatchSampler(draws, batch_size, drop_last=True), threads, device))
    next(loader)
    started = time.perf_counter()
    delivered = sum(frames.shape[0] for frames, _, _ in loader)
    return delivered / (time.perf_counter() - started)


def step_alone(dataset: ChunkDataset, hparams: dict, batch_size: int, steps: int, device: torch.device) -> tuple[float, str]:
    """(chunks per second, profiler table) of the training step on one batch resident on `device`."""
    frames, bar, beat = next(iter(torch.utils.data.DataLoader(dataset, batch_size=batch_size)))
    frames = frames.to(device)
    torch.manual_seed(0)
    model = selector.create("phase_tcn_mel", **hparams).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = batch_step(model, frames, bar, beat, 0.25, config.FRAMES_PER_SECOND, Options.gain_db)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # as `dance train` does: one synchronisation per step

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    speed = steps * batch_size / (time.perf_counter() - started)
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as profile:
        step()
    order = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return speed, profile.key_averages().table(sort_by=order, row_limit=15)


def stages(dataset: ChunkDataset, hparams: dict, args: argparse.Namespace) -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"loader alone ({args.loader_threads} threads): "
          f"{loader_alone(dataset, args.batch_size, args.loader_threads, args.batches, device):.1f} chunks/s")
    speed, table = step_alone(dataset, hparams, args.batch_size, args.batches, device)
    print(f"step alone on {device}: {speed:.1f} chunks/s\n{table}")


LOUDER_DB = 0.1  # far below the random gain training applies (-24...+3 dB a chunk)


def agreement(dataset: ChunkDataset, model: torch.nn.Module, batch_size: int) -> tuple[float, float, float, float]:
    """(float32 loss, bf16 loss, cosine between their gradients, and, as the
    yardstick, the cosine between float32 gradients of the batch as it is and
    LOUDER_DB louder) on one batch, without augmentation: a network whose
    gradient turns with an inaudible change of level is not harmed by bf16
    turning it as much."""
    frames, bar, beat = next(iter(torch.utils.data.DataLoader(dataset, batch_size=batch_size)))
    model.eval()
    losses, gradients = [], []
    for scale, bf16 in ((1.0, False), (1.0, True), (10 ** (LOUDER_DB / 20), False)):
        model.zero_grad()
        loss = batch_step(model, frames * scale, bar, beat, 0.25, config.FRAMES_PER_SECOND, None, bf16)
        loss.backward()
        losses.append(loss.item())
        gradients.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    cosine = [float(torch.nn.functional.cosine_similarity(gradients[0], g, dim=0)) for g in gradients[1:]]
    return losses[0], losses[1], cosine[0], cosine[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=Path, required=True, help="a chunk folder (from `dance data build`)")
    parser.add_argument("--hparam", action="append", default=["onset_flux=true", "beats=true"], metavar="NAME=VALUE")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="time the loader and the step apart (see above)")
    parser.add_argument("--loader-threads", type=int, default=1, help="with --stages: loader threads")
    parser.add_argument("--weights", type=Path, help="a checkpoint whose network the bf16 check uses (default: a fresh one of --hparam)")
    args = parser.parse_args()
    hparams = parse_hparams(args.hparam)
    chunks = find_chunks(args.chunks)[: (args.batches + 2) * args.batch_size]
    dataset = ChunkDataset(chunks, augment=True)
    dataset.decode_all(max(1, args.loader_threads))  # as `dance train` does before epoch 1
    print(f"{len(chunks)} chunks of {args.chunks}, phase_tcn_mel {hparams}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads")
    if args.stages:
        return stages(dataset, hparams, args)
    speeds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, bf16 in SETTINGS.items():
            speeds[name].append(run(dataset, hparams, args.batches, args.batch_size, bf16))
    base = statistics.median(speeds["float32"])
    print("\n| setting | chunks/s (median of rounds) | rounds | × float32 |\n|---|---|---|---|")
    for name, values in speeds.items():
        print(f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} | {statistics.median(values) / base:.2f} |")
    torch.manual_seed(0)
    model = selector.load(args.weights)[0] if args.weights else selector.create("phase_tcn_mel", **hparams)
    fp32_loss, bf16_loss, cosine, louder = agreement(ChunkDataset(chunks[: args.batch_size]), model, args.batch_size)
    print(f"\none batch, no augmentation, {args.weights or 'fresh weights'}: loss float32 {fp32_loss:.5f}, bf16 {bf16_loss:.5f}; "
          f"gradient cosine to float32's: bf16 {cosine:.4f}, float32 {LOUDER_DB} dB louder {louder:.4f}")


if __name__ == "__main__":
    from dance.errors import run_script

    run_script(main, "train_speed")
