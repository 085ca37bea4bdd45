"""Running a network in Lava: the CPU simulator (``Loihi2SimCfg``, ``fixed_pt``) or a Loihi 2
board (``Loihi2HwCfg``, needs Intel's lava-loihi). One entry, :func:`run_lava`: a network read from
a sequential NetX file runs through lava-dl's own ``netx.hdf5.Network`` (the proof that vanilla
netx loads the file), every other network through :mod:`.lava_graph`'s builder.

All samples run in one compiled network. Lava's Dense/Conv add one step per hop, so netx's
``reset_interval`` resets layer k at an offset of k: layer k sees sample j in its own window of T
steps starting at global step j*T + k + lag, where lag is 1 when a ring buffer feeds the first
synapse and 0 when the input layer's neurons are driven through their bias (in both cases the
layer's depth in the IR). This module hides that pipelining, netx's unwired Input port (it drives
the input neurons' bias instead) and the output layer that never spikes (it reads the voltage).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..ir.graph import Graph
from ..ir.hdf5 import read_network
from .inputs import prepare_run
from .lava_graph import run_lava_graph
from .lava_stream import cut_windows, pad_steps, run_config, stream, to_lava
from .result import SimResult, class_readout


def run_lava(
    graph: Graph | str | Path,
    inputs: np.ndarray,
    time_steps: int | None = None,
    record_all: bool = True,
    hardware: bool = False,
    record_states: bool = False,
) -> SimResult:
    """Run ``n`` samples through the network in one Lava run (the module doc says how).

    inputs: for a network whose first synapses take the input, integer spikes or graded payloads
    (n, C, H, W, T) or (n, features, T); for one with input neurons (lava-dl's mnist.net,
    PilotNet), their integer bias per sample (n, *shape). record_states adds every layer's u and v
    (and the graded outputs of custom layers), streamed to the host every step.
    """
    graph = graph if isinstance(graph, Graph) else read_network(graph)
    inputs, steps = prepare_run(graph, inputs, time_steps)
    if graph.origin == "netx":
        return _run_netx(graph, inputs, steps, record_all, hardware, record_states)
    return run_lava_graph(graph, inputs, steps, record_all, hardware, record_states)


def _run_netx(
    info: Graph,
    inputs: np.ndarray,
    steps: int,
    record_all: bool,
    hardware: bool,
    record_states: bool,
) -> SimResult:
    """A netx file through lava-dl's own ``netx.hdf5.Network``."""
    run_cfg = run_config(hardware)

    from lava.lib.dl import netx
    from lava.proc import io

    n = len(inputs)
    lag = 0 if info.input_neuron else 1
    graded = bool(inputs.dtype.kind in "iu" and inputs.max(initial=0) > 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = netx.hdf5.Network(
            net_config=str(info.path),
            reset_interval=steps,
            reset_offset=lag,
            input_message_bits=8 if graded and not info.input_neuron else 0,
        )
    layers = network.layers
    last = len(layers) - 1
    total = n * steps + last + lag
    outputs = {k: layer.out for k, layer in enumerate(layers) if record_all or k == last}
    states = {
        (k, var): getattr(layer.neuron, var)
        for k, layer in enumerate(layers)
        for var in ("u", "v")
        if record_states or (var == "v" and k == last and info.voltage_readout)
    }
    if info.input_neuron:
        bias = to_lava(inputs.astype(np.int32))
        neuron = network.in_layer.neuron
        neuron.bias_mant.init = bias[0].reshape(neuron.bias_mant.shape)

        def next_sample(done: int) -> None:
            if 0 < done < n * steps:
                neuron.bias_mant.set(bias[done // steps].reshape(neuron.bias_mant.shape))

    else:
        data = inputs.astype(np.int32)
        data = to_lava(data) if len(network.inp.shape) == 3 else data.reshape(n, -1, steps)
        data = np.moveaxis(data, 0, -2).reshape(*network.inp.shape, n * steps)
        source = io.source.RingBuffer(data=pad_steps(data, 0, total))
        source.s_out.connect(network.inp)
        next_sample = None
    # biases change only between samples: then the host drains the recorders every sample
    chunk = steps if info.input_neuron else min(total, max(steps, 256))
    spikes_buf, state_buf, seconds = stream(
        network, outputs, states, total, chunk, run_cfg, f"Lava run of {info.name}",
        next_sample, steps,
    )
    buffers = {(k, "s"): buf for k, buf in spikes_buf.items()} | state_buf

    def windows(k: int, buf: np.ndarray) -> np.ndarray:
        return cut_windows(buf, n, steps, k + lag)

    spikes = [
        windows(k, buffers[k, "s"]).astype(np.int8)
        for k in range(len(layers))
        if (k, "s") in buffers
    ]
    v_last = windows(last, buffers[last, "v"]) if info.voltage_readout else None
    readout = class_readout(spikes[-1], v_last, info.voltage_readout)
    u = v = None
    if record_states:
        u = [windows(k, buffers[k, "u"]).astype(np.int64) for k in range(len(layers))]
        v = [windows(k, buffers[k, "v"]).astype(np.int64) for k in range(len(layers))]
    return SimResult(spikes, readout, info.voltage_readout, seconds, u, v)
