"""``loihi-snn plot`` (a run's training curves from its logs) and ``loihi-snn raster`` (per-layer
spike rasters of a network file on a few samples). PNGs through matplotlib's Agg canvas, written
atomically; matplotlib, torch and Lava are imported inside the functions only."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .errors import LoihiSnnError
from .fileio import atomic_path
from .runlog import METRICS, METRICS_CSV, STEPS_CSV, read_csv

CURVES = "training.png"  # plot's output in the run folder
MAX_NEURONS = 128  # raster rows per layer; larger layers are subsampled evenly


def _column(rows: list[dict], key: str) -> np.ndarray:
    """A log column as floats (NaN where a row has no value, e.g. before a metric existed)."""
    return np.array([float(row[key]) if row.get(key) not in (None, "") else math.nan
                     for row in rows])


def _epoch_rows(run: Path) -> list[dict]:
    """The per-epoch rows of a run: metrics.csv, or metrics.json of runs from before it."""
    if (run / METRICS_CSV).exists():
        rows = read_csv(run / METRICS_CSV)
    elif (run / METRICS).exists():
        rows = json.loads((run / METRICS).read_text())
    else:
        rows = []
    if not rows:
        raise LoihiSnnError(
            f"{run} has no training log ({METRICS_CSV}): give a run folder that 'loihi-snn "
            f"train' wrote at least one epoch into"
        )
    return rows


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Loss, accuracy and learning-rate curves of a run folder against epochs (a batch at its
    fraction of its epoch): the loss of every batch and each epoch's mean, train, validation and
    test accuracy with the best validation epoch marked, the learning rate. Written as a PNG to
    ``out`` (default ``<run>/training.png``); returns its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run = Path(run_dir)
    if not run.is_dir():
        raise LoihiSnnError(f"run folder {run} not found: give the folder 'loihi-snn train' wrote")
    epochs = _epoch_rows(run)
    steps = read_csv(run / STEPS_CSV) if (run / STEPS_CSV).exists() else []
    x_epoch = _column(epochs, "epoch")
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax, lr_ax = fig.subplots(1, 3)
    if steps:
        step_epoch = _column(steps, "epoch")
        x_step = np.empty(len(steps))
        for e in np.unique(step_epoch):  # batch k of m in epoch e at e - 1 + k / m
            mine = np.flatnonzero(step_epoch == e)
            x_step[mine] = e - 1 + np.arange(1, len(mine) + 1) / len(mine)
        loss_ax.plot(x_step, _column(steps, "loss"), lw=0.6, alpha=0.5, label="batch")
        lr_ax.plot(x_step, _column(steps, "lr"), lw=1.2)
    elif not np.isnan(_column(epochs, "lr")).all():
        lr_ax.plot(x_epoch, _column(epochs, "lr"), "o-", ms=3)
    else:
        lr_ax.text(0.5, 0.5, "not logged by this run", ha="center", transform=lr_ax.transAxes)
    loss_ax.plot(x_epoch, _column(epochs, "train_loss"), "o-", ms=3, label="epoch mean")
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="loss")
    loss_ax.legend()
    for key, label in (("train_accuracy", "train"), ("val_accuracy", "validation"),
                       ("test_accuracy", "test")):
        values = _column(epochs, key)
        if not np.isnan(values).all():
            acc_ax.plot(x_epoch, values, "o-", ms=3, label=label)
    val = _column(epochs, "val_accuracy")
    if not np.isnan(val).all():
        best = int(np.nanargmax(val))
        acc_ax.axvline(x_epoch[best], color="grey", ls=":", lw=1)
        acc_ax.annotate(f"best {val[best]:.4f}", (x_epoch[best], val[best]),
                        textcoords="offset points", xytext=(4, -12), fontsize=8)
    acc_ax.set(xlabel="epoch", ylabel="accuracy (quantised, eval)", title="accuracy")
    acc_ax.legend()
    lr_ax.set(xlabel="epoch", ylabel="learning rate", title="learning rate")
    fig.suptitle(f"{run.resolve().name}: {len(epochs)} epochs, {len(steps)} logged batches")
    path = Path(out) if out else run / CURVES
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def neuron_rows(neurons: int, limit: int = MAX_NEURONS) -> np.ndarray:
    """The neurons a raster shows: all, or ``limit`` spread evenly over a larger layer."""
    if neurons <= limit:
        return np.arange(neurons)
    return np.unique(np.linspace(0, neurons - 1, limit).round().astype(np.int64))


def plot_raster(
    net: str | Path,
    n: int = 1,
    backend: str = "fast",
    input_npy: str | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    out: str | Path | None = None,
    max_neurons: int = MAX_NEURONS,
) -> Path:
    """Spike rasters of every layer with neurons of ``net`` on ``backend``, for its first ``n``
    test samples (:func:`~loihi_snn.evaluation.test_inputs`: the file's own, or ``input_npy``, or
    ``dataset``'s for a file from elsewhere): one panel per layer, time steps of the samples side
    by side, at most ``max_neurons`` rows per layer. Written as a PNG to ``out`` (default
    ``<net>.raster.png`` beside the file); returns its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .evaluation import run_backend, test_inputs
    from .ir.hdf5 import read_network

    if n < 1 or max_neurons < 1:
        raise LoihiSnnError("raster: -n and --max-neurons must be at least 1")
    graph = read_network(net)
    inputs = test_inputs(graph, n, dataset, data_dir, input_npy)
    result = run_backend(backend, graph, inputs.x, progress=False)
    layers = list(zip(graph.populations, result.spikes, strict=True))
    samples, _, steps = result.spikes[0].shape
    fig = Figure(figsize=(10, 1.2 + 1.7 * len(layers)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(layers), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (index, spikes) in zip(axes, layers, strict=True):
        neurons = spikes.shape[1]
        rows = neuron_rows(neurons, max_neurons)
        trace = np.moveaxis(spikes[:, rows], 0, 1).reshape(len(rows), samples * steps)
        y, t = np.nonzero(trace)
        ax.scatter(t, y, s=4, marker="|", linewidths=0.8, color="black")
        for k in range(1, samples):
            ax.axvline(k * steps - 0.5, color="tab:red", lw=0.6)
        shown = "" if len(rows) == neurons else f", {len(rows)} shown"
        if index == graph.populations[-1] and graph.voltage_readout:
            shown += ", never spikes (classes read from its voltage)"
        ax.set_title(
            f"{graph.tag(index)}, {neurons} neurons{shown}, "
            f"{int(spikes.sum())} spikes", fontsize=9, loc="left"
        )
        ax.set_ylim(-0.5, len(rows) - 0.5)
        ax.set_ylabel("neuron")
    axes[-1].set_xlim(-0.5, samples * steps - 0.5)
    axes[-1].set_xlabel(f"time step ({samples} sample{'s' * (samples > 1)} of {steps} steps)")
    title = f"{graph.name}: spikes on the {backend} backend"
    if inputs.labels is not None and samples <= 8:
        title += f"; labels {inputs.labels.tolist()}, predicted {result.predictions.tolist()}"
    fig.suptitle(title)
    path = Path(out) if out else Path(net).with_name(f"{Path(net).stem}.raster.png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path
