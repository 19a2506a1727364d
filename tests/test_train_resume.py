"""Rerunning `train` on an existing tag: it resumes after the last finished
epoch (what the Ctrl-C message promises), loss.csv never gets a row twice, a
resumed run equals an uninterrupted one, and nothing-to-do says so."""

import csv
import hashlib

import pytest
import torch

from dance import train as training
from dance.cli import main
from dance.model import selector
from dance.train import Options, train

TINY = dict(channels=16, layers=4, n_mels=32)


@pytest.fixture(autouse=True)
def no_pictures(monkeypatch):
    """The loss picture costs a second per epoch and is not what these tests check."""
    monkeypatch.setattr(training, "loss_curve_picture", lambda *args: None)


def options(chunks, root, tag, epochs, **extra):
    return Options("phase_tcn_mel", chunks, tag, epochs=epochs, batch_size=1, dataset_size=2, checkpoints=root, hparams=TINY, **extra)


def rows(folder):
    with open(folder / "loss.csv") as f:
        return [(int(r["epoch"]), r["train_loss"], r["validation_loss"]) for r in csv.DictReader(f)]


def weights(path):
    return selector.load(path)[0].state_dict()


def digest(path):
    return hashlib.sha1(path.read_bytes()).hexdigest()


def interrupt_in_epoch(monkeypatch, epoch):
    """Ctrl-C in the middle of `epoch` (its second training batch)."""
    real = training.batch_step
    calls = {"n": 0}

    def step(model, frames, bar_labels, beat_labels, anticipation, warmup, gain_db=None, bf16=False):
        if gain_db is not None:  # a training batch, not validation
            calls["n"] += 1
            if calls["n"] == 2 * (epoch - 1) + 2:
                raise KeyboardInterrupt
        return real(model, frames, bar_labels, beat_labels, anticipation, warmup, gain_db, bf16)

    monkeypatch.setattr(training, "batch_step", step)


def test_an_interrupted_run_rerun_resumes_and_matches_an_uninterrupted_one(small_chunks, tmp_path, monkeypatch, capsys):
    train(options(small_chunks, tmp_path, "straight", 3))
    with monkeypatch.context() as m:
        interrupt_in_epoch(m, 3)
        with pytest.raises(KeyboardInterrupt):
            train(options(small_chunks, tmp_path, "cut", 3))
    cut = tmp_path / "cut"
    assert sorted(p.name for p in cut.glob("*.pt")) == ["1.pt", "2.pt"]
    before = digest(cut / "1.pt"), digest(cut / "2.pt")
    capsys.readouterr()
    last = train(options(small_chunks, tmp_path, "cut", 3))  # the same command again
    assert "resuming" in capsys.readouterr().out
    assert last == cut / "3.pt"
    assert (digest(cut / "1.pt"), digest(cut / "2.pt")) == before  # finished epochs are not redone
    assert [r[0] for r in rows(cut)] == [1, 2, 3]
    assert rows(cut) == rows(tmp_path / "straight")
    for a, b in zip(weights(cut / "3.pt").values(), weights(tmp_path / "straight" / "3.pt").values()):
        assert torch.equal(a, b)


def test_explicit_resume_from_an_earlier_epoch_redoes_it_without_duplicate_rows(small_chunks, tmp_path):
    train(options(small_chunks, tmp_path, "r", 3))
    original = rows(tmp_path / "r")
    third = weights(tmp_path / "r" / "3.pt")
    train(options(small_chunks, tmp_path, "r", 3, resume=tmp_path / "r" / "1.pt"))
    assert rows(tmp_path / "r") == original
    for a, b in zip(weights(tmp_path / "r" / "3.pt").values(), third.values()):
        assert torch.equal(a, b)


def test_restart_starts_again(small_chunks, tmp_path, capsys):
    train(options(small_chunks, tmp_path, "t", 2))
    train(options(small_chunks, tmp_path, "t", 1, restart=True))
    assert sorted(p.name for p in (tmp_path / "t").glob("*.pt")) == ["1.pt"]
    assert [r[0] for r in rows(tmp_path / "t")] == [1]


def test_nothing_to_do_says_so(small_chunks, tmp_path, capsys):
    train(options(small_chunks, tmp_path, "n", 2))
    args = ["train", "phase_tcn_mel", "--chunks-path", str(small_chunks), "-t", "n", "--checkpoints", str(tmp_path), "--dataset-size", "2"]
    for extra in (["--resume", str(tmp_path / "n" / "2.pt"), "-e", "1"], ["-e", "2"]):
        capsys.readouterr()
        assert main(args + extra) == 0
        out = capsys.readouterr().out
        assert "nothing to do" in out and f"last checkpoint: {tmp_path / 'n' / '2.pt'}" in out
        assert "1.pt" not in out
    assert [r[0] for r in rows(tmp_path / "n")] == [1, 2]
