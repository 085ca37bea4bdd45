"""Running a graph file (format 2) in Lava: the process graph, with its time alignment.

Every population is a Lava ``LIFReset`` (the neuron netx builds for CUBA layers) and every
projection a Lava ``Dense`` (weights packed by netx's ``optimize_weight_bits``, as netx does) or
``Conv`` (weights in Lava's x, y order, as netx passes them); pool and identity projections run as
convs with the weight on the channel diagonal. All projections into a population connect to its
``a_in``, which adds them.

Time alignment. The trained model is zero-latency (a population sees its sources at the same step);
Lava adds one step per synaptic hop. A population at depth d (longest path from the input, in hops)
sees sample j in the window that starts at global step j * T + d, and is reset there. A projection
from a source at depth d_s into a population at depth d arrives d - d_s - 1 steps early, so the
loader delays it by that much: spike sources through a chain of relay populations (identity synapse
into a memoryless LIF with du = 4095, dv = 4096, vth = 0, which re-emits each spike one step
later, exactly), the input through its own ring buffer holding the same data shifted by the delay.
Relays are not in the file and not recorded.

Custom layers (:class:`loihi_snn.ir.graph.LayerType`) are their type's Lava process, fed like a
population (the projections connect to its ``x_in``, its bias is added inside) and read through
its output port. A custom layer of latency L answers L steps after its depth: its readers and its
recorded spikes start at ``ready`` = depth + L. A graded stream that must wait is delayed by a
``GradedDelay`` process (an exact delay line), a spike stream by relays as above.
"""

from __future__ import annotations

import numpy as np
from lava.lib.dl.netx.utils import optimize_weight_bits

from ..ir.graph import Graph, Projection, layer_type, lowered
from ..loihi.limits import BIAS_EXP, GRADED_INPUT_BITS, GRADED_STREAM_BITS, RELAY_NEURON
from .inputs import refuse_netx_only
from .lava_stream import cut_windows, pad_steps, run_config, stream, to_lava
from .result import SimResult, class_readout


def _lava_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[::-1]) if len(shape) == 3 else tuple(shape)


def _flat(port, shape: tuple[int, ...]):
    """A (W, H, C) OutPort as a flat port in C, H, W order (netx's flatten); 1-D ports as they
    are."""
    return port.transpose([2, 1, 0]).flatten() if len(shape) == 3 else port


def _synapse(p: Projection, in_shape: tuple[int, ...], message_bits: int):
    """The Lava Dense or Conv process of a lowered projection from a source of ``in_shape``."""
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense

    if p.kind == "dense":
        weight, bits, exponent, _ = optimize_weight_bits(p.weight)
        return Dense(
            weights=weight,
            weight_exp=exponent,
            num_weight_bits=bits,
            num_message_bits=message_bits,
        )
    weight = p.weight[:, :, ::-1, ::-1].transpose((0, 3, 2, 1)).astype(np.int32)
    return Conv(
        weight=weight,
        input_shape=_lava_shape(in_shape),
        stride=np.array(p.stride[::-1]),
        padding=np.array(p.padding[::-1]),
        dilation=np.array(p.dilation[::-1]),
        groups=p.groups,
        num_message_bits=message_bits,
    )


def _connect(src_port, src_shape: tuple[int, ...], syn, p: Projection, target) -> None:
    """Source port -> synapse -> ``target`` InPort."""
    if p.kind == "dense":
        _flat(src_port, src_shape).connect(syn.s_in)
        out = syn.a_out
        if len(target.shape) == 3:  # rows in C, H, W order -> Lava's (W, H, C)
            out = out.reshape(target.shape[::-1]).transpose([2, 1, 0])
        out.connect(target)
    else:
        src_port.connect(syn.s_in)
        syn.a_out.connect(target)


class _Builder:
    """Builds the Lava processes of a graph for ``n`` pipelined samples of ``steps`` steps."""

    def __init__(self, graph: Graph, inputs: np.ndarray, steps: int) -> None:
        from lava.proc.io.source import RingBuffer
        from lava.proc.lif.process import LIF

        self.graph, self.steps = graph, steps
        self.n = len(inputs)
        self.total = self.n * steps + max(graph.ready)
        self.graded = bool(inputs.max(initial=0) > 1)
        data = to_lava(inputs.astype(np.int32)) if inputs.ndim == 5 else inputs.astype(np.int32)
        self.data = np.moveaxis(data, 0, -2).reshape(*data.shape[1:-1], self.n * steps)
        self._lif, self._ring = LIF, RingBuffer
        self.processes: dict[int, object] = {}  # layer -> its (first) process
        self.a_in: dict[int, object] = {}  # layer -> the InPort its projections feed
        self.out: dict[int, object] = {}  # layer -> the OutPort its readers take
        self.recorded: dict[int, object] = {}  # layer -> the OutPort of its spikes
        self._delayed: dict[tuple[int, int], object] = {}  # (source, delay) -> OutPort
        for i in graph.order:
            layer = graph.layers[i]
            if layer.kind in ("input", "concat"):
                continue
            if layer.custom:
                node = layer_type(layer.kind).lava(layer, steps, graph.depth[i])
                self.processes[i], self.a_in[i] = node.processes[0], node.x_in
                self.out[i], self.recorded[i] = node.out, node.recorded
            else:
                self._population(i)
            for projection in layer.inputs:
                for source, part in graph.resolved(projection):
                    self._project(source, part, i)

    def _population(self, i: int) -> None:
        """The LIFReset of population ``i``."""
        from lava.proc.lif.process import LIFReset

        layer, steps = self.graph.layers[i], self.steps
        n = layer.neuron
        bias = np.zeros(layer.neurons, np.int32) if layer.bias is None else layer.bias
        bias = bias.reshape(layer.shape).astype(np.int32)
        lif = LIFReset(
            shape=_lava_shape(layer.shape),
            du=n.i_decay - 1,
            dv=n.v_decay,
            vth=n.vth,
            bias_mant=to_lava(bias[None])[0] if bias.ndim == 3 else bias,
            bias_exp=BIAS_EXP,
            reset_interval=steps,
            reset_offset=self.graph.depth[i] + 1,  # Lava's time starts at 1
        )
        self.processes[i], self.a_in[i] = lif, lif.a_in
        self.out[i] = self.recorded[i] = lif.s_out

    def _port(self, source: int, delay: int):
        """The OutPort of ``source`` delayed by ``delay`` steps (relays / shifted ring buffer)."""
        key = (source, delay)
        if key in self._delayed:
            return self._delayed[key]
        if source == 0:
            port = self._ring(data=pad_steps(self.data, delay, self.total)).s_out
        elif delay == 0:
            port = self.out[source]
        elif self.graph.graded(source):
            from loihi_snn.backends.graded_delay.process import GradedDelay

            shape = _lava_shape(self.graph.layers[source].shape)
            line = GradedDelay(shape=shape, delay=delay)
            self.out[source].connect(line.s_in)
            port = line.s_out
        else:
            shape = self.graph.layers[source].shape
            relay = self._lif(shape=_lava_shape(shape), **RELAY_NEURON)
            identity = Projection(source, "identity", np.ones(1))
            p = lowered(identity, shape)
            syn = _synapse(p, shape, 0)
            _connect(self._port(source, delay - 1), shape, syn, p, relay.a_in)
            port = relay.s_out
        self._delayed[key] = port
        return port

    def _project(self, source: int, projection: Projection, target: int) -> None:
        graph = self.graph
        shape = graph.layers[source].shape
        delay = graph.depth[target] - graph.ready[source] - 1
        p = lowered(projection, shape)
        if source == 0:
            bits = GRADED_INPUT_BITS if self.graded else 0
        else:
            bits = GRADED_STREAM_BITS if graph.graded(source) else 0
        syn = _synapse(p, shape, bits)
        _connect(self._port(source, delay), shape, syn, p, self.a_in[target])


def run_lava_graph(
    graph: Graph,
    inputs: np.ndarray,
    steps: int,
    record_all: bool = True,
    hardware: bool = False,
    record_states: bool = False,
) -> SimResult:
    """Run ``n`` samples (n, *input_shape, T) of integer spikes or graded payloads (checked by
    :func:`loihi_snn.backends.inputs.prepare_run`) through the graph in one pipelined Lava run;
    traces of every population in order, each in its own window (see the module docstring)."""
    refuse_netx_only(graph, "the Lava graph builder")
    if graph.input_neuron:
        raise ValueError("input neurons are a netx feature: run the file through netx")
    run_cfg = run_config(hardware)
    built = _Builder(graph, inputs, steps)
    pops = graph.populations
    keep = pops if record_all else pops[-1:]
    outputs = {i: built.recorded[i] for i in keep}
    if record_states:
        outputs |= {("out", i): built.out[i] for i in keep if graph.graded(i)}
    last = pops[-1]
    states = {
        (i, var): getattr(built.processes[i], var)
        for i in keep
        if not graph.layers[i].custom
        for var in ("u", "v")
        if record_states or (var == "v" and i == last and graph.voltage_readout)
    }
    chunk = min(built.total, max(steps, 256))
    spikes_buf, state_buf, seconds = stream(
        built.processes[pops[0]], outputs, states, built.total, chunk, run_cfg,
        f"Lava run of {graph.name}", sample_steps=steps,
    )
    n = built.n

    def windows(i: int, buf: np.ndarray) -> np.ndarray:
        return cut_windows(buf, n, steps, graph.ready[i])

    spikes = [windows(i, spikes_buf[i]).astype(np.int8) for i in keep]
    v_last = windows(last, state_buf[last, "v"]) if graph.voltage_readout else None
    readout = class_readout(spikes[-1], v_last, graph.voltage_readout, graph.readout_groups)
    result = SimResult(spikes, readout, graph.voltage_readout, seconds)
    if record_states:  # custom layers record no u, v
        result.u, result.v = ([
            windows(i, state_buf[i, var]).astype(np.int64) if (i, var) in state_buf else None
            for i in keep
        ] for var in ("u", "v"))
        result.outputs = [
            windows(i, spikes_buf["out", i]).astype(np.int64) if ("out", i) in spikes_buf
            else None
            for i in keep
        ]
    return result
