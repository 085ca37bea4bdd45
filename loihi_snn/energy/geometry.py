"""The synapses of a network (any file, through the IR): fan-out and dense FLOPs per projection.

Conventions: weights are integer mantissas, dense (out, in) and conv (out, in/groups, kH, kW) in
SLAYER order; conv geometry (stride, padding, dilation) in (H, W) order; neuron and input
positions are flattened in C, H, W order, as :class:`loihi_snn.backends.result.SimResult` holds
them. Convolution is cross-correlation (torch's ``conv2d``), as SLAYER trains it and as Lava runs
it (the toolkit checks the two spike for spike).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import LoihiSnnError
from ..ir.graph import Graph


@dataclass
class Synapse:
    """One projection into a layer with neurons, as the synapse that runs it (pool and identity
    lowered to a depthwise conv: one synapse per channel and tap).

    source: the layer it reads (its index in the network); in_shape: the source's shape;
    shape: the target's neuron shape; kind: ``dense`` or ``conv``; weight: integer mantissas,
    dense (out, in) over the source in C, H, W order, conv (out, in/groups, kH, kW).
    """

    source: int
    in_shape: tuple[int, ...]
    shape: tuple[int, ...]
    kind: str
    weight: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def inputs(self) -> int:
        return math.prod(self.in_shape)

    def fanout(self) -> np.ndarray:
        """Synapses with a nonzero weight leaving each source position (inputs,), int64."""
        if self.kind == "dense":
            return dense_fanout(self.weight)
        return conv_fanout(
            self.weight, self.in_shape, self.shape[1:], self.stride, self.padding, self.dilation,
            self.groups,
        ).reshape(-1)

    def flops(self) -> int:
        """MACs of one time step of a dense (ANN) evaluation of the synapse: every weight, zero
        or not (the papers' FLOPs): dense in*out, conv C_in/groups * kH * kW * C_out * H_out *
        W_out."""
        if self.kind == "dense":
            return int(self.weight.size)
        c_out, c_in_g, kh, kw = self.weight.shape[:4]
        return c_in_g * kh * kw * c_out * math.prod(self.shape[1:])


def synapses(graph: Graph) -> dict[int, list[Synapse]]:
    """The synapses into every layer with neurons (concat reads split per source)."""
    return {
        i: [
            Synapse(p.source, graph.layers[p.source].shape, graph.layers[i].shape, p.kind,
                    p.weight, p.stride, p.padding, p.dilation, p.groups)
            for p in graph.synapses(i)
        ]
        for i in graph.populations
    }


def dense_fanout(weight: np.ndarray) -> np.ndarray:
    """Fan-out of each input of a dense layer: nonzero weights in its column (in,), int64."""
    return np.count_nonzero(np.asarray(weight).reshape(weight.shape[0], -1), axis=0).astype(
        np.int64
    )


def conv_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis (torch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _hits(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """(kernel, size) 0/1: kernel tap k of some output position reads input position y."""
    hits = np.zeros((kernel, size), np.int64)
    for k in range(kernel):
        y = np.arange(out) * stride - padding + k * dilation
        hits[k, y[(y >= 0) & (y < size)]] = 1
    return hits


def conv_fanout(
    weight: np.ndarray,
    in_shape: tuple[int, ...],
    out_hw: tuple[int, ...],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Fan-out (C_in, H, W), int64: for every input position, the number of (output channel,
    output position) pairs it reaches through a nonzero weight, with stride, zero padding,
    dilation and groups (input channel c belongs to group c // (C_in/groups), as in torch)."""
    w = np.asarray(weight)
    w = w.reshape(w.shape[:4])
    c_out, c_in_g, kh, kw = w.shape
    c_in, h, wd = in_shape
    if c_in != c_in_g * groups or c_out % groups:
        raise LoihiSnnError(
            f"conv weight {w.shape} does not fit {c_in} input channels in {groups} groups"
        )
    nz = (w != 0).astype(np.int64).reshape(groups, c_out // groups, c_in_g, kh, kw)
    per_tap = nz.sum(1).reshape(c_in, kh, kw)  # output channels each (channel, tap) reaches
    rows = _hits(h, out_hw[0], kh, stride[0], padding[0], dilation[0])
    cols = _hits(wd, out_hw[1], kw, stride[1], padding[1], dilation[1])
    return np.einsum("cab,ay,bx->cyx", per_tap, rows, cols)
