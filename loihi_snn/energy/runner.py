"""Run a network file on test inputs with a chosen backend and count its operations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.event_folders import EVENT_FORMATS
from ..errors import LoihiSnnError
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
    data = None if inputs.trained is None else inputs.trained.recipe.data
    graded = None  # decided from the values: event counts are spikes at 1 level
    if data is not None and data.dataset not in EVENT_FORMATS:
        graded = data.encoder == "direct"
    return inputs.x, graded


def measure(
    path: str | Path | Graph,
    inputs: np.ndarray,
    backend: str = "lava",
    op_model: str = "standard",
    graded_input: bool | None = None,
    time_steps: int | None = None,
    progress: bool = True,
) -> NetworkCounts:
    """Run ``inputs`` through the network with ``backend``, recording the spikes, the neuron
    states u, v and the graded outputs of every layer (``record_states=True``), and count;
    ``progress``: the fast backend's progress on stderr (a Lava run always shows it)."""
    graph = path if isinstance(path, Graph) else read_network(path)
    result = run_backend(
        backend, graph, inputs, time_steps, record_all=True, record_states=True, progress=progress
    )
    return count_network(graph, inputs, result, op_model, graded_input, backend)


def energy_report(
    net: str | Path | Graph,
    n: int = 20,
    inputs: np.ndarray | None = None,
    backend: str = "fast",
    op_model: str = "standard",
    cost_table: str | Path | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    time_steps: int | None = None,
) -> dict:
    """Count and price one network on the first ``n`` test samples (its own test data, or
    ``dataset`` through its input transform), or on ``inputs`` as the backends take them: the
    report ``loihi-snn energy --json`` writes (per layer and total, every built-in cost model and
    those of ``cost_table``). The fast backend's counts equal Lava's (tested)."""
    from .costs import BUILTIN_COSTS, load_cost_table
    from .report import build_report

    graph = net if isinstance(net, Graph) else read_network(net)
    if inputs is None:
        if n < 1:
            raise LoihiSnnError("n must be at least 1")
        x, graded = load_test_inputs(graph, n, dataset, data_dir)
    else:
        x, graded = np.asarray(inputs), None
    costs = dict(BUILTIN_COSTS)
    if cost_table is not None:
        costs |= {c.name: c for c in load_cost_table(cost_table)}
    counts = measure(graph, x, backend, op_model, graded, time_steps)
    return build_report(counts, list(costs.values()))
