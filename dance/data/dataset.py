"""The training dataset: chunks (`.ogg` + `.phase`, and `.beat` where the
chunk has beat labels) as raw frames and labels."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from dance import config
from dance.data.augment import augment
from dance.data.formats import read_labels, song_of_chunk


def split_by_song(chunks: list[Path], validation_fraction: float) -> tuple[list[Path], list[Path]]:
    """Train/validation split by song id (a hash of it), so no song has chunks
    on both sides, and the split of a song never changes as the corpus grows."""
    def is_validation(chunk: Path) -> bool:
        digest = hashlib.sha1(song_of_chunk(chunk).encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < validation_fraction
    train = [c for c in chunks if not is_validation(c)]
    validation = [c for c in chunks if is_validation(c)]
    return train, validation


def read_chunk_audio(path: Path) -> np.ndarray:
    samples, rate = soundfile.read(str(path), dtype="int16")
    if rate != config.SAMPLE_RATE or samples.ndim != 1:
        raise ValueError(f"{path} is not {config.SAMPLE_RATE} Hz mono")
    return np.pad(samples[: config.CHUNK_SAMPLES], (0, max(0, config.CHUNK_SAMPLES - len(samples))))


def load_chunk(chunk: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int16 samples, bar phase labels, beat phase labels) of one chunk."""
    return read_chunk_audio(chunk), read_labels(chunk.with_suffix(".phase")), read_labels(chunk.with_suffix(".beat"))


class ChunkDataset(torch.utils.data.Dataset):
    """Item i: (frames float32 [CHUNK_FRAMES, FRAME_SIZE] in [-1, 1],
    bar phase float32 [LABEL_FRAMES], beat phase float32 [LABEL_FRAMES]). Decoded chunks are kept in memory as int16
    (1 MB per chunk) when `cache` is on, so later epochs skip the OGG decoder.
    With `augment`, every item passes through a fresh random acoustic chain
    (`augment.py`), drawn from a seed (`__getitem__` draws it from torch's
    generator, so a seeded loader repeats it)."""

    def __init__(self, chunks: list[Path], cache: bool = True, augment: bool = False):
        self.chunks = list(chunks)
        self.cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = {} if cache else None
        self.augment = augment

    def __len__(self) -> int:
        return len(self.chunks)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        item = load_chunk(self.chunks[i])
        if self.cache is not None:
            self.cache[i] = item
        return item

    def decode_all(self, threads: int, progress: bool = True) -> None:
        """Decode every chunk into the cache now, `threads` at a time, so the
        first epoch runs as fast as the rest (and `--minutes` judges it fairly)."""
        if self.cache is None or len(self.cache) == len(self.chunks):
            return
        with ThreadPoolExecutor(max(1, threads)) as pool:
            list(tqdm(pool.map(self.load, range(len(self.chunks))), total=len(self.chunks), desc="decoding chunks", unit="chunk",
                      leave=False, dynamic_ncols=True, disable=not progress))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.item(i, int(torch.randint(2**62, ())))

    def item(self, i: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Item i with the augmentation drawn from `seed` (safe to call from several threads)."""
        samples, bar_labels, beat_labels = self.load(i)
        audio = samples.astype(np.float32) / 32768.0
        if self.augment:
            audio, _ = augment(audio, np.random.default_rng(seed))
        frames = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).view(config.CHUNK_FRAMES, config.FRAME_SIZE)
        return frames, torch.from_numpy(bar_labels), torch.from_numpy(beat_labels)
