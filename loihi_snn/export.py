"""``loihi-snn export``: a trained run (or checkpoint) to a NetX HDF5 file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from . import __version__
from .ir.graph import GRAPH_FORMAT
from .models.resnet import GraphNet
from .models.sequential import FORMAT_VERSION
from .train import CHECKPOINT, load_checkpoint


def export(source: str | Path, out: str | Path) -> Path:
    """Write the network of ``source`` (run directory or checkpoint file) to ``out``.

    A sequential network is plain NetX (lava-dl's ``netx.hdf5.Network`` loads it unchanged); a
    residual one is a graph file (format 2, export/GRAPH_FORMAT.md). The root attribute
    ``loihi_snn`` (JSON) adds what the toolkit needs to feed and check it: encoder, levels, time
    steps, dataset, classes, and the checkpoint it came from (path relative to the file; sha256).
    """
    source = Path(source)
    ckpt_path = source / CHECKPOINT if source.is_dir() else source
    trained, _ = load_checkpoint(ckpt_path)
    out = Path(out)
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
