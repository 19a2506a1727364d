"""Training: `dance train MODEL --chunks-path DIR -t TAG -e EPOCHS -b BATCH`.

Reads top to bottom: data (split by song), model, optimiser, then per epoch a
pass over the training chunks and one over the validation chunks, a checkpoint
`checkpoints/<tag>/<epoch>.pt` and a row in `checkpoints/<tag>/loss.csv`.
Several processes (torchrun) train data-parallel through PyTorch DDP.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, ConcatDataset, DistributedSampler, RandomSampler, SequentialSampler, WeightedRandomSampler
from tqdm import tqdm

from dance import config
from dance.data.augment import describe_shares
from dance.data.dataset import ChunkDataset, split_by_song
from dance.data.formats import find_chunks
from dance.data.labels import future_phase
from dance.data.loader import Batches
from dance.errors import DanceError
from dance.model import selector
from dance.plots import loss_curve_picture


class TrainingError(DanceError):
    """Stops a run with a one-line message."""


@dataclass
class Options:
    model: str
    chunks_path: Path
    tag: str
    epochs: int = 20
    batch_size: int = 8
    lr: float = 2e-3
    lr_min_fraction: float = 0.05  # cosine decay to lr * this by the last epoch
    weight_decay: float = 0.01
    warmup_seconds: float = 1.0  # frames masked out of the loss at the start of each sequence
    validation_fraction: float = config.VALIDATION_FRACTION
    dataset_size: int | None = None
    gain_db: tuple[float, float] = (-24.0, 3.0)
    resume: Path | None = None
    seed: int = 0
    checkpoints: Path = Path("checkpoints")
    loader_threads: int = 1  # threads that decode and augment the chunks (dance/data/loader.py)
    restart: bool = False  # start again from epoch 1, removing the tag's checkpoints and loss.csv (default: resume from the last one)
    init: Path | None = None  # start from these weights (fine-tuning)
    augment: bool = True  # the acoustic chain of dance/data/augment.py on training chunks
    mix_chunks: Path | None = None  # fine-tuning: the user's chunks (all of them train), drawn for a share of every batch
    mix_share: float = 0.5  # that share, on average; the rest comes from chunks_path, so the model keeps what it knew
    hparams: dict | None = None
    bf16: bool = False  # bfloat16 autocast for the network (fast on CPUs with AMX or AVX-512 BF16, and on GPUs); the log-mel stays float32
    minutes: float | None = None  # a time budget: after epoch 1, the schedule shrinks to the epochs that fit (at most `epochs`)


BEAT_LOSS_WEIGHT = 0.5  # the beat phase helps the bar phase; the bar phase is what the model is for


def phase_loss(prediction: torch.Tensor, target_phase: torch.Tensor, warmup_frames: int) -> torch.Tensor:
    """Direction-only MSE: the prediction normalised to the unit circle against
    [sin, cos] of the target, frames after the warm-up only."""
    direction = prediction / prediction.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    angle = 2 * math.pi * target_phase
    target = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)
    return ((direction - target) ** 2)[:, warmup_frames:].mean()


def batch_step(model, frames, bar_labels, beat_labels, anticipation: float, warmup_frames: int, gain_db=None, bf16: bool = False):
    """Loss of one batch at one anticipation; random gain per sequence when
    given. A model with a beat head also learns the beat phase, on the chunks
    that have beat labels (the others hold NaN)."""
    device = next(model.parameters()).device
    frames = frames.to(device, non_blocking=True)
    if gain_db is not None:
        gain = 10 ** (torch.empty(frames.shape[0], 1, 1).uniform_(*gain_db) / 20)
        frames = (frames * gain.to(device)).clamp(-1.0, 1.0)
    a = torch.full((frames.shape[0],), anticipation, device=device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        prediction, _ = model(frames, a, snap=False)
    prediction = prediction.float()
    loss = phase_loss(prediction[..., :2], future_phase(bar_labels, anticipation, config.CHUNK_FRAMES).to(device), warmup_frames)
    if prediction.shape[-1] == 4:
        known = torch.isfinite(beat_labels).all(dim=1)
        if known.any():
            beat_target = future_phase(beat_labels[known], anticipation, config.CHUNK_FRAMES).to(device)
            loss = loss + BEAT_LOSS_WEIGHT * phase_loss(prediction[known.to(device)][..., 2:], beat_target, warmup_frames)
    return loss


def learning_rate(o: Options, epoch: int, planned: int) -> float:
    """Cosine from lr at epoch 1 to lr * lr_min_fraction at the last planned epoch."""
    progress = (epoch - 1) / max(1, planned - 1)
    return o.lr * (o.lr_min_fraction + (1 - o.lr_min_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def fit_to_budget(o: Options, planned: int, setup_seconds: float, epoch_seconds: float, world: int, device: torch.device) -> int:
    """The epochs that fit in `o.minutes`, judged on the first epoch (at least
    one, at most `planned`); under DDP every process takes rank 0's answer."""
    fitting = int((o.minutes * 60 - setup_seconds) // max(epoch_seconds, 1e-9))
    answer = torch.tensor([max(1, min(planned, fitting))], device=device)  # NCCL broadcasts GPU tensors only
    if world > 1:
        dist.broadcast(answer, src=0)
    return int(answer)


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); under torchrun, one process per GPU or CPU slot."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return dist.get_rank(), world, device
    return 0, 1, device


def leave_distributed(world: int) -> None:
    """Tear the process group down together, after rank 0 has written its
    checkpoint: a CI run once saw rank 1 abort (SIGABRT) while rank 0 was still
    saving, the ranks having reached the teardown apart."""
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def load_data(o: Options) -> tuple[ChunkDataset | ConcatDataset, ChunkDataset]:
    """(training set, validation set); with --mix-chunks the training set is
    the corpus's training chunks followed by all of the user's chunks."""
    corpus, validation = load_corpus(o)
    if o.mix_chunks is None:
        return corpus, validation
    if not 0 < o.mix_share < 1:
        raise TrainingError(f"--mix-share must be between 0 and 1 (the share of each batch from --mix-chunks), got {o.mix_share}")
    mine = find_chunks(o.mix_chunks)
    if not mine:
        raise TrainingError(f"no chunks (.ogg with .phase) in {o.mix_chunks}; make them with `dance data chop` from `dance label`'s folder")
    return ConcatDataset([corpus, ChunkDataset(mine, augment=o.augment)]), validation


def mixed_sampler(corpus: int, mine: int, share: float, generator: torch.Generator) -> WeightedRandomSampler:
    """Draws (with replacement) the last `mine` items with probability `share`
    and the first `corpus` items otherwise, each group uniformly; an epoch
    draws as many items as both hold."""
    weights = torch.cat([torch.full((corpus,), (1 - share) / corpus), torch.full((mine,), share / mine)])
    return WeightedRandomSampler(weights, corpus + mine, replacement=True, generator=generator)


def load_corpus(o: Options) -> tuple[ChunkDataset, ChunkDataset]:
    chunks = find_chunks(o.chunks_path)
    if not chunks:
        raise TrainingError(f"no chunks (.ogg with .phase) in {o.chunks_path}; make some with `dance data build`")
    if o.dataset_size:
        # the overfit check: a handful of chunks, validated on themselves
        chunks = chunks[: o.dataset_size]
        return ChunkDataset(chunks), ChunkDataset(chunks)
    train, validation = split_by_song(chunks, o.validation_fraction)
    if not train:
        raise TrainingError(f"all {len(chunks)} chunks fell in the validation split; add songs or lower --validation-fraction")
    return ChunkDataset(train, augment=o.augment), ChunkDataset(validation)


def train(o: Options) -> Path:
    started = time.monotonic()
    rank, world, device = setup_distributed()
    if o.minutes is not None and o.minutes <= 0:
        raise TrainingError(f"--minutes must be a positive time budget, got {o.minutes:g}")
    if o.mix_chunks is not None and world > 1:
        raise TrainingError("--mix-chunks trains in one process; run it without torchrun")
    torch.manual_seed(o.seed + rank)
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:  # a set OMP_NUM_THREADS is the user's share of the cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    out = o.checkpoints / o.tag
    # an existing tag continues from its last checkpoint (so rerunning an
    # interrupted command resumes it); --restart starts it again
    resume = o.resume or (None if o.restart else last_checkpoint(out))
    start_epoch, optimizer_state, planned = 1, None, o.epochs
    if resume:
        model, payload = selector.load(resume, expect=o.model)
        start_epoch, optimizer_state = payload.get("epoch", 0) + 1, payload.get("optimizer")
        if o.minutes is not None and payload.get("planned_epochs"):  # rerunning a run fitted to --minutes keeps its schedule
            planned = min(o.epochs, payload["planned_epochs"])
        if start_epoch > planned:
            if rank == 0:
                print(f"nothing to do: {resume} has already trained {start_epoch - 1} epoch(s) and the schedule has {planned}; "
                      f"raise -e to train further" + ("" if o.resume else ", or add --restart to start again"))
            leave_distributed(world)
            return resume
        if rank == 0 and not o.resume:
            print(f"resuming {out} from {resume} (epoch {start_epoch - 1} done); --restart starts again from epoch 1")
    train_set, validation_set = load_data(o)
    for part in [*getattr(train_set, "datasets", [train_set]), validation_set]:
        part.decode_all(o.loader_threads, progress=rank == 0)

    if not resume:
        if o.init and o.hparams:
            model, fresh = selector.grow(o.init, o.model, **o.hparams)
            if rank == 0:
                print(f"from {o.init} with {o.hparams}; fresh weights: {', '.join(fresh) or 'none'}")
        elif o.init:
            model, _ = selector.load(o.init, expect=o.model)
        else:
            model = selector.create(o.model, **(o.hparams or {}))
    model.to(device).train()
    if world > 1:
        model = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    if optimizer_state:
        optimizer.load_state_dict(optimizer_state)

    order = torch.Generator().manual_seed(o.seed)  # shuffle order or the mix's draws; reseeded every epoch
    if o.mix_chunks is not None:
        corpus_size = len(train_set.datasets[0])
        sampler = mixed_sampler(corpus_size, len(train_set) - corpus_size, o.mix_share, order)
    else:
        sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=o.seed) if world > 1 else RandomSampler(train_set, generator=order)
    loader = Batches(train_set, BatchSampler(sampler, o.batch_size, drop_last=len(train_set) >= o.batch_size),
                     o.loader_threads, device)
    warmup = int(o.warmup_seconds * config.FRAMES_PER_SECOND)
    anticipation_rng = torch.Generator().manual_seed(o.seed)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        forget_epochs(out, start_epoch)  # epochs about to be (re)done: no stale checkpoint, no duplicate loss.csv row
        print(f"{o.model}: {sum(p.numel() for p in model.parameters()):,} parameters; "
              f"{len(train_set)} training and {len(validation_set)} validation chunks; device {device}, {world} process(es)"
              + (f"; {o.mix_share:.0%} of each batch from the {len(train_set.datasets[1])} chunks in {o.mix_chunks}" if o.mix_chunks else ""))
        print(f"acoustic augmentation, share of training chunks: {describe_shares()}" if o.augment else "no acoustic augmentation")

    epoch = start_epoch
    while epoch <= planned:
        epoch_started = time.monotonic()
        seed_epoch(o.seed, epoch, rank, order, anticipation_rng)
        if isinstance(sampler, DistributedSampler):  # the mix's sampler draws from `order`, reseeded above
            sampler.set_epoch(epoch)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(o, epoch, planned)
        model.train()
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{planned}", unit="batch", disable=rank != 0, dynamic_ncols=True)
        for frames, bar_labels, beat_labels in bar:
            anticipation = float(torch.rand(1, generator=anticipation_rng)) * config.ANTICIPATION_MAX
            loss = batch_step(model, frames, bar_labels, beat_labels, anticipation, warmup, o.gain_db, o.bf16)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss became {loss.item()} in epoch {epoch}; the last good checkpoint in {out} is kept")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total, count = total + loss.item(), count + 1
            bar.set_postfix(loss=f"{total / count:.4f}", lr=f"{learning_rate(o, epoch, planned):.1e}")
        validation = evaluate_loss(model, validation_set, o.batch_size, warmup, o.loader_threads) if len(validation_set) else float("nan")
        if o.minutes is not None and epoch == 1:
            setup_seconds, epoch_seconds = epoch_started - started, time.monotonic() - epoch_started
            planned = fit_to_budget(o, planned, setup_seconds, epoch_seconds, world, device)
            if rank == 0:
                print(f"--minutes {o.minutes:g}: epoch 1 took {epoch_seconds:.0f} s "
                      f"after {setup_seconds:.0f} s of setup, so the schedule is {planned} epoch(s)")
        if rank == 0:
            selector.save(out / f"{epoch}.pt", model, epoch=epoch, optimizer=optimizer.state_dict(),
                          planned_epochs=planned if o.minutes is not None else None,
                          train_loss=total / max(1, count), validation_loss=validation)
            write_loss_row(out / "loss.csv", epoch, total / max(1, count), validation)
            loss_curve_picture(out / "loss.csv", out / "loss.png")
            print(f"epoch {epoch}: train {total / max(1, count):.4f}  validation {validation:.4f}  -> {out / f'{epoch}.pt'}")
        epoch += 1
    leave_distributed(world)
    return out / f"{planned}.pt"


@torch.no_grad()
def evaluate_loss(model, dataset: ChunkDataset, batch_size: int, warmup: int, threads: int = 1) -> float:
    """Mean loss at anticipation 0 and ANTICIPATION_MAX, without augmentation."""
    model.eval()
    losses = []
    device = next(model.parameters()).device
    for frames, bar_labels, beat_labels in Batches(dataset, BatchSampler(SequentialSampler(dataset), batch_size, False), threads, device):
        for anticipation in (0.0, config.ANTICIPATION_MAX):
            losses.append(batch_step(model, frames, bar_labels, beat_labels, anticipation, warmup).item())
    model.train()
    return sum(losses) / len(losses)


def last_checkpoint(folder: Path) -> Path | None:
    """The highest-numbered `<epoch>.pt` in a tag's folder, if any."""
    numbered = [p for p in folder.glob("*.pt") if p.stem.isdigit()] if folder.is_dir() else []
    return max(numbered, key=lambda p: int(p.stem), default=None)


def forget_epochs(folder: Path, first: int) -> None:
    """Remove what a tag's folder says about epochs `first` onwards (their
    checkpoints and loss.csv rows; from epoch 1, loss.png too), so an epoch is
    never written twice and a later resume cannot pick up an old run's epoch."""
    for p in folder.glob("*.pt"):
        if p.stem.isdigit() and int(p.stem) >= first:
            p.unlink(missing_ok=True)
    trim_loss_rows(folder / "loss.csv", first)
    if first <= 1:
        (folder / "loss.png").unlink(missing_ok=True)


def seed_epoch(seed: int, epoch: int, rank: int, order: torch.Generator, anticipation_rng: torch.Generator) -> None:
    """Every random draw of an epoch (shuffle order, anticipation, gain,
    augmentation, dropout) follows from (seed, epoch, rank) alone, so a run
    resumed at any epoch repeats the uninterrupted one exactly."""
    def derived(*key) -> int:
        return int(hashlib.sha1(repr((seed, epoch) + key).encode()).hexdigest()[:15], 16)

    torch.manual_seed(derived("torch", rank))
    order.manual_seed(derived("order"))
    anticipation_rng.manual_seed(derived("anticipation"))


def trim_loss_rows(path: Path, start_epoch: int) -> None:
    """Keep only the rows of epochs before `start_epoch`."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < start_epoch]
    if len(kept) == 1:
        path.unlink()
    elif len(kept) != len(rows):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(kept)
        os.replace(tmp, path)


def write_loss_row(path: Path, epoch: int, train_loss: float, validation_loss: float) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["epoch", "train_loss", "validation_loss"])
        writer.writerow([epoch, f"{train_loss:.6f}", f"{validation_loss:.6f}"])
