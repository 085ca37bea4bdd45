"""The fast backend for graph files (format 2): every population of a batch, in topological order,
each in its own time window, bit-exact with Lava fixed_pt.

A population's input is the sum over its projections of each synapse's finished integer output
(Dense: netx's weight packing and Lava's exponent shift; Conv: Lava's 24-bit wrap), as Lava's
InPort adds the messages of all connected synapses; the LIF recurrence is
:func:`loihi_snn.loihi.fixed_point.lif_run`. A custom layer gets the same sum plus its bias as X and
runs its type's integer twin (:mod:`loihi_snn.ir.layer_type`). The trained graph models evaluate
through this module too (their integer twin), so there is one implementation of the arithmetic.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange

from ..ir.graph import Graph, Projection, lowered
from ..ir.layer_type import layer_type
from ..ir.netfile import prepare_run
from ..loihi.fixed_point import dendrite, lif_run
from .fast import BIAS_EXP, FLOAT32_EXACT, _dense_weight
from .result import SimResult, stack_batches


@njit(parallel=True, cache=True)
def _finish_into(acc: np.ndarray, kind: int, exponent: int, total: np.ndarray) -> None:
    """total += the synapse's finished output of the exact integer sums ``acc`` (flat arrays)."""
    for i in prange(acc.size):
        total[i] += dendrite(acc[i], kind, exponent)


class _Synapse:
    """A lowered projection with the weights Lava applies, as float tensors per dtype."""

    def __init__(self, projection: Projection, in_shape: tuple[int, ...]) -> None:
        p = lowered(projection, in_shape)
        self.source = p.source
        self.in_shape = in_shape
        self.kind = p.kind
        if p.kind == "dense":
            self.weight, self.exponent = _dense_weight(p.weight)
        else:
            self.weight, self.exponent = torch.from_numpy(p.weight.astype(np.float64)), 0
            self.conv = {
                "stride": p.stride,
                "padding": p.padding,
                "dilation": p.dilation,
                "groups": p.groups,
            }
        w = self.weight.abs()
        self.fan_in_bound = float(w.sum(dim=tuple(range(1, w.ndim))).max())

    def add_to(self, x: torch.Tensor, top: float, total: np.ndarray) -> None:
        """Add this synapse's output for the source trace x (n, T, *in_shape) to total
        (n*T*neurons int64); ``top`` bounds |x|. Float32 where no partial sum reaches 2^24."""
        dtype = torch.float32 if self.fan_in_bound * top < FLOAT32_EXACT else torch.float64
        x = x.to(dtype)
        w = self.weight.to(dtype)
        n, steps = x.shape[:2]
        if self.kind == "dense":
            acc = x.reshape(n * steps, -1) @ w.T
        else:
            xs = x.reshape(n * steps, *self.in_shape).contiguous(memory_format=torch.channels_last)
            acc = F.conv2d(xs, w.contiguous(memory_format=torch.channels_last), **self.conv)
        kind = 1 if self.kind == "dense" else 2
        _finish_into(acc.contiguous().reshape(-1).numpy(), kind, self.exponent, total)


class GraphRunner:
    """A graph prepared for batched runs: synapses with Lava's weights and biases, built once."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.synapses: dict[int, list[_Synapse]] = {}
        self.bias: dict[int, np.ndarray] = {}
        self.types = {i: layer_type(layer.kind) for i, layer in enumerate(graph.layers)
                      if layer.custom}  # one instance per run: state across batches
        for i in graph.populations:
            layer = graph.layers[i]
            self.synapses[i] = [
                _Synapse(p, graph.layers[p.source].shape)
                for projection in layer.inputs
                for _, p in graph.resolved(projection)
            ]
            bias = layer.bias if layer.bias is not None else np.zeros(layer.neurons, np.int64)
            # a LIF adds its bias to v (<< 6, as a_in); a custom layer adds it to X as it is
            self.bias[i] = bias.astype(np.int64) << (0 if layer.custom else BIAS_EXP)

    def run_batch(
        self, inputs: np.ndarray, record_states: bool = False
    ) -> dict[int, tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
        """Traces (spikes, u, v), each (n, T, neurons) in C, H, W order, of every population for
        inputs (n, *input_shape, T) of integer spikes or graded payloads (custom layers: their
        recorded spikes, no states)."""
        x_in = torch.from_numpy(np.asarray(inputs, dtype=np.float64)).movedim(-1, 1)
        n, steps = x_in.shape[:2]
        signals = {0: (x_in, float(x_in.abs().max()) if x_in.numel() else 0.0)}
        traces = {}
        for i in self.graph.order:
            layer = self.graph.layers[i]
            if layer.kind in ("input", "concat"):
                continue
            total = np.zeros(n * steps * layer.neurons, np.int64)
            for syn in self.synapses[i]:
                source, top = signals[syn.source]
                syn.add_to(source, top, total)
            size = (n, steps, layer.neurons)
            if layer.custom:
                x = total.reshape(size) + self.bias[i]
                x = np.moveaxis(x.reshape(n, steps, *layer.shape), 1, -1)
                out, recorded = self.types[i].run_fast(layer, np.ascontiguousarray(x))
                traces[i] = (np.moveaxis(recorded, -1, 1).reshape(size), None, None)
                out = torch.from_numpy(np.moveaxis(out, -1, 1).astype(np.float64))
                signals[i] = (out, float(out.abs().max()) if out.numel() else 0.0)
                continue
            spikes = np.empty(size, np.float32)
            us = np.empty(size if record_states else (0, 0, 0), np.int64)
            vs = np.empty_like(us)
            n_ = layer.neuron
            bias = np.ascontiguousarray(np.broadcast_to(self.bias[i], (n, layer.neurons)))
            acc = total.astype(np.float64).reshape(size)
            lif_run(acc, 3, 0, n_.cu, n_.cv, bias, n_.vth, spikes, us, vs, record_states)
            traces[i] = (spikes, us if record_states else None, vs if record_states else None)
            signals[i] = (torch.from_numpy(spikes).reshape(n, steps, *layer.shape), 1.0)
        return traces


def run_graph_fast(
    graph: Graph,
    inputs: np.ndarray,
    time_steps: int | None = None,
    record_all: bool = True,
    record_states: bool = False,
    batch_size: int = 256,
) -> SimResult:
    """Simulate a graph as :func:`loihi_snn.backends.lava_graph.run_lava_graph` would; traces of
    every
    population in file order (or the last only), readout = output spike counts."""
    prepare_run(graph, inputs, time_steps)
    runner = GraphRunner(graph)
    began = time.time()
    keep = graph.populations if record_all else graph.populations[-1:]
    batches = (
        runner.run_batch(inputs[start : start + batch_size], record_states)
        for start in range(0, len(inputs), batch_size)
    )
    spikes, u, v = stack_batches(batches, keep, lambda _, trace: trace.transpose(0, 2, 1))
    spikes = [s.astype(np.int8) for s in spikes]
    if not record_states:
        u = v = None
    readout = spikes[-1].sum(-1).astype(np.int64)
    return SimResult(spikes, readout, False, time.time() - began, u, v)
