"""What the BIASNN paper measures on its networks, from a simulated graph file: the spike rate of
the LIF layers outside the attention masks, the share of values each mask eliminates per time
step (paper Fig. 6a) and the spike counts of the last mask over input images (Fig. 5).

All numbers come from the traces of a backend run (``fast`` by default, bit-exact with Lava) on
the file's own test samples; a mask's spikes are the values it removes (1 = eliminated).
Subcommands (:func:`add_parsers`): ``plot-biasnn`` and ``biasnn-stats``. Heavy imports (torch,
matplotlib, Lava) happen inside the functions, so that building the parser stays cheap.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import LoihiSnnError

if TYPE_CHECKING:
    from ...ir.graph import Graph


@dataclass
class MaskStats:
    """The spiking statistics of one file on ``samples`` test samples.

    lif_rate: spikes per neuron per step over all LIF populations outside the masks (the output
    layer included); layer_rates: the same per recorded layer (masks: the eliminated share);
    eliminated: per mask layer, the share of values removed at each time step (T values). Layers
    are keyed by :meth:`Graph.tag`, e.g. '3:alif_mask(conv+conv)'."""

    file: str
    samples: int
    accuracy: float | None
    lif_rate: float
    layer_rates: dict[str, float]
    eliminated: dict[str, list[float]]


def mask_stats(
    path: str | Path, n: int = 10000, backend: str = "fast", data_dir: str | None = None
) -> tuple[MaskStats, Graph, dict[int, np.ndarray], np.ndarray]:
    """Statistics of ``path`` on its first ``n`` test samples; also the graph, the spike traces
    of its mask layers (n, neurons, T) by layer index and the encoded inputs (for the plots)."""
    from ...evaluation import run_backend, test_inputs
    from ...ir.hdf5 import read_network

    graph = read_network(path)
    inputs = test_inputs(graph, n, data_dir=data_dir)
    result = run_backend(backend, graph, inputs.x)
    layers = dict(zip(graph.populations, result.spikes, strict=True))
    masks = {i: s for i, s in layers.items() if graph.layers[i].custom}
    lif = [s for i, s in layers.items() if i not in masks]
    labels = inputs.labels
    stats = MaskStats(
        file=str(path),
        samples=len(inputs.x),
        accuracy=None if labels is None else float((result.predictions == labels).mean()),
        lif_rate=float(sum(int(s.sum()) for s in lif) / sum(s.size for s in lif)),
        layer_rates={graph.tag(i): float(s.mean()) for i, s in layers.items()},
        eliminated={graph.tag(i): s.mean((0, 1)).tolist() for i, s in masks.items()},
    )
    return stats, graph, masks, inputs.x


def write_plots(
    path: str | Path,
    out_dir: str | Path,
    n: int = 10000,
    shown: int = 8,
    backend: str = "fast",
    data_dir: str | None = None,
) -> tuple[MaskStats, list[Path]]:
    """Fig. 5 (``mask_heatmaps.png``: the first ``shown`` test images and the last mask's spike
    count per pixel, summed over channels and steps) and Fig. 6a (``eliminated_per_step.png``:
    the share of values each mask removes per step, over ``n`` samples), plus ``stats.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...fileio import atomic_path, write_json

    stats, graph, masks, x = mask_stats(path, n, backend, data_dir)
    if not masks:
        raise LoihiSnnError(f"{path} has no alif_mask layer: nothing to plot")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last = max(masks)
    c, h, w = graph.layers[last].shape
    shown = min(shown, len(x))
    fig, axes = plt.subplots(2, shown, figsize=(1.6 * shown, 3.4), squeeze=False)
    counts = masks[last][:shown].reshape(shown, c, h, w, -1).sum((1, 4))
    top = max(1, int(counts.max()))
    for k in range(shown):
        axes[0, k].imshow(x[k, ..., 0].sum(0), cmap="gray")
        im = axes[1, k].imshow(counts[k], cmap="hot", vmin=0, vmax=top)
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel(f"{graph.tag(last)}\nspikes")
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8,
                 label=f"eliminated (of {c * graph.time_steps})")
    name = f"{Path(path).parent.name}/{Path(path).name}"
    fig.suptitle(f"Spike counts of the last ALIF mask ({name})")
    heatmaps = out / "mask_heatmaps.png"
    with atomic_path(heatmaps) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.4))
    steps = np.arange(1, graph.time_steps + 1)
    width = 0.8 / len(masks)
    for j, (name, share) in enumerate(stats.eliminated.items()):
        ax.bar(steps + (j - (len(masks) - 1) / 2) * width, 100 * np.array(share), width,
               label=name)
    ax.set_xlabel("time step")
    ax.set_ylabel("values eliminated (%)")
    ax.set_xticks(steps)
    ax.legend()
    ax.set_title(f"{name}, {stats.samples} test samples")
    fig.tight_layout()
    per_step = out / "eliminated_per_step.png"
    with atomic_path(per_step) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    write_json(out / "stats.json", asdict(stats))
    return stats, [heatmaps, per_step]


# -- subcommands --------------------------------------------------------------------------------


def _row(stats: MaskStats) -> str:
    acc = "-" if stats.accuracy is None else f"{stats.accuracy:.4f}"
    eliminated = "; ".join(
        f"{name}: " + " ".join(f"{100 * v:.2f}%" for v in share)
        for name, share in stats.eliminated.items()
    )
    return (f"| {stats.file} | {stats.samples} | {acc} | {100 * stats.lif_rate:.2f}% | "
            f"{eliminated or '-'} |")


def _cmd_plot(args: argparse.Namespace) -> int:
    stats, paths = write_plots(args.net, args.output, args.n, args.shown, args.backend,
                               args.data_dir)
    print(f"wrote {', '.join(map(str, paths))} and stats.json beside them")
    print(_row(stats))
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    print("| file | samples | accuracy | LIF spike rate outside masks | eliminated per step |")
    print("|---|---|---|---|---|")
    for net in args.nets:
        print(_row(mask_stats(net, args.n, args.backend, args.data_dir)[0]))
    return 0


def add_parsers(subparsers) -> None:
    """Register ``plot-biasnn`` and ``biasnn-stats`` on an argparse subparsers object
    (``p.set_defaults(run=...)`` style)."""
    p = subparsers.add_parser(
        "plot-biasnn",
        help="BIASNN file: last mask's spike counts over input images (Fig. 5) and values "
        "eliminated per step per mask (Fig. 6a), as PNG",
    )
    p.add_argument("net", help="a graph file with alif_mask layers (e.g. an fmnist_biasnn export)")
    p.add_argument("-o", "--output", default="biasnn_plots", help="folder for the PNGs and JSON")
    p.add_argument("-n", type=int, default=10000, help="test samples for the statistics")
    p.add_argument("--shown", type=int, default=8, help="images in the heatmap figure")
    p.add_argument("--backend", choices=("lava", "fast"), default="fast")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.set_defaults(run=_cmd_plot)

    p = subparsers.add_parser(
        "biasnn-stats",
        help="graph files: accuracy, LIF spike rate outside the masks, values eliminated per step",
    )
    p.add_argument("nets", nargs="+", help="graph files (with or without alif_mask layers)")
    p.add_argument("-n", type=int, default=10000, help="test samples (default 10000)")
    p.add_argument("--backend", choices=("lava", "fast"), default="fast")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.set_defaults(run=_cmd_stats)
