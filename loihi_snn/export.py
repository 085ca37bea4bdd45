"""``loihi-snn export``: a trained run (or checkpoint) to a NetX HDF5 file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from . import __version__
from .data import load_dataset
from .errors import LoihiSnnError
from .fileio import atomic_path
from .ir.graph import GRAPH_FORMAT
from .models.resnet import GraphNet
from .models.sequential import FORMAT_VERSION
from .recipe import Recipe, recipe_toml
from .train import BEST, CHECKPOINT, Trained, load_checkpoint, model_state

CHECKPOINTS = {"last": CHECKPOINT, "best": BEST}  # which checkpoint of a run folder


def export(
    source: str | Path | Trained | torch.nn.Module,
    out: str | Path,
    recipe: Recipe | None = None,
    checkpoint: str = "last",
) -> Path:
    """Write the network of ``source`` to ``out``: a run directory or checkpoint file, a
    :class:`~loihi_snn.train.Trained` (``load_checkpoint``'s), or an in-memory model the toolkit
    builds from ``recipe`` (SpikingNet, GraphNet, SpartaNet: e.g. one trained or changed in a
    notebook). An in-memory model is saved first as a checkpoint beside ``out``
    (``<out>.checkpoint.pt``) so that the file's test data and trained model stay known. Of a run
    directory ``checkpoint`` picks the ``last`` epoch's checkpoint (the default) or ``best.pt``,
    the epoch with the best validation accuracy.

    A sequential network is plain NetX (lava-dl's ``netx.hdf5.Network`` loads it unchanged); a
    residual one is a graph file (format 2, export/GRAPH_FORMAT.md). The root attribute
    ``loihi_snn`` (JSON) adds what the toolkit needs to feed and check it: encoder, levels, time
    steps, dataset, classes, and the checkpoint it came from (path relative to the file; sha256).
    """
    out = Path(out)
    if isinstance(source, str | Path):
        ckpt_path = _checkpoint_path(Path(source), checkpoint)
        trained, _ = load_checkpoint(ckpt_path)
    else:
        trained = _in_memory(source, recipe)
        ckpt_path = out.with_name(f"{out.name}.checkpoint.pt")
        save_checkpoint(trained, ckpt_path)
    d = trained.recipe.data
    meta = {
        "format_version": GRAPH_FORMAT
        if isinstance(trained.model, GraphNet) or getattr(trained.model, "graph_format", False)
        else FORMAT_VERSION,
        "producer": f"loihi_snn {__version__}",
        "name": trained.recipe.name,
        "epoch": trained.epoch,
        "dataset": d.dataset,
        "encoder": d.encoder,
        "levels": d.levels,
        "time_steps": d.time_steps,
        "input_shape": list(trained.model.input_shape),
        "classes": list(trained.data.classes),
        "checkpoint": os.path.relpath(ckpt_path.resolve(), out.resolve().parent),
        "checkpoint_sha256": hashlib.sha256(ckpt_path.read_bytes()).hexdigest(),
    }
    return trained.model.export_hdf5(out, meta)


def _checkpoint_path(source: Path, checkpoint: str) -> Path:
    """The checkpoint file to export: ``source`` itself, or the ``last`` or ``best`` one of a run
    folder."""
    if checkpoint not in CHECKPOINTS:
        raise LoihiSnnError(
            f"checkpoint must be one of {', '.join(CHECKPOINTS)}, not {checkpoint!r}"
        )
    if source.is_file() and checkpoint != "last":
        raise LoihiSnnError(
            f"{source} is a checkpoint file: the {checkpoint} checkpoint is picked from a run "
            f"folder, give the folder"
        )
    if not source.is_dir():
        return source
    path = source / CHECKPOINTS[checkpoint]
    if checkpoint == "best" and not path.exists() and (source / CHECKPOINT).exists():
        raise LoihiSnnError(
            f"{source} has no {BEST}: the run holds out no validation split (train.val_fraction = "
            f"0, or trained before validation splits): export its last checkpoint"
        )
    return path


def _in_memory(source: Trained | torch.nn.Module, recipe: Recipe | None) -> Trained:
    if isinstance(source, Trained):
        return source
    if not hasattr(source, "export_hdf5") or not hasattr(source, "input_shape"):
        raise LoihiSnnError(
            f"cannot export a {type(source).__name__}: give a run folder, a checkpoint, a Trained "
            f"or a model the toolkit builds from a recipe (loihi_snn.train.build_model)"
        )
    if recipe is None:
        raise LoihiSnnError("exporting a model needs the recipe it was built from (recipe)")
    d = recipe.data
    return Trained(recipe, source, load_dataset(d.dataset, d.path, d.test_fraction, recipe.seed), 0)


def save_checkpoint(trained: Trained, path: Path) -> None:
    """A checkpoint of a model alone (no optimiser state: it cannot be resumed, only loaded)."""
    state = {
        "model": model_state(trained.model),
        "epoch": trained.epoch,
        "history": [],
        "recipe": recipe_toml(trained.recipe),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
