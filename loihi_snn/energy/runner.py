"""Run a network file on test inputs with a chosen backend and count its operations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..evaluation import run_backend
from ..ir.graph import Graph
from ..ir.hdf5 import read_network
from .counting import NetworkCounts, count_network


def load_test_inputs(
    info: Graph,
    n: int,
    dataset: str | None = None,
    data_dir: str | None = None,
    input_npy: str | None = None,
    checkpoint: str | None = None,
) -> tuple[np.ndarray, bool | None]:
    """The first ``n`` test inputs as ``sim`` feeds them, and whether layer 0's input is graded
    (True for the ``direct`` encoder, False for ``rate``, None: decide from the values)."""
    from ..evaluation import test_inputs

    inputs = test_inputs(info, n, dataset, data_dir, input_npy, None, checkpoint)
    graded = None if inputs.trained is None else inputs.trained.recipe.data.encoder == "direct"
    return inputs.x, graded


def measure(
    path: str | Path | Graph,
    inputs: np.ndarray,
    backend: str = "lava",
    op_model: str = "standard",
    graded_input: bool | None = None,
    time_steps: int | None = None,
) -> NetworkCounts:
    """Run ``inputs`` through the network with ``backend``, recording the spikes, the neuron
    states u, v and the graded outputs of every layer (``record_states=True``), and count."""
    graph = path if isinstance(path, Graph) else read_network(path)
    result = run_backend(backend, graph, inputs, time_steps, record_all=True, record_states=True)
    return count_network(graph, inputs, result, op_model, graded_input, backend)
