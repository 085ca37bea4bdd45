"""What every backend checks before a run: the network's features, the inputs' shape and the
time steps."""

from __future__ import annotations

import math

import numpy as np

from ..errors import LoihiSnnError
from ..ir.checks import check_steps
from ..ir.graph import Graph


def prepare_run(graph: Graph, inputs: np.ndarray, time_steps: int | None) -> tuple[np.ndarray, int]:
    """The inputs as the backends take them and the time steps per sample.

    inputs: for a network whose first synapses take the input, integer spikes or graded payloads
    (n, *input_shape, T); for one with input neurons, their bias mantissas per sample
    (n, *input_shape). A netx file also takes samples of another shape with as many values (netx
    flattens them); they are reshaped to its input shape.
    """
    steps = time_steps or graph.time_steps
    name = graph.name
    if not steps or steps < 1:
        raise LoihiSnnError(f"{name} does not store its time steps: give the time steps per sample")
    check_steps(graph, steps, name, "give fewer time steps per sample (--steps)")
    inputs = np.asarray(inputs)
    if inputs.dtype.kind not in "iub" and not np.all(np.isfinite(inputs)):
        raise LoihiSnnError("the inputs hold NaN or infinite values")
    if inputs.ndim < 2 or not len(inputs):
        raise LoihiSnnError(f"no input samples (inputs of shape {inputs.shape})")
    sample_shape = inputs.shape[1:] if graph.bias_input else inputs.shape[1:-1]
    if tuple(sample_shape) != tuple(graph.input_shape):
        flat_ok = graph.origin == "netx" and math.prod(sample_shape) == math.prod(graph.input_shape)
        if not flat_ok:
            raise LoihiSnnError(
                f"input samples have shape {tuple(sample_shape)} but {name} expects "
                f"{graph.input_shape}"
            )
        tail = () if graph.bias_input else inputs.shape[-1:]
        inputs = inputs.reshape(len(inputs), *graph.input_shape, *tail)
    if not graph.bias_input and inputs.shape[-1] != steps:
        raise LoihiSnnError(f"inputs have {inputs.shape[-1]} time steps, the network {steps}")
    return inputs, steps


def refuse_netx_only(graph: Graph, backend: str) -> None:
    """Refuse, before running, a network with a feature ``backend`` does not implement."""
    for i, layer in enumerate(graph.layers):
        if layer.netx_only:
            raise LoihiSnnError(
                f"{graph.name}: {graph.label(i)} uses {layer.netx_only[0]}, which {backend} does "
                f"not implement (running it without would give other spikes than Lava): "
                f"use the lava backend"
            )
