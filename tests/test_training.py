"""Training: the overfit check, a stop on non-finite loss that keeps the last
good checkpoint, resume, and data-parallel training with torchrun (gloo)."""

import csv
import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from dance.data.formats import find_chunks
from dance.train import Options, TrainingError, train

TINY = dict(channels=16, layers=5, n_mels=32)


def losses(tag_folder):
    with open(tag_folder / "loss.csv") as f:
        return [float(row["train_loss"]) for row in csv.DictReader(f)]


def test_overfit_a_few_chunks(small_chunks, tmp_path):
    options = Options("phase_tcn_mel", small_chunks, "overfit", epochs=40, batch_size=2, lr=5e-3,
                      dataset_size=2, checkpoints=tmp_path, hparams=TINY)
    train(options)
    curve = losses(tmp_path / "overfit")
    assert len(curve) == 40
    assert min(curve[-5:]) < 0.5 * curve[0], curve


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(small_chunks, tmp_path):
    train(Options("phase_tcn_mel", small_chunks, "run", epochs=1, batch_size=2, dataset_size=2, checkpoints=tmp_path, hparams=TINY))
    good = tmp_path / "run" / "1.pt"
    digest = hashlib.sha1(good.read_bytes()).hexdigest()
    poisoned = tmp_path / "poisoned"
    poisoned.mkdir()
    for chunk in find_chunks(small_chunks)[:2]:
        shutil.copy(chunk, poisoned / chunk.name)
        (poisoned / chunk.with_suffix(".phase").name).write_text("nan\n" * 1650)
    with pytest.raises(TrainingError, match="loss became nan in epoch 2"):
        train(Options("phase_tcn_mel", poisoned, "run", epochs=2, batch_size=2, dataset_size=2, checkpoints=tmp_path, resume=good))
    assert hashlib.sha1(good.read_bytes()).hexdigest() == digest
    assert not (tmp_path / "run" / "2.pt").exists()


def test_resume_continues_from_the_next_epoch(small_chunks, tmp_path):
    common = dict(batch_size=2, dataset_size=2, checkpoints=tmp_path, hparams=TINY)
    train(Options("phase_tcn_mel", small_chunks, "r", epochs=1, **common))
    train(Options("phase_tcn_mel", small_chunks, "r", epochs=2, resume=tmp_path / "r" / "1.pt", **common))
    assert (tmp_path / "r" / "2.pt").exists() and len(losses(tmp_path / "r")) == 2


def test_torchrun_two_cpu_processes(small_chunks, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "dance",
           "train", "phase_tcn_mel", "--chunks-path", str(small_chunks), "-t", "ddp", "-e", "1", "-b", "1",
           "--dataset-size", "4", "--checkpoints", str(tmp_path), "--minutes", "60"]  # --minutes: its plan is broadcast
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower() or "terminate" in line.lower()]
    assert result.returncode == 0, "\n".join(errors[:20]) + "\n...\n" + result.stderr[-1500:]
    assert "2 process(es)" in result.stdout
    assert (tmp_path / "ddp" / "1.pt").exists() and len(losses(tmp_path / "ddp")) == 1


def test_bf16_runs_the_network_in_bfloat16_and_the_log_mel_in_float32(small_chunks):
    import torch

    from dance.data.dataset import ChunkDataset
    from dance.model.phase_tcn_mel import PhaseTCNMel
    from dance.train import batch_step

    torch.manual_seed(0)
    model = PhaseTCNMel(onset_flux=True, beats=True, **TINY).eval()  # no dropout: the two passes differ only in precision
    seen = {}
    model.frontend.register_forward_hook(lambda module, inputs, output: seen.update(frontend=output[0].dtype))
    model.blocks[0].conv.conv.register_forward_hook(lambda module, inputs, output: seen.update(block=output.dtype))
    frames, bar, beat = next(iter(torch.utils.data.DataLoader(ChunkDataset(find_chunks(small_chunks)[:2]), batch_size=2)))
    full = batch_step(model, frames, bar, beat, 0.25, 50)
    assert seen == {"frontend": torch.float32, "block": torch.float32}
    half = batch_step(model, frames, bar, beat, 0.25, 50, bf16=True)
    assert seen == {"frontend": torch.float32, "block": torch.bfloat16}
    assert half.dtype == torch.float32 and abs(half.item() - full.item()) < 0.02 * full.item()


def test_threaded_batches_equal_the_datasets_items_whatever_the_thread_count(small_chunks):
    from torch.utils.data import BatchSampler, SequentialSampler
    from dance.data.dataset import ChunkDataset
    from dance.data.loader import Batches
    dataset = ChunkDataset(find_chunks(small_chunks)[:4], augment=True)
    torch.manual_seed(0)
    items = [dataset[i] for i in range(4)]  # the seeds come from torch's generator in order, as the loader draws them
    runs = []
    for threads in (1, 3):
        torch.manual_seed(0)
        runs.append(list(Batches(dataset, BatchSampler(SequentialSampler(dataset), 2, False), threads, torch.device("cpu"))))
    for run in runs:
        assert len(run) == 2
        for k, (frames, bar, beat) in enumerate(run):
            torch.testing.assert_close(frames, torch.stack([items[2 * k + j][0] for j in range(2)]), rtol=0, atol=0)
            torch.testing.assert_close(bar, torch.stack([items[2 * k + j][1] for j in range(2)]), rtol=0, atol=0, equal_nan=True)
            torch.testing.assert_close(beat, torch.stack([items[2 * k + j][2] for j in range(2)]), rtol=0, atol=0, equal_nan=True)
    assert not torch.equal(runs[0][0][0], ChunkDataset(dataset.chunks)[0][0][None].expand(2, -1, -1))  # augmented


def test_decoding_all_chunks_up_front_caches_what_the_lazy_path_reads(small_chunks):
    from dance.data.dataset import ChunkDataset, load_chunk
    chunks = find_chunks(small_chunks)[:3]
    dataset = ChunkDataset(chunks)
    dataset.decode_all(threads=2)
    assert sorted(dataset.cache) == [0, 1, 2]
    for i, chunk in enumerate(chunks):
        for cached, fresh in zip(dataset.cache[i], load_chunk(chunk)):
            np.testing.assert_array_equal(cached, fresh)  # NaN (no beat labels) equals NaN here


def test_loader_threads_train(small_chunks, tmp_path):
    train(Options("phase_tcn_mel", small_chunks, "w", epochs=1, batch_size=2, dataset_size=4, checkpoints=tmp_path,
                  hparams=TINY, loader_threads=3))
    assert (tmp_path / "w" / "1.pt").exists() and len(losses(tmp_path / "w")) == 1


def test_minutes_fits_the_schedule_after_the_first_epoch_and_a_rerun_keeps_it(small_chunks, tmp_path, capsys):
    from dance.model import selector
    common = dict(batch_size=2, dataset_size=2, checkpoints=tmp_path, hparams=TINY)
    train(Options("phase_tcn_mel", small_chunks, "tight", epochs=5, minutes=1e-4, **common))
    assert losses(tmp_path / "tight") and len(losses(tmp_path / "tight")) == 1
    assert selector.read(tmp_path / "tight" / "1.pt")["planned_epochs"] == 1
    assert "so the schedule is 1 epoch(s)" in capsys.readouterr().out
    train(Options("phase_tcn_mel", small_chunks, "tight", epochs=5, minutes=1e-4, **common))
    assert "nothing to do" in capsys.readouterr().out
    train(Options("phase_tcn_mel", small_chunks, "roomy", epochs=2, minutes=60, **common))
    assert len(losses(tmp_path / "roomy")) == 2  # -e still caps the schedule
    with pytest.raises(TrainingError, match="--minutes must be a positive"):
        train(Options("phase_tcn_mel", small_chunks, "none", epochs=2, minutes=0, **common))
