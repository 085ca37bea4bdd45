"""What the SPARTA paper shows of its token selection, from a simulated graph file: the firing-rate
map, priority map and top-K mask per sample (paper Fig. 3), and accuracy, mean sparsity (1 - K / N)
and synaptic operations per sample of the integer twin (what Lava runs).

Subcommands (:func:`add_parsers`): ``plot-sparta`` and ``sparta-stats``. Heavy imports (torch,
matplotlib, Lava) happen inside the functions, so that building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import LoihiSnnError

if TYPE_CHECKING:
    from ...ir.graph import Graph


def _select_index(graph: Graph) -> int:
    for i, layer in enumerate(graph.layers):
        if layer.kind == "token_select":
            return i
    raise LoihiSnnError("the network has no token_select layer")


def analyse(graph: Graph, x: np.ndarray) -> dict:
    """Run the integer twin (the fast backend, what Lava runs) on x (n, *input, T) and return the
    token selection's input spikes ``spikes`` (n, C, H, W, T), its TwinResult ``select``, the
    traces of every layer with neurons ``traces`` (index -> (n, neurons, T)) and the synaptic
    operations per sample ``sops``: per projection, the mean AC + MAC per sample as ``loihi-snn
    energy`` counts them (each non-zero source event, spike or graded payload, times its
    non-zero synapses)."""
    from ...backends.fast import FastRunner, run_fast
    from ...energy.counting import count_network
    from .rules import run_twin

    x = np.asarray(x, np.int64)
    runner = FastRunner(graph)
    result = run_fast(graph, x, record_states=True, batch_size=len(x), runner=runner)
    k = _select_index(graph)
    xs = runner.x[k]
    counts = count_network(graph, x, result, backend="fast")
    return {
        "spikes": (xs > 0).astype(np.int8),
        "select": run_twin(graph.layers[k].params, xs),
        "traces": dict(zip(graph.populations, result.spikes, strict=True)),
        "sops": counts.projections,
    }


def plot_selection(
    path: str | Path, n: int, out: str | Path, data_dir: str | None = None
) -> tuple[Path, dict]:
    """``loihi-snn plot-sparta``: for the first ``n`` test samples of a SPARTA file (the integer
    twin, i.e. what Lava runs), one row each: the input image, the HI-LIF firing-rate map per
    token (spikes / (C T)), the priority map (P / 2^15) and the top-K mask (with K); written as a
    PNG (atomic). Returns the path and a summary (K per sample, mean sparsity)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...evaluation import test_inputs
    from ...fileio import atomic_path
    from .rules import ONE_P

    if n < 1:
        raise LoihiSnnError("plot-sparta: -n must be at least 1")
    graph = read_graph_checked(path)
    inputs = test_inputs(graph, n, data_dir=data_dir)
    x, labels = inputs.x, inputs.labels
    info = analyse(graph, x)
    spikes, sel = info["spikes"], info["select"]
    classes = (graph.meta or {}).get("classes")
    fig, axes = plt.subplots(len(x), 4, figsize=(10, 2.6 * len(x)), squeeze=False)
    tokens = sel.mask.shape[1] * sel.mask.shape[2]
    for i in range(len(x)):
        label = "" if labels is None else (classes[labels[i]] if classes else str(labels[i]))
        panels = [
            (x[i].mean(-1).mean(0), f"input {label}", "gray"),
            (spikes[i].mean((0, -1)), "firing rate (spikes / C T)", "viridis"),
            (sel.prio[i] / ONE_P, "priority P (Eqs. 3-5)", "magma"),
            (sel.mask[i], f"top-K mask, K = {sel.k[i]} of {tokens}", "gray"),
        ]
        for ax, (image, title, cmap) in zip(axes[i], panels, strict=True):
            im = ax.imshow(image, cmap=cmap, vmin=0 if cmap == "gray" and "mask" in title
                           else None, vmax=1 if "mask" in title else None)
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if "mask" not in title and "input" not in title:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    summary = {"k": sel.k.tolist(), "sparsity": float(1 - sel.k.mean() / tokens)}
    return out, summary


def selection_stats(
    path: str | Path, n: int | None = None, data_dir: str | None = None, batch: int = 500
) -> dict:
    """``loihi-snn sparta-stats``: accuracy, mean sparsity (1 - K / N) and synaptic operations per
    sample (:func:`analyse`: ``loihi-snn energy``'s counts, total and per projection) of a SPARTA
    file's integer twin (what Lava runs; the fast backend's arithmetic) on the first ``n`` test
    samples (default: all)."""
    from ...evaluation import trained_model
    from ...train import encode_split

    graph = read_graph_checked(path)
    trained = trained_model(graph, None, data_dir)
    data, recipe = trained.data, trained.recipe
    total = len(data.y_test) if n is None else min(n, len(data.y_test))
    correct, ks, sops = 0, [], {}
    for start in range(0, total, batch):
        index = np.arange(start, min(start + batch, total))
        x = encode_split(data, recipe, "test", index, recipe.seed + 1)
        info = analyse(graph, x)
        out = info["traces"][len(graph.layers) - 1]  # (n, classes, T) output spikes
        correct += int((out.sum(-1).argmax(1) == data.y_test[index]).sum())
        ks.append(info["select"].k)
        for key, value in info["sops"].items():
            sops[key] = sops.get(key, 0.0) + value * len(index)
    k = np.concatenate(ks)
    tokens = math.prod(graph.layers[_select_index(graph)].shape[1:])
    per = {key: value / total for key, value in sops.items()}
    return {
        "samples": total,
        "accuracy": correct / total,
        "mean_k": float(k.mean()),
        "sparsity": float(1 - k.mean() / tokens),
        "sops": float(sum(per.values())),
        "sops_per_projection": per,
    }


def read_graph_checked(path: str | Path) -> Graph:
    """A graph file that holds a token_select layer."""
    from ...ir.hdf5 import read_graph

    graph = read_graph(path)
    _select_index(graph)
    return graph


# -- subcommands --------------------------------------------------------------------------------


def _cmd_plot(args: argparse.Namespace) -> int:
    path, summary = plot_selection(args.net, args.n, args.output, args.data_dir)
    print(f"wrote {path}: K per sample {summary['k']}, mean sparsity {summary['sparsity']:.3f}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    print("| file | samples | accuracy | mean K | mean sparsity | SOPs / sample |")
    print("|---|---|---|---|---|---|")
    for net in args.nets:
        s = selection_stats(net, args.n, args.data_dir)
        print(
            f"| {net} | {s['samples']} | {s['accuracy']:.4f} | {s['mean_k']:.2f} | "
            f"{s['sparsity']:.3f} | {s['sops']:,.0f} |"
        )
        if args.verbose:
            for key, value in s["sops_per_projection"].items():
                print(f"|   {key} | | | | | {value:,.0f} |")
    return 0


def add_parsers(subparsers) -> None:
    """Register ``plot-sparta`` and ``sparta-stats`` on an argparse subparsers object
    (``p.set_defaults(run=...)`` style)."""
    p = subparsers.add_parser(
        "plot-sparta",
        help="SPARTA file: firing-rate map, priority map and top-K mask per sample (Fig. 3)",
    )
    p.add_argument("net", help="a SPARTA graph file (loihi-snn export of a sparta recipe)")
    p.add_argument("-n", type=int, default=4, help="number of test samples (default 4)")
    p.add_argument("-o", "--output", default="sparta.png", help="PNG to write (default sparta.png)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.set_defaults(run=_cmd_plot)

    p = subparsers.add_parser(
        "sparta-stats",
        help="SPARTA files: accuracy, mean sparsity and synaptic ops per sample (integer twin)",
    )
    p.add_argument("nets", nargs="+", help="SPARTA graph files")
    p.add_argument("-n", type=int, help="number of test samples (default: the whole test set)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument("-v", "--verbose", action="store_true", help="SOPs per projection too")
    p.set_defaults(run=_cmd_stats)
