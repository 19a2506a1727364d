"""Model selector and checkpoints. A checkpoint holds the model's name and
hyperparameters with its weights, so the file alone rebuilds the model."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import nn

from dance.errors import DanceError
from dance.model.phase_tcn_mel import PhaseTCNMel

MODELS: dict[str, type[nn.Module]] = {"phase_tcn_mel": PhaseTCNMel}
FORMAT = "dance-checkpoint-1"


class CheckpointError(DanceError):
    """A file that is not a usable dance checkpoint; the message is one line."""


def create(name: str, **hparams) -> nn.Module:
    if name not in MODELS:
        raise CheckpointError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    try:
        return MODELS[name](**hparams)
    except (TypeError, ValueError) as e:  # an unknown hyperparameter name or value
        raise CheckpointError(f"{name}: {e}") from None


def name_of(model: nn.Module) -> str:
    return next(name for name, cls in MODELS.items() if isinstance(model, cls))


def save(path: Path, model: nn.Module, **extra) -> None:
    """Write atomically: a crash mid-save never leaves a broken checkpoint."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {"format": FORMAT, "model": name_of(model), "hparams": model.hparams, "weights": model.state_dict(), **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def read(path: Path) -> dict:
    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        # weights_only: plain containers, numbers, strings and tensors; a pickle
        # that names any other class or function is refused before it runs
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path} is not a dance checkpoint: it holds objects other than weights and plain values, "
                              "which are never loaded (they could run code)") from None
    except Exception as e:
        raise CheckpointError(f"{path} is not a dance checkpoint ({type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dance checkpoint (no '{FORMAT}' marker)")
    return payload


def load(path: Path, expect: str | None = None) -> tuple[nn.Module, dict]:
    """(model in eval mode, the whole checkpoint dict)."""
    payload = read(path)
    if expect is not None and payload["model"] != expect:
        raise CheckpointError(f"{path} holds a {payload['model']} model, not {expect}")
    model = create(payload["model"], **payload["hparams"])
    try:
        model.load_state_dict(payload["weights"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit {payload['model']}: {str(e).splitlines()[0]}") from None
    return model.eval(), payload


def grow(path: Path, expect: str, **hparams) -> tuple[nn.Module, list[str]]:
    """A model with the checkpoint's hyperparameters changed by `hparams` so
    that it gains parts (say, a head), starting from every checkpoint weight;
    returns it with the names of the weights that start fresh. A change that
    resizes or drops a checkpoint weight is an error: nothing learned is lost silently."""
    payload = read(path)
    if payload["model"] != expect:
        raise CheckpointError(f"{path} holds a {payload['model']} model, not {expect}")
    model = create(expect, **{**payload["hparams"], **hparams})
    own = model.state_dict()
    misfits = [k for k, w in payload["weights"].items() if k not in own or own[k].shape != w.shape]
    if misfits:
        raise CheckpointError(f"{path}: {len(misfits)} of its weights do not fit {expect} with {hparams} "
                              f"(first: {misfits[0]}); --hparam with --init may only add parts, such as beats=true")
    model.load_state_dict(payload["weights"], strict=False)
    return model, sorted(set(own) - set(payload["weights"]))


def ship(checkpoint: Path, destination: Path) -> None:
    """Copy a checkpoint's model and its training record, without optimiser state."""
    model, payload = load(checkpoint)
    record = {k: payload[k] for k in ("epoch", "train_loss", "validation_loss") if k in payload}
    save(destination, model, source=str(checkpoint), **record)


def blend(first: Path, second: Path, share: float) -> nn.Module:
    """The first checkpoint's model with every weight moved `share` of the way
    to the second's: (1 - share) * first + share * second. Two fine-tunings of
    one model (or a model and its fine-tuning) blend into one that often keeps
    the strengths of both (weight-space ensembling, WiSE-FT), at no cost at
    inference; models that do not share an ancestor blend into noise. When the
    second was grown from the first with parts that start at zero (the semitone
    bands' input), the first is grown the same way first: it computes what it
    did, and the blend keeps the second's hyperparameters."""
    if not 0 <= share <= 1:
        raise CheckpointError(f"the share of the second checkpoint must be between 0 and 1, got {share}")
    model, payload = load(first)
    other = read(second)
    if other["model"] == payload["model"] and other["hparams"] != payload["hparams"]:
        try:
            grown, fresh = grow(first, payload["model"], **other["hparams"])
        except CheckpointError:
            fresh = None  # not a growth of the first: the check below says so
        if fresh and all(not w.any() for k, w in grown.state_dict().items() if k in fresh):
            model = grown
    own = model.state_dict()
    if other["model"] != payload["model"] or {k: w.shape for k, w in other["weights"].items()} != {k: w.shape for k, w in own.items()}:
        raise CheckpointError(f"{first} and {second} do not hold the same network ({payload['model']} {payload['hparams']} "
                              f"against {other['model']} {other['hparams']}), so their weights cannot be blended")
    model.load_state_dict({k: torch.lerp(w, other["weights"][k].to(w.dtype), share) if w.is_floating_point() else w for k, w in own.items()})
    return model

