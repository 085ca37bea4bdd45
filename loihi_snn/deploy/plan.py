"""A network mapped onto a Loihi 2 board and, when its inputs are known, priced per inference:
what ``loihi-snn deploy`` reports before any board run, from Python and from the command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LoihiSnnError
from ..ir.graph import Graph
from ..ir.hdf5 import read_network
from .chip import load_chip
from .estimate import Estimate
from .mapper import Mapping, map_network
from .report import build_report


@dataclass
class Plan:
    """The mapping, its estimate (None: ``note`` says why) and the inputs counted."""

    mapping: Mapping
    estimate: Estimate | None
    inputs: np.ndarray | None
    note: str = ""


def plan(
    graph: Graph,
    board: str = "oheo-gulch",
    chip: str | Path | None = None,
    time_steps: int | None = None,
    n: int = 16,
    inputs: np.ndarray | str | Path | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    checkpoint: str | None = None,
    backend: str = "fast",
) -> Plan:
    """Map ``graph`` onto ``board`` (a board of the chip table, or ``N-chips``) under the chip
    table ``chip`` (default Loihi 2's); when it fits, estimate energy and time per inference from
    the counts of ``inputs`` (an array, or a .npy file, as ``sim`` takes them), else of the first
    ``n`` test samples of a file trained here or of ``dataset``."""
    from ..energy.runner import load_test_inputs, measure
    from .estimate import estimate

    if time_steps is not None and time_steps < 1:
        raise LoihiSnnError("time_steps must be at least 1")
    table = load_chip(chip)
    mapping = map_network(graph, table, table.board(board), time_steps or graph.time_steps)
    if not mapping.fits:
        return Plan(mapping, None, None, "the network does not fit")
    if inputs is None and not graph.trained_here and dataset is None:
        return Plan(mapping, None, None, (
            "a file from elsewhere: give inputs (a .npy of inputs, as for 'sim') or a dataset "
            "for the energy and time estimate"
        ))
    if isinstance(inputs, np.ndarray):
        x, graded = inputs, None
    else:
        if n < 1:
            raise LoihiSnnError("n must be at least 1")
        npy = None if inputs is None else str(inputs)
        x, graded = load_test_inputs(graph, n, dataset, data_dir, npy, checkpoint)
    counts = measure(
        graph, x, backend, graded_input=graded, time_steps=mapping.steps, progress=False
    )
    return Plan(mapping, estimate(mapping, counts), x)


def deploy_report(net: str | Path | Graph, **options) -> dict:
    """The deploy report of ``net`` as a JSON-able dict (what ``loihi-snn deploy --dry-run
    --json`` writes): :func:`plan`'s options; ``fits`` and ``violations`` say whether and why
    not; no board run."""
    graph = net if isinstance(net, Graph) else read_network(net)
    result = plan(graph, **options)
    return build_report(result.mapping, result.estimate, result.note)
