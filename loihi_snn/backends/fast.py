"""The fast backend: what Lava ``fixed_pt`` computes for any network of the IR, bit for bit, many
samples at once.

Every layer with neurons runs in its own time window (the pipelining that Lava's per-layer reset
offsets give it; its step 0 is the first step at which it sees a sample), in topological order,
the samples of a batch in parallel. Each projection is lowered to the dense or conv synapse Lava
runs (pool and identity as a depthwise conv, the same sums) and run event-driven
(:mod:`.kernels`; a dense projection with synaptic delays through :mod:`.delays`, the samples
one after another). A LIF population fed by one projection finishes its neurons in the synapse's
own loop; one fed by several sums each synapse's finished output (Dense: netx's weight packing and
Lava's exponent shift; Conv: Lava's 24-bit wrap), as Lava's InPort adds the messages of all
connected synapses, then runs :func:`loihi_snn.loihi.fixed_point.lif_run`. Input neurons (lava-dl's
files) are driven through their bias. A custom layer gets the same sum plus its bias as X and runs
its type's integer twin. The trained graph models evaluate through this module too (their integer
twin), so there is one implementation of the arithmetic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LoihiSnnError
from ..ir.graph import Graph, Projection, layer_type
from ..ir.hdf5 import read_network
from ..loihi.fixed_point import lif_run
from ..loihi.limits import BIAS_EXP, FLOAT32_EXACT
from .delays import DelayedDense, prewindow
from .inputs import prepare_run, refuse_netx_only
from .kernels import (
    add_conv_finished,
    conv_events,
    conv_sums,
    dense_events,
    event_args,
    file_order,
    to_backend_order,
)
from .result import SimResult, Traces, class_readout, stack_batches

_NO_STATE = np.empty((0, 0, 0), np.int64)
_NO_SPIKES = np.empty((0, 0, 0), np.int8)
# the LIF arguments of a kernel that only sums (cu, cv, bias, vth, spikes, u, v, record)
_NO_LIF = (0, 0, np.zeros(1, np.int32), 0, _NO_SPIKES, _NO_STATE, _NO_STATE, False)


@dataclass
class _Synapse:
    """A lowered projection ready for its kernel."""

    projection: Projection  # lowered
    in_shape: tuple[int, ...]  # the source layer's shape
    args: tuple  # the event kernel's arguments (kernels.event_args)
    bound: float  # max over outputs of sum |w|: |sum| <= bound * max|x|
    delayed: DelayedDense | None = None  # a dense projection with synaptic delays

    @property
    def source(self) -> int:
        return self.projection.source

    @property
    def kind(self) -> str:  # dense | conv
        return self.projection.kind


def _top(x: np.ndarray) -> float:
    """max |x| of a signal (n, T, N) (a repeated frame read once)."""
    if not x.size:
        return 0.0
    frames = x[:, :1] if x.shape[1] > 1 and x.strides[1] == 0 else x
    return float(np.abs(frames).max())


class FastRunner:
    """A network prepared for batched runs: synapses, biases and custom layer types built once
    (one custom type instance per runner, so state that a type carries across samples crosses
    batches too).

    A conv synapse runs event-driven (:func:`conv_events`) or as one dense convolution of the
    batch (:func:`conv_sums`), the same sums, whichever :meth:`_dense` expects to be faster;
    ``conv_path`` = "events" or "dense" forces one."""

    conv_path = "auto"

    def __init__(self, graph: Graph) -> None:
        refuse_netx_only(graph, "--backend fast")
        self.graph = graph
        self.synapses: dict[int, list[_Synapse]] = {}
        self.bias: dict[int, np.ndarray] = {}
        self.types = {i: layer_type(layer.kind) for i, layer in enumerate(graph.layers)
                      if layer.custom}
        self.x: dict[int, np.ndarray] = {}  # custom layers' X of the last batch, (n, *shape, T)
        self.outputs: dict[int, np.ndarray] = {}  # graded outputs of the last batch (n, T, N)
        self._sums: dict[tuple[int, ...], np.ndarray] = {}  # reused: fresh pages fault slowly
        self._carry = True  # delayed synapses continue from the previous batch
        for i in graph.populations:
            layer = graph.layers[i]
            syns = []
            for p in graph.synapses(i):
                w = np.abs(np.asarray(p.weight, np.float64))
                bound = float(w.reshape(w.shape[0], -1).sum(1).max())
                in_shape = graph.layers[p.source].shape
                args = event_args(p, in_shape, layer.shape)
                delayed = DelayedDense.build(p, in_shape) if p.delay is not None else None
                syns.append(_Synapse(p, in_shape, args, bound, delayed))
            self.synapses[i] = syns
            bias = layer.bias if layer.bias is not None else np.zeros(layer.neurons, np.int64)
            bias = to_backend_order(np.asarray(bias, np.int64)[None], layer.shape)[0]
            # a LIF adds its bias to v (<< 6, as Lava's int32 bias_mant << bias_exp); a custom
            # layer adds it to X as it is
            self.bias[i] = bias if layer.custom else (bias << BIAS_EXP).astype(np.int32)

    def _input(self, inputs: np.ndarray, steps: int, record: bool) -> tuple[Traces, tuple]:
        """The input layer: its neurons' traces when it has neurons (driven by the per-sample
        bias), and the signal the first synapses read (x (n, T, N) backend order, binary)."""
        graph, n = self.graph, len(inputs)
        layer = graph.layers[0]
        if layer.neuron is None:
            x = to_backend_order(np.moveaxis(inputs, -1, 1).reshape(n, steps, -1), layer.shape)
            binary = bool(x.size == 0 or (x.min() >= 0 and x.max() <= 1))
            x = np.ascontiguousarray(x, dtype=np.int8 if binary else np.int32)
            if steps > 1 and (x[:, 1:] == x[:, :1]).all():  # one frame (direct encoding)
                x = np.broadcast_to(x[:, :1], x.shape)  # stride 0 over T: convolved once
            return (None, None, None), (x, binary)
        size = (n, steps, layer.neurons)
        spikes = np.empty(size, np.int8)
        us = np.empty(size, np.int64) if record else _NO_STATE
        vs = np.empty(size, np.int64) if record else _NO_STATE
        bias = to_backend_order(inputs.reshape(n, -1).astype(np.int64) << BIAS_EXP, layer.shape)
        acc = np.zeros((1, 1, 1), np.int32)
        nrn = layer.neuron
        lif_run(acc, 0, 0, nrn.cu, nrn.cv, bias.astype(np.int32), nrn.vth, spikes, us, vs, record)
        traces = (spikes, us if record else None, vs if record else None)
        return traces, (spikes, True)

    def _sum(self, i: int, signals: dict, size: tuple[int, int, int]) -> np.ndarray:
        """The summed finished outputs of population ``i``'s synapses, (n, T, N) int64 (a buffer
        the runner reuses: valid until the next call)."""
        total = self._sums.get(size)
        if total is None:
            total = self._sums[size] = np.zeros(size, np.int64)
        else:
            total.fill(0)
        for syn in self.synapses[i]:
            self._feed(i, syn, signals, _NO_LIF, total)
        return total

    def _feed(self, i: int, syn: _Synapse, signals: dict, lif: tuple, total: np.ndarray) -> None:
        """Run synapse ``syn`` of layer ``i`` on its source's signal: with ``lif`` = (cu, cv,
        bias, vth, spikes, u, v, record) it finishes the neurons in its loop, with ``_NO_LIF`` it
        adds its finished output to ``total`` (n, T, N)."""
        x, binary = signals[syn.source]
        self._check_exact(i, syn, x, binary)
        if syn.delayed is not None:
            finished = syn.delayed.finished(x, self._carry)
            if lif is _NO_LIF:
                total += finished
                return
            cu, cv, bias, vth, spikes, us, vs, record = lif
            bias = np.ascontiguousarray(np.broadcast_to(bias, (len(x), bias.size)))
            lif_run(finished, 3, 0, cu, cv, bias, vth, spikes, us, vs, record)
            return
        if self._dense(syn, x, binary):
            sums = conv_sums(x, syn.projection, syn.in_shape)
            if lif is _NO_LIF:
                add_conv_finished(total, sums)
                return
            cu, cv, bias, vth, spikes, us, vs, record = lif
            bias = np.ascontiguousarray(np.broadcast_to(bias, (len(x), bias.size)))
            lif_run(sums, 2, 0, cu, cv, bias, vth, spikes, us, vs, record)
            return
        kernel = dense_events if syn.kind == "dense" else conv_events
        kernel(x, binary, *syn.args, *lif, total, lif is not _NO_LIF)

    def _dense(self, syn: _Synapse, x: np.ndarray, binary: bool) -> bool:
        """Whether conv synapse ``syn`` runs dense on x (B, T, N). Measured on 2 cores: an event
        (an input that differs from the kernel's reference, 0 or for mostly-1 binary input 1)
        costs one add per tap and output channel, 2-7 G adds/s (faster for more output channels
        per group: longer runs), and the dense convolution 10-25 G MACs/s (slower for a single
        input channel per group); so dense above 15% (up to 16 output channels per group) or 30%
        of events per input, and always for an input that is one frame repeated (convolved once)
        and for a 1 x 1 depthwise conv (identity, scale: one multiply per input)."""
        if syn.kind != "conv" or self.conv_path == "events":
            return False
        if self.conv_path == "dense" or (x.shape[1] > 1 and x.strides[1] == 0):
            return True
        c_out, c_in, kh, kw = syn.projection.weight.shape  # c_in per group
        if c_in * kh * kw < 2:  # an identity or scale: dense is one multiply per input
            return True
        if c_in < 2:
            return False
        events = np.count_nonzero(x)
        if binary:
            events = min(events, x.size - events)
        floor = 0.15 if c_out // syn.projection.groups <= 16 else 0.3
        return events > floor * x.size

    def _check_exact(self, i: int, syn: _Synapse, x: np.ndarray, binary: bool) -> None:
        """Lava's Conv sums in float32: refuse graded input whose sums it would round."""
        if syn.kind == "conv" and not binary and x.size:
            top = _top(x)
            if syn.bound * top >= FLOAT32_EXACT:
                raise LoihiSnnError(
                    f"{self.graph.label(i)}: its conv synapse from layer {syn.source} can sum "
                    f"to {syn.bound * top:.0f}, beyond float32's exact range, where Lava's Conv "
                    f"rounds: the fast backend cannot match it"
                )

    def start(self, steps: int) -> None:
        """Begin a run of samples back to back (:meth:`run_batch` then takes them in order):
        each delayed synapse starts from what its source sends before its first window
        (:mod:`.delays`)."""
        delayed = [syn for syns in self.synapses.values() for syn in syns if syn.delayed]
        trains = self._prewindow(steps) if delayed else {}
        for syn in delayed:
            syn.delayed.reset(trains.get(syn.source))

    def _prewindow(self, steps: int) -> dict[int, np.ndarray]:
        """Every LIF population's spikes (start, N) before its first window, global steps 0 ..
        start - 1 (start = its depth): driven by their biases and each other's early spikes,
        one step later per hop (a synapse at global step g sends what its source sent at g - 1);
        no sample has arrived yet."""
        graph, trains = self.graph, {}
        self._carry = False
        try:
            for i in graph.order:
                layer, start = graph.layers[i], graph.depth[i]
                if layer.kind != "population" or start == 0:
                    continue
                signals = {}
                for syn in self.synapses[i]:
                    x = np.zeros((1, start, graph.layers[syn.source].neurons), np.int8)
                    train = trains.get(syn.source, x[0, :0])[: start - 1]
                    x[0, 1 : 1 + len(train)] = train
                    signals[syn.source] = (x, True)
                finished = self._sum(i, signals, (1, start, layer.neurons))[0]
                trains[i] = prewindow(finished, self.bias[i], layer.neuron, start, steps)
        finally:
            self._carry = True
        return trains

    def run_batch(
        self, inputs: np.ndarray, steps: int, record: set[int] | None = None
    ) -> dict[int, Traces]:
        """Traces (spikes, u, v), each (n, T, N) in the backend's neuron order (3-D layers
        H, W, C), of every layer with neurons, for inputs as :func:`prepare_run` returns them;
        u and v for the layers in ``record`` (custom layers: their recorded spikes, no states).
        """
        graph, n = self.graph, len(inputs)
        record = record or set()
        traces: dict[int, Traces] = {}
        input_traces, signals = self._input(np.asarray(inputs, np.int64), steps, 0 in record)
        signals = {0: signals}
        if graph.input_neuron:
            traces[0] = input_traces
        self.x, self.outputs = {}, {}
        for i in graph.order:
            layer = graph.layers[i]
            if i == 0 or layer.kind == "concat":
                continue
            size = (n, steps, layer.neurons)
            if layer.custom:
                x = self._sum(i, signals, size) + self.bias[i]
                x = file_order(x, layer.shape).reshape(n, *layer.shape, steps)
                self.x[i] = x
                out, recorded = self.types[i].run_fast(layer, np.ascontiguousarray(x))
                as_trace = [to_backend_order(np.moveaxis(a, -1, 1).reshape(n, steps, -1),
                                             layer.shape) for a in (out, recorded)]
                traces[i] = (np.ascontiguousarray(as_trace[1], np.int8), None, None)
                graded = graph.graded(i)
                signal = np.ascontiguousarray(as_trace[0], np.int32 if graded else np.int8)
                if graded:
                    self.outputs[i] = signal
                signals[i] = (signal, not graded)
                continue
            keep = i in record
            spikes = np.empty(size, np.int8)
            us = np.empty(size, np.int64) if keep else _NO_STATE
            vs = np.empty(size, np.int64) if keep else _NO_STATE
            nrn = layer.neuron
            syns = self.synapses[i]
            if len(syns) == 1:  # the synapse's loop finishes the neurons
                lif = (nrn.cu, nrn.cv, self.bias[i], nrn.vth, spikes, us, vs, keep)
                self._feed(i, syns[0], signals, lif, _NO_STATE)
            else:
                total = self._sum(i, signals, size)
                bias = np.ascontiguousarray(np.broadcast_to(self.bias[i], (n, layer.neurons)))
                lif_run(total, 3, 0, nrn.cu, nrn.cv, bias, nrn.vth, spikes, us, vs, keep)
            traces[i] = (spikes, us if keep else None, vs if keep else None)
            signals[i] = (spikes, True)
        return traces

    def run_file_order(
        self, inputs: np.ndarray, steps: int, record: set[int] | None = None
    ) -> dict[int, Traces]:
        """:meth:`run_batch` with every trace as (n, T, N) in the file's C, H, W order."""
        traces = self.run_batch(inputs, steps, record)
        return {i: tuple(None if t is None else self._file(i, t) for t in trace)
                for i, trace in traces.items()}

    def _file(self, i: int, trace: np.ndarray) -> np.ndarray:
        return np.swapaxes(file_order(trace, self.graph.layers[i].shape), 1, 2)


def run_fast(
    graph: Graph | str | Path,
    inputs: np.ndarray,
    time_steps: int | None = None,
    record_all: bool = True,
    record_states: bool = False,
    batch_size: int = 256,
    runner: FastRunner | None = None,
) -> SimResult:
    """Simulate ``inputs`` as :func:`loihi_snn.backends.lava.run_lava` would, in batches: the
    same inputs and the same result layout (spikes, and with ``record_states`` the states u and
    v, of every layer with neurons in its own window, and the class readout; with
    ``record_states`` also the graded outputs of custom layers). ``runner``: a FastRunner of
    ``graph`` to use (its ``x`` then holds the custom layers' X of the last batch)."""
    graph = graph if isinstance(graph, Graph) else read_network(graph)
    runner = runner or FastRunner(graph)  # refuses what it does not implement, before the inputs
    inputs, steps = prepare_run(graph, inputs, time_steps)
    runner.start(steps)
    began = time.time()
    pops = graph.populations
    keep = pops if record_all else pops[-1:]
    record = set(keep) if record_states else set()
    if graph.voltage_readout:
        record.add(pops[-1])
    outputs: dict[int, list[np.ndarray]] = {i: [] for i in keep if graph.graded(i)}

    def batches():
        for start in range(0, len(inputs), batch_size):
            traces = runner.run_batch(inputs[start : start + batch_size], steps, record)
            for i, parts in outputs.items():
                parts.append(runner.outputs[i])
            yield traces

    def to_file(k: int, trace: np.ndarray) -> np.ndarray:
        return file_order(trace, graph.layers[k].shape)

    spikes, u, v = stack_batches(batches(), keep, to_file)
    readout = class_readout(spikes[-1], v[-1], graph.voltage_readout)
    result = SimResult(spikes, readout, graph.voltage_readout, time.time() - began)
    if record_states:
        result.u, result.v = u, v
        result.outputs = [
            to_file(i, np.concatenate(outputs[i])) if i in outputs else None for i in keep
        ]
    return result
