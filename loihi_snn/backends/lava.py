"""Running a network in Lava: the CPU simulator (``Loihi2SimCfg``, ``fixed_pt``) or a Loihi 2
board (``Loihi2HwCfg``, needs Intel's lava-loihi). One entry, :func:`run_lava`: a network read from
a sequential NetX file runs through lava-dl's own ``netx.hdf5.Network`` (the proof that vanilla
netx loads the file), every other network through :mod:`.lava_graph`'s builder.

All samples run in one compiled network. Lava's Dense/Conv add one step per hop, so netx's
``reset_interval`` resets layer k at an offset of k: layer k sees sample j in its own window of T
steps starting at global step j*T + k + lag, where lag is 1 when a ring buffer feeds the first
synapse and 0 when the file has input neurons (in both cases the layer's depth in the IR). This
module hides that pipelining, netx's unwired Input port and the output layer that never spikes
(it reads the voltage). Input neurons are driven through their bias (LIF, one bias per sample) or,
for a sigma-delta input (``Delta``), by a ring buffer into their own input port (a graded value
per step, as lava-dl's PilotNet-SDNN test feeds it).

Sigma-delta neurons (``Sigma``, ``Delta``, ``SigmaDelta``) send graded payloads, recorded as they
are; netx builds them without reset, so consecutive samples form one stream (a sample's output
depends on the samples before it), and a layer with a bias sends before its window opens (the
pipeline filling). :class:`NetxTraces` keeps what Lava sent from global step 0, which is what
lava-dl's own tests compare with their golden traces; :meth:`NetxTraces.result` cuts it into the
per-sample windows every backend returns.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LoihiSnnError
from ..ir.graph import Graph
from ..ir.hdf5 import read_network
from .inputs import prepare_run
from .lava_graph import run_lava_graph
from .lava_stream import cut_windows, pad_steps, run_config, stream, to_lava
from .result import SimResult, class_readout, group_readout

GRADED_BITS = (8, 16, 24)  # message bits a graded input may be sent with


def run_lava(
    graph: Graph | str | Path,
    inputs: np.ndarray,
    time_steps: int | None = None,
    record_all: bool = True,
    hardware: bool = False,
    record_states: bool = False,
) -> SimResult:
    """Run ``n`` samples through the network in one Lava run (the module doc says how).

    inputs: for a network whose first synapses (or sigma-delta input neurons) take the input,
    integer spikes or graded payloads (n, C, H, W, T) or (n, features, T); for one with LIF input
    neurons (lava-dl's mnist.net, PilotNet-LIF), their integer bias per sample (n, *shape).
    record_states adds every LIF layer's u and v (an RF layer's real and imaginary parts; None for
    other neurons; the graded outputs of custom layers), streamed to the host every step.
    """
    graph = graph if isinstance(graph, Graph) else read_network(graph)
    if graph.origin == "netx":
        return netx_traces(graph, inputs, time_steps, record_all, hardware, record_states).result()
    inputs, steps = prepare_run(graph, inputs, time_steps)
    return run_lava_graph(graph, inputs, steps, record_all, hardware, record_states)


@dataclass
class NetxTraces:
    """What one Lava run of a NetX file recorded, in Lava's global time from step 0.

    outputs: netx layer k -> what it sent at every step (neurons in C, H, W order, total steps),
    int64 spikes 0/1 or graded payloads; states: (k, "u" | "v" | "sigma") -> the state of a LIF
    or a sigma-delta layer (an RF layer's real and imaginary parts as u and v), same layout.
    graded: per netx layer, whether it sends graded payloads; sigma_output: the output layer is a
    ``Sigma`` (it sends its running sum, not changes); readout_groups as
    :attr:`Graph.readout_groups`. Layer k's window for sample j starts at global step
    j * steps + k + lag.
    """

    outputs: dict[int, np.ndarray]
    states: dict[tuple[int, str], np.ndarray]
    graded: list[bool]
    sigma_output: bool
    voltage_readout: bool
    readout_groups: int | None
    record_states: bool
    samples: int
    steps: int
    lag: int
    seconds: float

    def window(self, k: int, buf: np.ndarray) -> np.ndarray:
        """Layer k's trace (neurons, total) cut into its sample windows (n, neurons, T)."""
        return cut_windows(buf, self.samples, self.steps, k + self.lag)

    def result(self) -> SimResult:
        """The per-sample windows of every recorded layer: spikes 0/1 (for a graded layer: where
        it sent a payload), the payloads of graded layers in ``outputs``, u and v of LIF and RF
        layers."""
        layers = sorted(self.outputs)
        last = len(self.graded) - 1
        spikes = [(self.window(k, self.outputs[k]) != 0).astype(np.int8) for k in layers]
        outputs = None
        if any(self.graded[k] for k in layers):
            outputs = [self.window(k, self.outputs[k]) if self.graded[k] else None for k in layers]
        if self.graded[last] and not self.voltage_readout:
            readout = group_readout(self._decoded(last), self.readout_groups)
        else:
            v_last = self.window(last, self.states[last, "v"]) if self.voltage_readout else None
            readout = class_readout(spikes[-1], v_last, self.voltage_readout, self.readout_groups)
        result = SimResult(spikes, readout, self.voltage_readout, self.seconds, outputs=outputs)
        if self.record_states:
            result.u, result.v = ([
                self.window(k, self.states[k, var]) if (k, var) in self.states else None
                for k in layers
            ] for var in ("u", "v"))
        return result

    def _decoded(self, k: int) -> np.ndarray:
        """A graded layer's value at the last step of each sample (n, neurons): a Sigma sends its
        sum itself; other layers send changes, which a Sigma reading them sums from step 0."""
        buf = self.outputs[k]
        if not (self.sigma_output and k == len(self.graded) - 1):
            buf = np.cumsum(buf, -1)
        return self.window(k, buf)[:, :, -1]


def netx_traces(
    graph: Graph | str | Path,
    inputs: np.ndarray,
    time_steps: int | None = None,
    record_all: bool = True,
    hardware: bool = False,
    record_states: bool = False,
) -> NetxTraces:
    """A NetX file's run through lava-dl's own ``netx.hdf5.Network`` (inputs as for
    :func:`run_lava`), as Lava recorded it from global step 0."""
    from lava.lib.dl import netx
    from lava.proc import io
    from lava.proc.sdn.process import Sigma

    info = graph if isinstance(graph, Graph) else read_network(graph)
    raw = np.asarray(inputs)
    lag = 0 if info.input_neuron else 1
    with warnings.catch_warnings():  # netx warns that sigma-delta neurons ignore the reset
        warnings.simplefilter("ignore")
        try:
            network = netx.hdf5.Network(
                net_config=str(info.path),
                num_layers=info.layers[-1].file_index + 1,  # what the IR holds, nothing after it
                reset_interval=time_steps or info.time_steps or 1,  # prepare_run refuses none
                reset_offset=lag,
                input_message_bits=0 if info.input_neuron else _message_bits(raw),
            )
        except Exception as err:  # the reader's checks should leave netx nothing to fail on
            raise LoihiSnnError(
                f"{info.name}: lava-dl's netx cannot build it ({type(err).__name__}: {err})"
            ) from None
    layers = network.layers
    bias_driven = info.bias_input
    inputs, steps = prepare_run(info, raw, time_steps)
    n = len(inputs)
    last = len(layers) - 1
    total = n * steps + last + lag
    outputs = {k: layer.out for k, layer in enumerate(layers) if record_all or k == last}
    states = {
        (k, var): getattr(layer.neuron, name)
        for k, layer in enumerate(layers)
        if k in outputs
        for var, name in _state_vars(layer.neuron).items()
        if record_states or (var == "v" and k == last and info.voltage_readout)
    }
    next_sample = None
    if bias_driven:
        bias = to_lava(inputs.astype(np.int32))
        neuron = network.in_layer.neuron
        neuron.bias_mant.init = bias[0].reshape(neuron.bias_mant.shape)

        def next_sample(done: int) -> None:
            if 0 < done < n * steps:
                neuron.bias_mant.set(bias[done // steps].reshape(neuron.bias_mant.shape))

    else:
        port = network.in_layer.neuron.a_in if info.input_neuron else network.inp
        data = inputs.astype(np.int32)
        data = to_lava(data) if len(port.shape) == 3 else data.reshape(n, -1, steps)
        data = np.moveaxis(data, 0, -2).reshape(*port.shape, n * steps)
        source = io.source.RingBuffer(data=pad_steps(data, 0, total))
        source.s_out.connect(port)
    # biases change only between samples: then the host drains the recorders every sample
    chunk = steps if bias_driven else min(total, max(steps, 256))
    out_buf, state_buf, seconds = stream(
        network, outputs, states, total, chunk, run_config(hardware), f"Lava run of {info.name}",
        next_sample, steps,
    )
    return NetxTraces(
        outputs={k: np.rint(buf).astype(np.int64) for k, buf in out_buf.items()},
        states={key: np.rint(buf).astype(np.int64) for key, buf in state_buf.items()},
        graded=[layer.output_message_bits > 0 for layer in layers],
        sigma_output=isinstance(layers[-1].neuron, Sigma),
        voltage_readout=info.voltage_readout,
        readout_groups=info.readout_groups,
        record_states=record_states,
        samples=n,
        steps=steps,
        lag=lag,
        seconds=seconds,
    )


def _state_vars(neuron) -> dict[str, str]:
    """The state Vars a run records of a neuron process, as the name it is recorded under ->
    the Var: u and v of a LIF, an RF's real and imaginary parts as u and v, sigma (the summed
    input) of a Sigma or SigmaDelta; none of a Delta."""
    from lava.proc.rf.process import RF
    from lava.proc.sdn.process import Sigma, SigmaDelta

    if hasattr(neuron, "u"):
        return {"u": "u", "v": "v"}
    if isinstance(neuron, RF):  # RF_IZ too
        return {"u": "real", "v": "imag"}
    return {"sigma": "sigma"} if isinstance(neuron, (Sigma, SigmaDelta)) else {}


def _message_bits(x: np.ndarray) -> int:
    """The message bits of an input stream: 0 for spikes (0 and 1 only), else the fewest of
    GRADED_BITS that hold every payload, signed."""
    if not x.size or np.isin(x, (0, 1)).all():
        return 0
    top = float(np.abs(x).max())
    return next((bits for bits in GRADED_BITS if top < 1 << (bits - 1)), GRADED_BITS[-1])
