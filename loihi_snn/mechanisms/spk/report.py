"""The SPK blocks' branch activity from a simulated graph file: ``plot-spk`` draws the spike rate
of every branch of every SPK block (spikes per neuron per step) and writes them as JSON.

A block is found in the file itself (the file holds stock populations only): a run of
consecutive populations that read the same synapses as the first (MBPL's parallel branches), or
one that reads the first through a single identity projection (RL's second LIF). Heavy imports
(matplotlib, the backends) happen inside the functions, so that building the parser stays cheap.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import LoihiSnnError

if TYPE_CHECKING:
    from ...ir.graph import Graph, Layer


def _same_synapses(a: Layer, b: Layer) -> bool:
    return len(a.inputs) == len(b.inputs) and all(
        p.source == q.source and p.kind == q.kind and np.array_equal(p.weight, q.weight)
        for p, q in zip(a.inputs, b.inputs, strict=True)
    )


def _relays(first: int, layer: Layer) -> bool:
    return len(layer.inputs) == 1 and layer.inputs[0].kind == "identity" and (
        layer.inputs[0].source == first
    )


def spk_blocks(graph: Graph) -> list[list[int]]:
    """The SPK blocks of ``graph``, each the indices of its branch populations in file order
    (two or more; module doc)."""
    blocks: list[list[int]] = []
    i = 1
    while i < len(graph.layers):
        first = graph.layers[i]
        block = [i]
        while first.kind == "population" and block[-1] + 1 < len(graph.layers):
            nxt = graph.layers[block[-1] + 1]
            if nxt.kind != "population":
                break
            if not (_same_synapses(first, nxt) or (len(block) == 1 and _relays(i, nxt))):
                break
            block.append(block[-1] + 1)
        if len(block) > 1:
            blocks.append(block)
        i = block[-1] + 1
    return blocks


def branch_rates(graph: Graph, spikes: list[np.ndarray]) -> list[dict]:
    """Per SPK block: its branches' tags and file numbers, thresholds (vThMant) and spike rates
    (spikes per neuron per step), from the spikes of every population (n, neurons, T) in file
    order."""
    traces = dict(zip(graph.populations, spikes, strict=True))
    return [
        {
            "layers": [graph.tag(i) for i in block],
            "numbers": [graph.number(i) for i in block],
            "vth": [graph.layers[i].neuron.vth for i in block],
            "rates": [float(traces[i].mean()) for i in block],
        }
        for block in spk_blocks(graph)
    ]


def _cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...evaluation import run_backend, test_inputs
    from ...fileio import atomic_path, write_json
    from ...ir.hdf5 import read_network

    graph = read_network(args.net)
    blocks = spk_blocks(graph)
    if not blocks:
        raise LoihiSnnError(f"{args.net} has no SPK block (no populations in parallel branches)")
    inputs = test_inputs(graph, args.n, data_dir=args.data_dir, input_npy=args.input)
    rows = branch_rates(graph, run_backend(args.backend, graph, inputs.x).spikes)
    out = Path(args.output)
    width = 0.8 / max(len(r["rates"]) for r in rows)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(rows), 3.2))
    for k in range(max(len(r["rates"]) for r in rows)):
        xs = [b + k * width for b, r in enumerate(rows) if k < len(r["rates"])]
        ys = [r["rates"][k] for r in rows if k < len(r["rates"])]
        ax.bar(xs, ys, width, label=f"branch {k + 1}")
    ax.set_xticks([b + 0.4 - width / 2 for b in range(len(rows))])
    ax.set_xticklabels([f"{r['numbers'][0]}-{r['numbers'][-1]}" for r in rows], fontsize=8)
    ax.set_xlabel("SPK block (file layers of its branches)")
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title(f"{args.net}: branch activity, {len(inputs.x)} samples", fontsize=9)
    ax.legend(fontsize=7)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_json(out.with_suffix(".json"), {"file": str(args.net), "samples": len(inputs.x),
                                          "blocks": rows})
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def add_parsers(subparsers) -> None:
    """Register ``plot-spk`` (``p.set_defaults(run=...)`` style)."""
    p = subparsers.add_parser(
        "plot-spk", help="SPK file (SL/RL/MBPL): spike rate of every branch of every block, PNG"
    )
    p.add_argument("net", help="a graph file with SPK blocks (e.g. an fmnist_mbpl export)")
    p.add_argument("-o", "--output", default="spk_branches.png", help="PNG (and JSON beside it)")
    p.add_argument("-n", type=int, default=100, help="test samples (default 100)")
    p.add_argument("--input", help=".npy of inputs (for files without a training run)")
    p.add_argument("--backend", choices=("lava", "fast"), default="fast")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.set_defaults(run=_cmd_plot)
