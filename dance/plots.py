"""Pictures: a chunk (waveform, spectrogram, labels, bar lines), a
prediction against the truth over time, and how trackers' phase errors are
distributed."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dance import config  # noqa: E402
from dance.data.dataset import read_chunk_audio  # noqa: E402
from dance.data.formats import read_labels  # noqa: E402
from dance.data.labels import frame_instants  # noqa: E402
from dance.metrics import LOCK_TOLERANCE, downbeats  # noqa: E402


def view_chunk(chunk: Path, out: Path) -> Path:
    samples = read_chunk_audio(chunk).astype(np.float32) / 32768.0
    labels = read_labels(chunk.with_suffix(".phase"))
    t_audio = np.arange(len(samples)) / config.SAMPLE_RATE
    t_labels = frame_instants(len(labels))
    bars = downbeats(t_labels, labels)

    fig, axes = plt.subplots(3, 1, figsize=(14, 7), sharex=True, gridspec_kw={"height_ratios": [1, 1.4, 1]})
    axes[0].plot(t_audio[::4], samples[::4], lw=0.3, color="#335")
    axes[0].set_ylabel("waveform")
    axes[1].specgram(samples, NFFT=512, Fs=config.SAMPLE_RATE, noverlap=512 - config.FRAME_SIZE, cmap="magma", vmin=-120)
    axes[1].set_ylim(0, 4000)
    axes[1].set_ylabel("Hz")
    axes[2].plot(t_labels, labels, lw=1, color="#c30")
    axes[2].axvspan(config.CHUNK_SECONDS, t_labels[-1], color="#ddd", label="label headroom (no audio)")
    axes[2].set_ylabel("bar phase")
    axes[2].set_xlabel("seconds (label instant = end of frame)")
    axes[2].legend(loc="upper right", fontsize=8)
    for ax in axes:
        for b in bars:
            ax.axvline(b, color="#0a8", lw=0.8, alpha=0.7)
    axes[0].set_title(f"{chunk.name}: {len(bars)} downbeats (green)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def prediction_picture(times: np.ndarray, predicted: np.ndarray, out: Path, title: str,
                       truth: np.ndarray | None = None, reference_downbeats: np.ndarray | None = None) -> Path:
    """Predicted phase (and the true one when known) over time, downbeats marked."""
    fig, ax = plt.subplots(figsize=(14, 3.6))
    if truth is not None:
        ax.plot(times, truth, lw=2.2, color="#9bd", label="true phase")
    ax.plot(times, predicted, lw=0.9, color="#c30", label="predicted phase")
    for i, b in enumerate(downbeats(times, predicted)):
        ax.axvline(b, color="#c30", lw=0.6, ls=":", label="predicted downbeat" if i == 0 else None)
    for i, b in enumerate(reference_downbeats if reference_downbeats is not None else []):
        ax.axvline(b, color="#0a8", lw=0.8, alpha=0.6, label="true downbeat" if i == 0 else None)
    ax.set_xlim(times[0], times[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("seconds")
    ax.set_ylabel("bar phase")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8, ncol=4)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def loss_curve_picture(loss_csv: Path, out: Path) -> Path:
    """Training and validation loss per epoch from a run's loss.csv."""
    rows = np.genfromtxt(loss_csv, delimiter=",", names=True, ndmin=1)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(rows["epoch"], rows["train_loss"], "o-", label="training")
    ax.plot(rows["epoch"], rows["validation_loss"], "s-", label="validation (unseen songs)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (1 - cos of phase error)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def error_histogram_picture(errors: dict[str, np.ndarray], out: Path, title: str) -> Path:
    """Per tracker, the share of frames at each signed phase error (bars):
    a tracker that follows the bar with jitter has one wide peak at 0, one
    that loses the bar spreads flat, one a beat off peaks at +-1/4 or 1/3.
    The shaded band is the lock rule's tolerance."""
    fig, ax = plt.subplots(figsize=(10, 3.8))
    edges = np.linspace(-0.5, 0.5, 41)
    for name, e in errors.items():
        share = np.histogram(e, bins=edges)[0] / max(len(e), 1)
        near = float(np.mean(np.abs(e) < LOCK_TOLERANCE)) if len(e) else float("nan")
        ax.stairs(share, edges, lw=1.6, label=f"{name}: {near:.0%} of frames within {LOCK_TOLERANCE} bar, mean |error| {np.abs(e).mean():.3f}")
    ax.axvspan(-LOCK_TOLERANCE, LOCK_TOLERANCE, color="#eee", zorder=0)
    ax.set_xlim(-0.5, 0.5)
    ax.set_xlabel("predicted minus true phase (bars; negative = behind)")
    ax.set_ylabel("share of frames")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
