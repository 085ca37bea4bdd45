"""The metrics of one exported run, measured on its test images through the fast backend."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..energy.costs import BUILTIN_COSTS
from ..errors import LoihiSnnError
from .comparison import METRICS

BATCH = 256  # test images per fast-backend call (its states are recorded for the counts)


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: the metrics' values on ``samples`` test images, and
    notes (layers the energy model does not price)."""

    samples: int
    values: dict[str, float]
    notes: list[str]


def evaluate(
    net: str | Path, metrics: list[str], n: int, energy_model: str = "cmos45"
) -> Evaluation:
    """The ``metrics`` (names of :data:`METRICS`) of a file exported from a training run, on its
    first ``n`` test images (fewer if its test split is smaller) through the fast backend, BATCH
    images per run with every layer's states recorded. One pass computes all of them: the accuracy
    and spike rate as ``biasnn-stats``, energy and SOPs as ``loihi-snn energy``
    (:func:`~loihi_snn.energy.report.build_report`: per-sample means, here weighted by the batch
    sizes), the sparsity as ``sparta-stats``."""
    from ..backends.fast import FastRunner, run_fast
    from ..data.event_folders import EVENT_FORMATS
    from ..energy.counting import count_network
    from ..energy.report import build_report
    from ..evaluation import test_inputs
    from ..ir.hdf5 import read_network
    from ..mechanisms.token_select.rules import run_twin

    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise LoihiSnnError(f"unknown metric '{unknown[0]}': use one of {', '.join(METRICS)}")
    if energy_model not in BUILTIN_COSTS:
        raise LoihiSnnError(
            f"unknown energy model '{energy_model}': use one of {', '.join(BUILTIN_COSTS)}"
        )
    graph = read_network(net)
    inputs = test_inputs(graph, n)
    data = inputs.trained.recipe.data
    graded = None if data.dataset in EVENT_FORMATS else data.encoder == "direct"  # as energy
    select = [i for i, layer in enumerate(graph.layers) if layer.kind == "token_select"]
    if "sparsity" in metrics and not select:
        raise LoihiSnnError(f"{net}: the metric sparsity needs a token_select layer (SPARTA)")
    count = "energy" in metrics or "sops" in metrics
    runner = FastRunner(graph)
    correct = spikes = slots = 0
    energy = sops = 0.0
    kept, unpriced = [], set()
    for start in range(0, len(inputs.x), BATCH):
        x = inputs.x[start : start + BATCH]
        result = run_fast(graph, x, record_states=count, batch_size=len(x), runner=runner)
        correct += int((result.predictions == inputs.labels[start : start + BATCH]).sum())
        for i, s in zip(graph.populations, result.spikes, strict=True):
            if not graph.layers[i].custom:
                spikes, slots = spikes + int(s.sum()), slots + s.size
        if count:
            report = build_report(
                count_network(graph, x, result, "standard", graded, "fast"),
                [BUILTIN_COSTS[energy_model]],
            )
            energy += report["totals"]["energy_pj_per_sample"][energy_model] * len(x)
            sops += sum(report["projections_ops_per_sample"].values()) * len(x)
            unpriced.update(report["totals"]["not_priced"][energy_model])
        if select:
            kept.append(run_twin(graph.layers[select[0]].params, runner.x[select[0]]).k)
    total = len(inputs.x)
    values = {
        "accuracy": correct / total,
        "lif_rate": 100 * spikes / slots,
        "energy": energy / total / 1e3,  # pJ -> nJ
        "sops": sops / total,
    }
    if select:
        import numpy as np

        tokens = math.prod(graph.layers[select[0]].shape[1:])
        values["sparsity"] = float(1 - np.concatenate(kept).mean() / tokens)
    notes = []
    if unpriced and "energy" in metrics:
        notes.append(f"{energy_model} does not price {', '.join(sorted(unpriced))}")
    return Evaluation(total, {m: float(values[m]) for m in metrics}, notes)
