"""``sim`` and ``verify``: the exported file in Lava against the data and the trained model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .backends.result import SimResult, join_results
from .data import load_dataset
from .errors import LoihiSnnError
from .ir.graph import Graph
from .ir.hdf5 import read_network
from .progress import Progress
from .train import Trained, encode_split, load_checkpoint, predict

BACKENDS = ("lava", "fast")
FAST_SLICE = 256  # samples per fast-backend call between progress updates (its batch size)


def run_backend(
    backend: str,
    info: Graph,
    inputs: np.ndarray,
    steps: int | None = None,
    record_all: bool = True,
    hardware: bool = False,
    record_states: bool = False,
    progress: bool = True,
) -> SimResult:
    """Run ``inputs`` through the file with ``lava`` (Lava fixed_pt, or Loihi 2 with ``hardware``)
    or ``fast`` (the batched bit-exact re-implementation); both return the same SimResult. Both
    show progress on stderr (a Lava run always: it is slow; the fast backend with ``progress``)."""
    if backend == "fast" and hardware:
        raise LoihiSnnError("the hardware runs on Loihi 2 through Lava: use the lava backend")
    if backend not in BACKENDS:
        raise LoihiSnnError(f"unknown backend '{backend}': use one of {', '.join(BACKENDS)}")
    if backend == "fast":
        return _run_fast(info, inputs, steps, record_all, record_states, progress)
    from .backends.lava import run_lava

    return run_lava(
        info, inputs, steps, record_all=record_all, hardware=hardware, record_states=record_states
    )


def _run_fast(
    info: Graph,
    inputs: np.ndarray,
    steps: int | None,
    record_all: bool,
    record_states: bool,
    progress: bool,
) -> SimResult:
    """The fast backend on slices of FAST_SLICE samples, with progress on stderr."""
    from .backends.fast import FastRunner, run_fast

    runner = FastRunner(info)
    parts = []
    with Progress(len(inputs), f"fast run of {info.name}", enabled=progress) as bar:
        for start in range(0, len(inputs), FAST_SLICE):
            part = inputs[start : start + FAST_SLICE]
            parts.append(run_fast(info, part, steps, record_all, record_states, runner=runner))
            bar.advance_to(start + len(part))
    return join_results(parts)


@dataclass
class TestInputs:
    """The inputs a command feeds a file: x as the backends take it, labels when known, and the
    trained model the file came from (None for files from elsewhere)."""

    x: np.ndarray
    labels: np.ndarray | None
    trained: Trained | None


@dataclass
class SimReport:
    samples: int
    accuracy: float | None
    agreement: float | None  # share of Lava predictions equal to the trained model's
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class LayerCheck:
    """One layer with neurons: ``index`` its number in the file (:meth:`Graph.number`), ``kind``
    its :meth:`Graph.kind_name`; spike counts over all samples and steps. ``voltage``: a
    non-spiking output layer, whose mismatches count the (sample, neuron) voltages at the last
    step that differ (the class readout) besides any spike."""

    index: int | None
    kind: str
    neurons: int
    model_spikes: int
    lava_spikes: int
    mismatches: int
    voltage: bool = False


def trained_model(
    info: Graph, checkpoint: str | Path | None, data_dir: str | None
) -> Trained:
    """The checkpoint a loihi_snn file was exported from (or the one given)."""
    if not info.trained_here:
        raise LoihiSnnError(
            f"{info.path.name} was not exported from a loihi-snn training run, so there is no "
            f"trained model to compare with: use 'loihi-snn sim' to run it"
        )
    path = Path(checkpoint) if checkpoint else info.path.parent / info.meta["checkpoint"]
    if not path.exists():
        raise LoihiSnnError(
            f"the checkpoint {path} that {info.path.name} came from is gone: give the "
            f"checkpoint to use"
        )
    expected = info.meta.get("checkpoint_sha256")  # files the toolkit exported hold it
    if not checkpoint and expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise LoihiSnnError(
            f"{path} changed since {info.path.name} was exported (training resumed?): re-export, "
            f"or give the checkpoint explicitly to compare anyway"
        )
    trained, _ = load_checkpoint(path, data_dir)
    return trained


def _test_inputs(trained: Trained, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test samples, encoded as the model was trained, and their labels."""
    data, recipe = trained.data, trained.recipe
    index = np.arange(min(n, len(data.y_test)))
    return encode_split(data, recipe, "test", index, recipe.seed + 1), data.y_test[index]


def _foreign_inputs(
    info: Graph,
    dataset: str | None,
    data_dir: str | None,
    n: int,
    input_npy: str | None,
    labels_npy: str | None,
):
    """Inputs for a file from elsewhere: a .npy of input-layer biases (or spikes), or a dataset
    mapped through the input layer's transform: bias = round(weight * x + bias), x in [-1, 1]."""
    labels = None
    if input_npy:
        try:
            x = np.load(input_npy)
        except (OSError, ValueError) as err:
            raise LoihiSnnError(f"cannot read the inputs {input_npy}: {err}") from None
        sample_ndim = len(info.input_shape) + (0 if info.bias_input else 1)
        if x.ndim == sample_ndim:
            x = x[None]
        if labels_npy:
            labels = np.load(labels_npy).reshape(-1)
        return np.rint(x[:n]).astype(np.int32), None if labels is None else labels[:n]
    if not dataset:
        raise LoihiSnnError(
            f"{info.path.name} has no training run of its own to take test data from: pass "
            f"a dataset or an inputs .npy"
        )
    if not info.bias_input:
        raise LoihiSnnError(
            f"{info.path.name} has no input neurons driven through their bias: give its input "
            f"per step (spikes, or a sigma-delta input's values) as an inputs .npy"
        )
    data = load_dataset(dataset, data_dir or "")
    if data.events is not None:
        raise LoihiSnnError(
            f"{dataset} holds event recordings, which an input layer driven through its bias "
            f"cannot take: give the binned spikes as an inputs .npy"
        )
    if int(np.prod(data.input_shape)) != int(np.prod(info.input_shape)):
        raise LoihiSnnError(
            f"{dataset} images have shape {data.input_shape} but {info.path.name} expects "
            f"{info.input_shape}"
        )
    weight, bias = info.layers[0].transform
    x = data.x_test[:n].astype(np.float64) / data.max_value * 2 - 1
    x = np.rint(weight * x + bias).astype(np.int32).reshape(len(x), *info.input_shape)
    return x, data.y_test[:n]


def test_inputs(
    info: Graph,
    n: int,
    dataset: str | None = None,
    data_dir: str | None = None,
    input_npy: str | None = None,
    labels_npy: str | None = None,
    checkpoint: str | None = None,
) -> TestInputs:
    """The first ``n`` test inputs of a file: for a loihi_snn export, its own test data encoded as
    in training (and its trained model); otherwise ``input_npy`` or ``dataset`` mapped through the
    file's input transform."""
    if info.trained_here and not input_npy:
        trained = trained_model(info, checkpoint, data_dir)
        if dataset and dataset != trained.data.name:
            raise LoihiSnnError(
                f"{info.path.name} was trained on {trained.data.name}, not {dataset}"
            )
        x, labels = _test_inputs(trained, n)
        return TestInputs(x, labels, trained)
    x, labels = _foreign_inputs(info, dataset, data_dir, n, input_npy, labels_npy)
    return TestInputs(x, labels, None)


def simulate(
    path: str | Path,
    n: int = 200,
    dataset: str | None = None,
    data_dir: str | None = None,
    input_npy: str | None = None,
    labels_npy: str | None = None,
    steps: int | None = None,
    checkpoint: str | None = None,
    hardware: bool = False,
    backend: str = "lava",
) -> SimReport:
    """Run ``n`` test samples through the file; accuracy and agreement with the trained model."""
    info = read_network(path)
    notes = []
    inputs = test_inputs(info, n, dataset, data_dir, input_npy, labels_npy, checkpoint)
    x, labels = inputs.x, inputs.labels
    model_pred = None
    if inputs.trained is not None:
        _, model_pred = predict(inputs.trained.model, x)
    else:
        notes.append("no trained model for this file: agreement not measured")
    if info.voltage_readout:
        notes.append("output layer never spikes: classes read from its voltage at the last step")
    result = run_backend(backend, info, x, steps, record_all=False, hardware=hardware)
    pred = result.predictions
    return SimReport(
        samples=len(x),
        accuracy=None if labels is None else float((pred == labels).mean()),
        agreement=None if model_pred is None else float((pred == model_pred).mean()),
        seconds=result.seconds,
        notes=notes,
    )


def verify(
    path: str | Path,
    n: int = 8,
    checkpoint: str | None = None,
    data_dir: str | None = None,
    backend: str = "lava",
) -> list[LayerCheck]:
    """Compare the trained model in eval mode with a backend (Lava fixed_pt by default) spike for
    spike, layer by layer, on the first ``n`` test samples."""
    info = read_network(path)
    trained = trained_model(info, checkpoint, data_dir)
    x, _ = _test_inputs(trained, n)
    trained.model.eval()
    with torch.no_grad():
        model_spikes = [
            s.numpy().astype(np.int8)
            for s in trained.model.layer_spikes(torch.from_numpy(x).float())
        ]
    result = run_backend(backend, info, x)
    sim = result.spikes
    if [s.shape for s in model_spikes] != [s.shape for s in sim]:
        raise LoihiSnnError(
            f"{info.path.name} does not belong to this checkpoint: file layers "
            f"{[s.shape[1] for s in sim]} vs model layers {[s.shape[1] for s in model_spikes]}"
        )
    checks = [
        LayerCheck(
            info.number(i), info.kind_name(i), a.shape[1], int(a.sum()), int(b.sum()),
            int((a != b).sum()),
        )
        for i, a, b in zip(info.populations, model_spikes, sim, strict=True)
    ]
    if info.voltage_readout:
        scores, _ = predict(trained.model, x)
        checks[-1].mismatches += int((scores != result.readout).sum())
        checks[-1].voltage = True
    return checks
