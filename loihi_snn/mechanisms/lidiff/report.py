"""Attention maps of a spiking transformer file: ``plot-attention`` draws, over test images,
where every attention layer attends (SpiLiFormer Fig. 2 style) and writes the maps as JSON.

The layers are found in the file itself (it holds stock populations and ``qktv`` layers):

* a token attention population (FF-LiDiff or QKFormer's): one 1x1 conv input whose weights take
  one magnitude (+w, -w, 0) with each input channel read by exactly one output (a head); its map
  is the spike rate per token, averaged over heads and steps;
* a ``qktv`` layer: its map is the spike rate per token of the population reading its product
  (the attention LIF on Attn / 8), averaged over channels and steps.

Heavy imports (matplotlib, the backends) happen inside the functions, so that building the parser
stays cheap.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import LoihiSnnError

if TYPE_CHECKING:
    from ...ir.graph import Graph, Layer


def _token_attention(layer: Layer) -> str | None:
    """``lidiff`` or ``qkta`` when the population is a token attention layer (module doc)."""
    if layer.kind != "population" or len(layer.inputs) != 1:
        return None
    p = layer.inputs[0]
    w = np.asarray(p.weight)
    if p.kind != "conv" or w.ndim != 4 or w.shape[2:] != (1, 1) or w.shape[0] >= w.shape[1]:
        return None
    w = w[:, :, 0, 0]
    magnitude = np.abs(w).max()
    one_reader = (np.count_nonzero(w, axis=0) == 1).all()
    if not magnitude or not one_reader or not np.isin(np.abs(w), (0, magnitude)).all():
        return None
    return "lidiff" if (w < 0).any() else "qkta"


def attention_layers(graph: Graph) -> list[tuple[int, str, int]]:
    """(layer, kind, the layer whose spikes make its map) of every attention layer, file order."""
    found = []
    for i, layer in enumerate(graph.layers):
        kind = _token_attention(layer)
        if kind:
            found.append((i, kind, i))
        elif layer.kind == "qktv":
            readers = [j for j, other in enumerate(graph.layers)
                       if any(p.source == i for p in other.inputs)]
            if readers:
                found.append((i, "qktv", readers[0]))
    return found


def token_maps(graph: Graph, spikes: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Per attention layer: (n, H, W) spike rates per token from its map layer's spikes
    (n, neurons in C, H, W order, T)."""
    maps = {}
    for i, _, source in attention_layers(graph):
        c, h, w = graph.layers[source].shape
        s = spikes[source]
        maps[i] = s.reshape(len(s), c, h, w, -1).mean(axis=(1, 4))
    return maps


def _cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...evaluation import run_backend, test_inputs
    from ...fileio import atomic_path, write_json
    from ...ir.hdf5 import read_network

    graph = read_network(args.net)
    found = attention_layers(graph)
    if not found:
        raise LoihiSnnError(f"{args.net} has no attention layer (token attention or qktv)")
    inputs = test_inputs(graph, args.n, data_dir=args.data_dir, input_npy=args.input)
    result = run_backend(args.backend, graph, inputs.x)
    spikes = dict(zip(graph.populations, result.spikes, strict=True))
    maps = token_maps(graph, spikes)
    images = np.asarray(inputs.x, np.float64)
    images = images.reshape(len(images), *graph.input_shape, -1).mean(axis=(1, -1))
    rows, cols = len(images), 1 + len(found)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows), squeeze=False)
    for r in range(rows):
        axes[r, 0].imshow(images[r], cmap="gray")
        for c, (i, kind, _) in enumerate(found, start=1):
            axes[r, c].imshow(images[r], cmap="gray")
            extent = (-0.5, images.shape[2] - 0.5, images.shape[1] - 0.5, -0.5)
            axes[r, c].imshow(maps[i][r], cmap="inferno", alpha=0.6, extent=extent,
                              vmin=0, vmax=max(float(maps[i].max()), 1e-9))
            if r == 0:
                axes[r, c].set_title(f"layer {graph.number(i)}\n{kind}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("input", fontsize=7)
    fig.suptitle(f"{Path(args.net).name}: spikes per token and step", fontsize=8)
    out = Path(args.output)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_json(out.with_suffix(".json"), {
        "file": str(args.net), "samples": rows,
        "layers": [{"number": graph.number(i), "kind": kind, "map_from": graph.number(s),
                    "maps": maps[i].round(4).tolist()} for i, kind, s in found],
    })
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def add_parsers(subparsers) -> None:
    """Register ``plot-attention`` (``p.set_defaults(run=...)`` style)."""
    p = subparsers.add_parser(
        "plot-attention",
        help="transformer file: attention maps of every attention layer over test images, PNG",
    )
    p.add_argument("net", help="a graph file with attention blocks (e.g. fmnist_spiliformer's)")
    p.add_argument("-o", "--output", default="attention.png", help="PNG (and JSON beside it)")
    p.add_argument("-n", type=int, default=4, help="test images, one row each (default 4)")
    p.add_argument("--input", help=".npy of inputs (for files without a training run)")
    p.add_argument("--backend", choices=("lava", "fast"), default="fast")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.set_defaults(run=_cmd_plot)
