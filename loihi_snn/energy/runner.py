"""Run a network file on test inputs with a chosen backend and count its operations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import LoihiSnnError
from ..netfile import NetFile, read_netfile
from ..result import SimResult
from .counting import NetworkCounts, count_network
from .geometry import read_synapses

BACKENDS = ("lava", "fast")


def backend_runner(name: str) -> Callable[..., SimResult]:
    """The run function of a backend (``run_lava`` or ``run_fast``, imported when asked for)."""
    if name == "lava":
        from ..lava_run import run_lava

        return run_lava
    if name == "fast":
        from ..fast_backend import run_fast

        return run_fast
    raise LoihiSnnError(f"unknown backend '{name}': use {' or '.join(BACKENDS)}")


def load_test_inputs(
    info: NetFile,
    n: int,
    dataset: str | None = None,
    data_dir: str | None = None,
    input_npy: str | None = None,
    checkpoint: str | None = None,
) -> tuple[np.ndarray, bool | None]:
    """The first ``n`` test inputs as ``sim`` feeds them, and whether layer 0's input is graded
    (True for the ``direct`` encoder, False for ``rate``, None: decide from the values)."""
    from ..evaluation import _foreign_inputs, _test_inputs, trained_model

    if info.meta is not None and not input_npy:
        trained = trained_model(info, checkpoint, data_dir)
        if dataset and dataset != trained.data.name:
            raise LoihiSnnError(
                f"{info.path.name} was trained on {trained.data.name}, not {dataset}"
            )
        x, _ = _test_inputs(trained, n)
        return x, trained.recipe.data.encoder == "direct"
    x, _ = _foreign_inputs(info, dataset, data_dir, n, input_npy, None)
    return x, None


def measure(
    path: str | Path,
    inputs: np.ndarray,
    backend: str = "lava",
    op_model: str = "standard",
    graded_input: bool | None = None,
    time_steps: int | None = None,
) -> NetworkCounts:
    """Run ``inputs`` through the file with ``backend``, recording the spikes and the neuron
    states u, v of every layer (``record_states=True``), and count."""
    info = read_netfile(path)
    steps = time_steps or info.time_steps
    if not info.input_neuron and steps and inputs.shape[-1] != steps:
        raise LoihiSnnError(f"inputs have {inputs.shape[-1]} time steps, the file {steps}")
    synapses = read_synapses(info)
    run = backend_runner(backend)
    result = run(info, inputs, time_steps, record_all=True, record_states=True)
    return count_network(info, synapses, inputs, result, op_model, graded_input, backend)
