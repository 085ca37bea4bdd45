"""Validation of a network in the IR: sources, shapes at every merge, acyclicity, the topological
order and each layer's depth (:func:`validate`), then the range and resource checks of
:mod:`loihi_snn.ir.checks`. Every reader and every model that builds a graph ends with it."""

from __future__ import annotations

import heapq
import math

import numpy as np

from ..errors import LoihiSnnError
from ..loihi.limits import (
    BIAS_MAX,
    BIAS_MIN,
    DECAY_UNIT,
    NETX_FALLBACK_VTH,
    VTH_MAX,
    WEIGHT_MAX,
    WEIGHT_MIN,
)
from .checks import check_graph
from .graph import (
    GRAPH_FORMAT,
    ORIGINS,
    PROJECTION_TYPES,
    SIGMA_DELTA_ROLES,
    Graph,
    Neuron,
    Resonator,
    SigmaDelta,
    layer_type,
)


def validate(graph: Graph, origin: str) -> Graph:
    """Check sources, shapes at every merge, ranges and acyclicity; fill ``order`` and ``depth``;
    then the range and resource checks of :mod:`loihi_snn.ir.checks`. Raises LoihiSnnError naming
    the offending layer."""
    layers = graph.layers
    if not layers or layers[0].kind != "input":
        raise LoihiSnnError(f"{origin}: layer 0 must be the input layer")
    if graph.origin not in ORIGINS:
        raise LoihiSnnError(f"{origin}: unknown origin '{graph.origin}'")
    if layers[-1].kind != "population":
        raise LoihiSnnError(f"{origin}: the last layer must be a population (the classes)")
    if graph.time_steps is not None and graph.time_steps < 1:
        raise LoihiSnnError(f"{origin}: {graph.time_steps} time steps per sample")
    edges: dict[int, list[int]] = {}
    for i, layer in enumerate(layers):
        if layer.kind == "input":
            if i:
                raise LoihiSnnError(f"{origin}: {graph.label(i)} is a second input layer")
            if layer.neuron is not None:
                _check_neuron(layer.neuron, f"{origin}: {graph.label(i)}")
            continue
        refs = layer.sources if layer.kind == "concat" else [p.source for p in layer.inputs]
        if not refs:
            raise LoihiSnnError(f"{origin}: {graph.label(i)} has no input")
        for ref in refs:
            if not 0 <= ref < len(layers):
                raise LoihiSnnError(
                    f"{origin}: {graph.label(i)} reads layer {ref}, which does not exist"
                )
        edges[i] = [ref for ref in refs if not _recurrent(graph, i, ref)]
    graph.order = _topological(edges, len(layers), origin)
    graph.depth = [0] * len(layers)
    graph.ready = [0] * len(layers)
    for i in graph.order:
        layer = layers[i]
        if layer.kind == "concat":
            _check_concat(graph, i, origin)
            graph.depth[i] = max(graph.ready[s] for s in layer.sources)
            graph.ready[i] = graph.depth[i]
        elif layer.kind != "input":
            _check_population(graph, i, origin)
            graph.depth[i] = 1 + max(graph.ready[p.source] for p in layer.inputs
                                     if p.source != i)
            latency = layer_type(layer.kind).latency(layer, graph.time_steps) if layer.custom else 0
            graph.ready[i] = graph.depth[i] + latency
    check_graph(graph, origin)
    return graph


def _recurrent(graph: Graph, i: int, ref: int) -> bool:
    """Whether layer ``i`` reading layer ``ref`` is a recurrent synapse: a NetX dense_rec layer's
    weight_rec, from the population itself (one step later; every other cycle is refused)."""
    layer = graph.layers[i]
    fed = any(p.source != i for p in layer.inputs)
    return ref == i and graph.origin == "netx" and layer.kind == "population" and fed


def _topological(edges: dict[int, list[int]], count: int, origin: str) -> list[int]:
    """Kahn's order over source -> consumer edges, lowest file index first; a cycle is refused
    with its layers named."""
    consumers: dict[int, list[int]] = {i: [] for i in range(count)}
    pending = [0] * count
    for node, refs in edges.items():
        pending[node] = len(refs)
        for ref in refs:
            consumers[ref].append(node)
    ready = [i for i in range(count) if pending[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for nxt in consumers[node]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                heapq.heappush(ready, nxt)
    if len(order) < count:
        cycle = _cycle(edges, sorted(set(range(count)) - set(order)))
        raise LoihiSnnError(
            f"{origin}: a cycle without delay through layers {' -> '.join(map(str, cycle))} "
            f"(layer {cycle[0]} reads layer {cycle[1]}, ...); every projection is zero-latency "
            f"and recurrent connections are not part of format {GRAPH_FORMAT}"
        )
    return order


def _cycle(edges: dict[int, list[int]], stuck: list[int]) -> list[int]:
    """One cycle among the layers Kahn's order could not place, as consumer -> source steps
    (every stuck layer reads at least one stuck layer, so walking sources must repeat)."""
    blocked = set(stuck)
    path, node = [], stuck[0]
    while node not in path:
        path.append(node)
        node = next(ref for ref in edges[node] if ref in blocked)
    return [*path[path.index(node) :], node]


def _check_concat(graph: Graph, i: int, origin: str) -> None:
    layer = graph.layers[i]
    shapes = [graph.layers[s].shape for s in layer.sources]
    if any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
        raise LoihiSnnError(
            f"{origin}: layer {i} (concat) joins mismatched shapes {shapes}: channels may differ, "
            f"the rest must agree"
        )
    shape = (sum(s[0] for s in shapes), *shapes[0][1:])
    if tuple(layer.shape) != shape:
        raise LoihiSnnError(
            f"{origin}: layer {i} (concat) has shape {layer.shape}, its sources {shape}"
        )


def _check_neuron(n: Neuron | SigmaDelta | Resonator, where: str) -> None:
    """Decays in [0, 4096] and a threshold mantissa of 17 bits (or netx's never-spiking
    fallback); a sigma-delta or RF neuron's threshold in 0..2^17 - 1 too, and an RF's decays in
    [-4096, 4096] (12-bit fractions, signed)."""
    if isinstance(n, Resonator):
        decays_ok = all(-DECAY_UNIT <= d <= DECAY_UNIT for d in (n.sin_decay, n.cos_decay))
        if not decays_ok or not 0 <= n.vth <= VTH_MAX:
            raise LoihiSnnError(
                f"{where}: RF neuron with decays sin {n.sin_decay}, cos {n.cos_decay} and vThMant "
                f"{n.vth}, outside Loihi's ranges (decays -{DECAY_UNIT}..{DECAY_UNIT}, threshold "
                f"0..{VTH_MAX})"
            )
        return
    if isinstance(n, SigmaDelta):
        if n.role not in SIGMA_DELTA_ROLES or not 0 <= n.vth <= VTH_MAX:
            raise LoihiSnnError(
                f"{where}: sigma-delta neuron ({n.role}) with vThMant {n.vth}, outside 0..{VTH_MAX}"
            )
        return
    decays_ok = 0 <= n.i_decay <= DECAY_UNIT and 0 <= n.v_decay <= DECAY_UNIT
    if not decays_ok or not (0 <= n.vth <= VTH_MAX or n.vth == NETX_FALLBACK_VTH):
        raise LoihiSnnError(
            f"{where}: neuron iDecay {n.i_decay}, vDecay {n.v_decay}, vThMant {n.vth} outside "
            f"Loihi's ranges (decays 0..{DECAY_UNIT}, threshold 0..{VTH_MAX})"
        )


def _check_population(graph: Graph, i: int, origin: str) -> None:
    """Inputs, bias and neurons of a population or a custom layer."""
    layer = graph.layers[i]
    where = f"{origin}: {graph.label(i)}"
    for k, p in enumerate(layer.inputs):
        if p.kind not in PROJECTION_TYPES:
            raise LoihiSnnError(f"{where}, input {k}: unknown projection type '{p.kind}'")
        try:
            out = p.out_shape(graph.layers[p.source].shape)
            graph.resolved(p)
        except ValueError as err:
            raise LoihiSnnError(f"{where}, input {k} from {graph.label(p.source)}: {err}") from None
        fits = math.prod(out) == layer.neurons if p.kind == "dense" else out == layer.shape
        if not fits:
            raise LoihiSnnError(
                f"{where}: mismatched shapes at the merge: input {k} from {graph.label(p.source)} "
                f"delivers {out}, the population has shape {layer.shape}"
            )
        if p.delay is not None and graph.origin != "netx":  # only netx builds DelayDense
            raise LoihiSnnError(
                f"{where}, input {k}: synaptic delays, which only a NetX file (run through "
                f"netx) can hold: write the network as a NetX file"
            )
        w = p.weight
        if not np.all(np.isfinite(w)) or not np.array_equal(w, np.round(w)):
            raise LoihiSnnError(f"{where}, input {k}: non-integer weights: re-export")
        if not w.size:
            raise LoihiSnnError(f"{where}, input {k}: empty weight")
        if w.min() < WEIGHT_MIN or w.max() > WEIGHT_MAX:
            raise LoihiSnnError(
                f"{where}, input {k}: weights span [{w.min():g}, {w.max():g}], outside Loihi's "
                f"8-bit range [{WEIGHT_MIN}, {WEIGHT_MAX}]: quantise before exporting"
            )
    if isinstance(layer.neuron, Resonator):
        _check_resonator_inputs(graph, i, where)
    recurrent = [k for k, p in enumerate(layer.inputs) if p.source == i]
    if recurrent and (layer.custom or layer.inputs[recurrent[0]].kind != "dense"
                      or len(recurrent) > 1 or isinstance(layer.neuron, Resonator)):
        raise LoihiSnnError(f"{where}: a recurrent synapse other than one dense weight_rec")
    if layer.custom:
        layer_type(layer.kind).check(layer, where)
    elif layer.neuron is None:
        raise LoihiSnnError(f"{where}: a population without neuron parameters")
    else:
        _check_neuron(layer.neuron, where)
    bias = layer.bias
    if bias is not None and (
        bias.size != layer.neurons
        or not np.all(np.isfinite(bias))
        or bias.min() < BIAS_MIN
        or bias.max() > BIAS_MAX
    ):
        raise LoihiSnnError(
            f"{where}: bias must hold {layer.neurons} integers in [{BIAS_MIN}, {BIAS_MAX}]"
        )


def _check_resonator_inputs(graph: Graph, i: int, where: str) -> None:
    """An RF population's two dense projections from one source (real, imaginary) and no
    bias."""
    layer = graph.layers[i]
    kinds = [p.kind for p in layer.inputs]
    sources = {p.source for p in layer.inputs}
    if kinds != ["dense", "dense"] or len(sources) != 1 or layer.bias is not None:
        raise LoihiSnnError(
            f"{where}: RF neurons take two dense projections from one source (the real and the "
            f"imaginary part of a complex weight) and no bias; it has {'+'.join(kinds)} from "
            f"layers {sorted(sources)}{' and a bias' if layer.bias is not None else ''}"
        )
