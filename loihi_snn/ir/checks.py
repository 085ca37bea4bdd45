"""Range and resource checks on a network in the IR: the last step of
:func:`loihi_snn.ir.validation.validate`, so that both file formats, both backends and the networks
built in code share one validation, done before anything runs.

:func:`check_graph` refuses what Loihi's number ranges do not allow (the limits of
:mod:`loihi_snn.loihi.limits`), NaN and infinity, what netx and Lava cannot build (an all-zero
dense weight, several weights of a pool or identity, output channels the conv groups do not
divide), metadata the toolkit cannot use, an output layer that does not hold the classes its
metadata names, and sizes beyond the simulators' caps (a resource bomb: a huge layer, time-step
count or synapse count). :func:`check_geometry` refuses projection geometry that shapes cannot be
computed with (the readers call it on each projection as they read it) and :func:`check_steps`
the time steps of a run. Every problem is one LoihiSnnError naming the file and the layer.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import LoihiSnnError
from ..loihi.limits import (
    BIAS_MAX,
    BIAS_MIN,
    MAX_LAYER_NEURONS,
    MAX_NEURON_STEPS,
    MAX_SYNAPSE_STEPS,
    MAX_TIME_STEPS,
    MAX_VALUES,
)
from .graph import Graph, Projection


def check_graph(graph: Graph, origin: str) -> None:
    """Everything of a structurally valid graph that Loihi, netx, Lava or the simulators' caps
    refuse (module doc); ``origin`` names the file in messages."""
    _check_meta(graph, origin)
    for i, layer in enumerate(graph.layers):
        where = f"{origin}: {graph.label(i)}"
        _check_layer(graph, i, where)
        for k, p in enumerate(layer.inputs):
            _check_projection(graph, p, f"{where}, input {k} from {graph.label(p.source)}")
    _check_output(graph, origin)
    if graph.time_steps is not None:
        fix = "store the time steps the network runs for in its simulation/tSample"
        if graph.origin == "netx":
            fix += " (or delete it and pass --steps)"
        check_steps(graph, graph.time_steps, origin, fix)


def check_geometry(p: Projection, where: str) -> None:
    """Strides, dilations, kernels and groups of at least 1 and paddings of at least 0, none
    beyond MAX_LAYER_NEURONS: what :meth:`Projection.out_shape` divides by and adds."""
    for name in ("stride", "dilation", "kernel", "padding", "groups"):
        values = np.atleast_1d(getattr(p, name))
        low = 0 if name == "padding" else 1
        if values.min() < low or values.max() > MAX_LAYER_NEURONS:
            raise LoihiSnnError(
                f"{where}: {p.kind} {name} {tuple(int(v) for v in values)} outside "
                f"[{low}, {MAX_LAYER_NEURONS:,}]"
            )


def check_steps(graph: Graph, steps: int, where: str, fix: str) -> None:
    """``steps`` time steps per sample within MAX_TIME_STEPS, and a sample's neuron-steps (every
    layer's state) and synapse-steps (its work) within their caps; ``fix`` says what to do."""
    if steps > MAX_TIME_STEPS:
        raise LoihiSnnError(
            f"{where}: {steps:,} time steps per sample, beyond the simulators' cap of "
            f"{MAX_TIME_STEPS:,}: {fix}"
        )
    neurons, synapses = _sizes(graph)
    for count, what, cap in (
        (neurons, "neuron", MAX_NEURON_STEPS),
        (synapses, "synapse", MAX_SYNAPSE_STEPS),
    ):
        if steps * count > cap:
            raise LoihiSnnError(
                f"{where}: {steps:,} time steps x {count:,} {what}s = {steps * count:,} "
                f"{what}-steps per sample, beyond the simulators' cap of {cap:,}: {fix}"
            )


def _sizes(graph: Graph) -> tuple[int, int]:
    """Neurons (every layer but concats, the input included) and synapses as the backends run
    them (:func:`loihi_snn.ir.graph.lowered`: an identity on a flat source is a diagonal dense)."""
    neurons = synapses = 0
    for layer in graph.layers:
        if layer.kind != "concat":
            neurons += layer.neurons
        for p in layer.inputs:
            if p.kind in ("dense", "conv"):
                per_neuron = p.weight.size // p.weight.shape[0]  # inputs, or channels x taps
            elif p.kind == "pool":
                per_neuron = p.kernel[0] * p.kernel[1]
            else:
                per_neuron = layer.neurons if len(layer.shape) == 1 else 1
            synapses += layer.neurons * per_neuron if p.kind != "dense" else p.weight.size
    return neurons, synapses


def _check_meta(graph: Graph, origin: str) -> None:
    """The metadata the toolkit reads: a JSON object; the checkpoint's path and sha256 strings and
    a list of class names, where given."""
    meta = graph.meta
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise LoihiSnnError(
            f"{origin}: its metadata (root attribute loihi_snn) is not a JSON object: re-export it"
        )
    for key in ("checkpoint", "checkpoint_sha256"):
        if key in meta and not isinstance(meta[key], str):
            raise LoihiSnnError(f"{origin}: its metadata {key} is not a string: re-export it")
    classes = meta.get("classes")
    if classes is not None and (not isinstance(classes, list) or not classes):
        raise LoihiSnnError(f"{origin}: its metadata classes must be a list of names: re-export it")


def _check_layer(graph: Graph, i: int, where: str) -> None:
    """Shape (C, H, W) or (features,), within the layer cap; integer bias; an input transform
    whose bias mantissas fit Loihi's range. netx flattens the samples of an input without
    neurons for its first dense layer, so that one may have any shape."""
    layer = graph.layers[i]
    shape = tuple(layer.shape)
    flat_input = i == 0 and graph.origin == "netx" and layer.neuron is None
    if not shape or min(shape) < 1 or (len(shape) not in (1, 3) and not flat_input):
        raise LoihiSnnError(
            f"{where}: shape {shape}; a layer is (C, H, W) or (features,), sizes at least 1"
        )
    if layer.neurons > MAX_LAYER_NEURONS:
        raise LoihiSnnError(
            f"{where}: {layer.neurons:,} neurons, beyond the simulators' cap of "
            f"{MAX_LAYER_NEURONS:,} per layer: is its shape damaged?"
        )
    if layer.bias is not None and not np.array_equal(layer.bias, np.round(layer.bias)):
        raise LoihiSnnError(f"{where}: bias must hold integer mantissas")
    if layer.transform is not None:
        weight, bias = layer.transform
        ends = (bias - abs(weight), bias + abs(weight))
        if not all(math.isfinite(v) and BIAS_MIN <= round(v) <= BIAS_MAX for v in ends):
            raise LoihiSnnError(
                f"{where}: input transform weight {weight:g}, bias {bias:g} gives bias mantissas "
                f"outside Loihi's range [{BIAS_MIN}, {BIAS_MAX}] for inputs in [-1, 1]"
            )


def _check_projection(graph: Graph, p: Projection, where: str) -> None:
    """Weights netx and Lava can build, within the caps."""
    source = graph.layers[p.source]
    w = p.weight
    if p.kind in ("pool", "identity") and w.size != 1:
        raise LoihiSnnError(f"{where}: a {p.kind} projection has one weight, not {w.size}")
    if p.kind == "conv":
        if w.shape[0] % p.groups:
            raise LoihiSnnError(
                f"{where}: {w.shape[0]} output channels do not split into {p.groups} groups"
            )
        c, h, width = source.shape
        padded = c * (h + 2 * p.padding[0]) * (width + 2 * p.padding[1])
        if padded > MAX_LAYER_NEURONS:
            raise LoihiSnnError(
                f"{where}: padding {p.padding} makes a padded input of {padded:,} values, beyond "
                f"the simulators' cap of {MAX_LAYER_NEURONS:,}"
            )
    channels = source.shape[0] if p.kind in ("pool", "identity") else 0
    flat_identity = p.kind == "identity" and len(source.shape) == 1
    held = {  # the weights Lava holds: pool and identity with the full channel diagonal
        "dense": w.size,
        "conv": w.size,
        "pool": channels * channels * p.kernel[0] * p.kernel[1],
        "identity": channels * channels,
    }[p.kind]
    if held > MAX_VALUES:
        raise LoihiSnnError(
            f"{where}: {held:,} weights as Lava builds the {p.kind} projection, beyond the "
            f"simulators' cap of {MAX_VALUES:,}"
        )
    if p.kind == "dense" or flat_identity:
        for src, part in graph.resolved(p):
            if not np.any(part.weight):
                raise LoihiSnnError(
                    f"{where}: all its dense weights from {graph.label(src)} are 0, which netx's "
                    f"optimize_weight_bits cannot pack (Lava and the fast backend would fail): "
                    f"drop the projection"
                )


def _check_output(graph: Graph, origin: str) -> None:
    """The output layer of a file whose metadata names its classes holds one neuron per class
    (a file missing its output layer would run to a meaningless accuracy)."""
    classes = (graph.meta or {}).get("classes")
    last = len(graph.layers) - 1
    if classes is not None and graph.layers[last].neurons != len(classes):
        raise LoihiSnnError(
            f"{origin}: the output layer, {graph.label(last)}, has {graph.layers[last].neurons} "
            f"neurons for the {len(classes)} classes its metadata names: is a layer missing? "
            f"re-export it"
        )
