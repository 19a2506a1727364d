"""Training batches, built by a pool of threads inside the training process.

Threads, not DataLoader worker processes: on a 16-core H100 machine 14 worker
processes delivered 266 chunks/s while the GPU step took 1,194
(`bench/train_speed.py --stages`), because every batch (65 MB of float32 frames
at batch 32) crossed between processes through freshly mapped shared memory.
Decoding (libsndfile through cffi) and the acoustic chain (pedalboard, NumPy)
release the GIL, so threads scale with the cores, share one cache of decoded
chunks, and a batch reaches the GPU through one reused page-locked buffer.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

from dance.data.dataset import ChunkDataset

PREFETCH_BATCHES = 2  # batches in the making while the model trains on the current one


class Batches:
    """Iterates (frames [B, T, FRAME_SIZE] on `device`, bar labels [B, L],
    beat labels [B, L]) over the index batches of `batch_sampler`. Each item's
    augmentation seed is drawn from torch's generator in this thread, in batch
    order, so a seeded run repeats exactly whatever the thread count."""

    def __init__(self, dataset: ChunkDataset | torch.utils.data.ConcatDataset, batch_sampler: Iterable[list[int]],
                 threads: int, device: torch.device):
        self.dataset, self.batch_sampler, self.threads, self.device = dataset, batch_sampler, max(1, threads), device
        self.staging: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        with ThreadPoolExecutor(self.threads, thread_name_prefix="loader") as pool:
            pending: deque[list] = deque()
            for indices in self.batch_sampler:
                pending.append([pool.submit(self.item, i, seed) for i, seed in zip(indices, draw_seeds(len(indices)))])
                if len(pending) > PREFETCH_BATCHES:
                    yield self.collate([f.result() for f in pending.popleft()])
            while pending:
                yield self.collate([f.result() for f in pending.popleft()])

    def item(self, i: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        part, index = locate(self.dataset, i)
        return part.item(index, seed)

    def collate(self, items: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        frames, bar, beat = zip(*items)
        return self.to_device(frames), torch.stack(bar), torch.stack(beat)

    def to_device(self, frames: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.device.type != "cuda":
            return torch.stack(frames)
        shape = (len(frames), *frames[0].shape)
        if self.staging is None or self.staging.shape != shape:
            self.staging = torch.empty(shape, dtype=frames[0].dtype, pin_memory=True)
        torch.stack(frames, out=self.staging)
        return self.staging.to(self.device)  # synchronous: the buffer is free again when this returns


def draw_seeds(n: int) -> list[int]:
    return torch.randint(2**62, (n,)).tolist()


def locate(dataset: ChunkDataset | torch.utils.data.ConcatDataset, i: int) -> tuple[ChunkDataset, int]:
    """The ChunkDataset holding item i, and its index there."""
    if not isinstance(dataset, torch.utils.data.ConcatDataset):
        return dataset, i
    k = bisect.bisect_right(dataset.cumulative_sizes, i)  # as ConcatDataset.__getitem__ finds it
    return dataset.datasets[k], i - (dataset.cumulative_sizes[k - 1] if k else 0)
