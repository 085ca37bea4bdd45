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

Sigma-delta and resonate-and-fire (RF) neurons, which netx never resets, run a batch's samples as
one stream and keep their states across batches (an RF layer's two synapses feed its real and its
imaginary input). A LIF layer with a recurrent synapse (netx's dense_rec) runs its steps one after
another across the samples, its spikes fed back one step later (netx resets its neurons every
sample, not the synapse).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lava.lib.dl.netx.utils import optimize_weight_bits
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

from ..errors import LoihiSnnError
from ..ir.graph import Graph, Layer, Projection, Resonator, SigmaDelta, layer_type
from ..ir.hdf5 import read_network
from ..loihi.fixed_point import (
    SD_SCALE,
    lif_recurrent_run,
    lif_run,
    resonator_run,
    sigma_delta_run,
)
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
from .result import SimResult, Traces, class_readout, group_readout, stack_batches

_NO_STATE = np.empty((0, 0, 0), np.int64)
_ROLES = {"delta": 0, "sigma_delta": 1, "sigma": 2}  # fixed_point's SD_DELTA, ...
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
        # recurrent LIF layers (netx's dense_rec): their weight_rec rows and exponent, and their
        # spikes of the step before the next batch (carried across samples and batches)
        self.recurrent: dict[int, tuple[np.ndarray, int]] = {}
        self.last: dict[int, np.ndarray] = {}
        for i in graph.populations:
            layer = graph.layers[i]
            syns = []
            parts = graph.synapses(i)
            joint = _joint_rows(graph, parts) if any(p.source == i for p in parts) else {}
            for k, p in enumerate(parts):
                if p.source == i:
                    self.recurrent[i] = joint[k]
                    self.last[i] = np.zeros(layer.neurons, np.int8)
                    continue
                w = np.abs(np.asarray(p.weight, np.float64))
                bound = float(w.reshape(w.shape[0], -1).sum(1).max())
                in_shape = graph.layers[p.source].shape
                args = joint[k] if k in joint else event_args(p, in_shape, layer.shape)
                delayed = DelayedDense.build(p, in_shape) if p.delay is not None else None
                syns.append(_Synapse(p, in_shape, args, bound, delayed))
            self.synapses[i] = syns
            bias = layer.bias if layer.bias is not None else np.zeros(layer.neurons, np.int64)
            bias = to_backend_order(np.asarray(bias, np.int64)[None], layer.shape)[0]
            # a LIF adds its bias to v (<< 6, as Lava's int32 bias_mant << bias_exp), a
            # sigma-delta neuron to sigma (<< 12); a custom layer adds it to X as it is
            shift = SD_SCALE if isinstance(layer.neuron, SigmaDelta) else BIAS_EXP
            self.bias[i] = bias if layer.custom else (bias << shift).astype(np.int32)
        # sigma-delta and RF layers, never reset: their states, carried across batches
        self.streams: dict[int, _SigmaDeltaState | _ResonatorState] = {}
        self.decoded: np.ndarray | None = None  # a sigma-delta output's readout, last batch

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
                    f"{self.graph.label(i)}: its conv synapse from "
                    f"{self.graph.label(syn.source)} can sum to {syn.bound * top:.0f}, beyond "
                    f"float32's exact range, where Lava's Conv rounds: the fast backend cannot "
                    f"match it"
                )

    def start(self, steps: int) -> None:
        """Begin a run of samples back to back (:meth:`run_batch` then takes them in order):
        sigma-delta and RF neurons start from their state after the steps before their first
        window, each delayed synapse from what its source sends in those steps (:mod:`.delays`)
        and each recurrent layer from its spikes of the step before its first window."""
        delayed = [syn for syns in self.synapses.values() for syn in syns if syn.delayed]
        self.streams = {
            i: _stream_state(layer)
            for i, layer in enumerate(self.graph.layers)
            if isinstance(layer.neuron, (SigmaDelta, Resonator))
        }
        self.last = {i: np.zeros_like(last) for i, last in self.last.items()}
        prior = delayed or self.streams or self.recurrent
        trains = self._prewindow(steps) if prior else {}
        for syn in delayed:
            syn.delayed.reset(trains.get(syn.source))

    def _prewindow(self, steps: int) -> dict[int, np.ndarray]:
        """Every population's spikes or payloads (start, N) before its first window, global
        steps 0 .. start - 1 (start = its depth): driven by their biases and each other's early
        output, one step later per hop (a synapse at global step g sends what its source sent at
        g - 1); no sample has arrived yet. Sigma-delta and RF neurons keep the state these steps
        leave (they are never reset), a recurrent layer its last spikes."""
        graph, trains = self.graph, {}
        self._carry = False
        try:
            for i in graph.order:
                layer, start = graph.layers[i], graph.depth[i]
                if layer.kind != "population" or start == 0:
                    continue
                signals = {}
                for syn in self.synapses[i]:
                    graded = graph.graded(syn.source)
                    x = np.zeros((1, start, graph.layers[syn.source].neurons),
                                 np.int32 if graded else np.int8)
                    train = trains.get(syn.source, x[0, :0])[: start - 1]
                    x[0, 1 : 1 + len(train)] = train
                    signals[syn.source] = (x, not graded)
                size = (1, start, layer.neurons)
                if i in self.streams:
                    trains[i] = self._stream_run(i, signals, size)[0]
                elif i in self.recurrent:
                    resets = (np.arange(start) - start) % steps == 0
                    trains[i] = self._recurrent_run(i, signals, size, resets, False)[0][0]
                else:
                    finished = self._sum(i, signals, size)[0]
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
        if self.streams:
            return self._run_stream(np.asarray(inputs, np.int64), steps, record or set())
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
            if i in self.recurrent:
                resets = np.arange(n * steps) % steps == 0
                spikes, us, vs = self._recurrent_run(i, signals, size, resets, keep)
            elif len(syns) == 1:  # the synapse's loop finishes the neurons
                lif = (nrn.cu, nrn.cv, self.bias[i], nrn.vth, spikes, us, vs, keep)
                self._feed(i, syns[0], signals, lif, _NO_STATE)
            else:
                total = self._sum(i, signals, size)
                bias = np.ascontiguousarray(np.broadcast_to(self.bias[i], (n, layer.neurons)))
                lif_run(total, 3, 0, nrn.cu, nrn.cv, bias, nrn.vth, spikes, us, vs, keep)
            traces[i] = (spikes, us if keep else None, vs if keep else None)
            signals[i] = (spikes, True)
        return traces

    def _recurrent_run(
        self, i: int, signals: dict, size: tuple[int, int, int], resets: np.ndarray, record: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recurrent LIF layer ``i`` (netx's dense_rec) over its sources' signals (b, T, .), the
        b windows one after another, from the spikes it sent last (then updated), u and v zeroed
        before the steps where ``resets`` (b * T,) is true: its spikes, u and v (b, T, N) (u and
        v empty unless ``record``)."""
        nrn, neurons = self.graph.layers[i].neuron, size[2]
        ff = self._sum(i, signals, size).reshape(-1, neurons)
        rows, exponent = self.recurrent[i]
        flat = (len(ff), neurons) if record else (0, 0)
        spikes = np.empty(ff.shape, np.int8)
        us, vs = np.empty(flat, np.int64), np.empty(flat, np.int64)
        lif_recurrent_run(ff, resets, rows, exponent, nrn.cu, nrn.cv,
                          self.bias[i].astype(np.int64), nrn.vth, self.last[i], spikes, us, vs,
                          record)
        states = (us.reshape(size), vs.reshape(size)) if record else (_NO_STATE, _NO_STATE)
        return spikes.reshape(size), *states

    def _sigma_delta_run(self, i: int, a_in: np.ndarray) -> np.ndarray:
        """Sigma-delta layer ``i`` over the steps of ``a_in`` (S, N) from the state it holds
        (then advanced): what it sends, (S, N) int32."""
        neuron, state = self.graph.layers[i].neuron, self.streams[i]
        out = np.empty(a_in.shape, np.int32)
        bias = self.bias.get(i, np.zeros(a_in.shape[1], np.int32)).astype(np.int64)
        sigma_delta_run(np.ascontiguousarray(a_in, np.int64), _ROLES[neuron.role], bias,
                        neuron.vth << SD_SCALE, state.sigma, state.act, state.residue, out)
        state.sent += out.sum(0, dtype=np.int64)
        return out

    def _stream_run(
        self, i: int, signals: dict, size: tuple[int, int, int], record: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Sigma-delta or RF layer ``i`` over its sources' signals (1, S, .) from the state it
        holds (then advanced): what it sends (S, N), int32 payloads or int8 spikes, and with
        ``record`` an RF layer's real and imaginary parts after each step (S, N) int64 (else
        None). An RF layer's two synapses feed its real and its imaginary input."""
        neuron = self.graph.layers[i].neuron
        if isinstance(neuron, SigmaDelta):
            return self._sigma_delta_run(i, self._sum(i, signals, size)[0]), None, None
        real_in, imag_in = np.zeros(size, np.int64), np.zeros(size, np.int64)
        for syn, total in zip(self.synapses[i], (real_in, imag_in), strict=True):
            self._feed(i, syn, signals, _NO_LIF, total)
        state = self.streams[i]
        spikes = np.empty(size[1:], np.int8)
        real, imag = (np.empty(size[1:] if record else (0, 0), np.int64) for _ in range(2))
        resonator_run(real_in[0], imag_in[0], neuron.sin_decay, neuron.cos_decay, neuron.vth,
                      neuron.iz, state.real, state.imag, spikes, real, imag, record)
        return spikes, *((real, imag) if record else (None, None))

    def _run_stream(self, inputs: np.ndarray, steps: int, record: set[int]) -> dict[int, Traces]:
        """:meth:`run_batch` for a network of sigma-delta or RF neurons: the batch's samples as
        one stream of n x T steps (every layer's window follows its source's by one step, so the
        windows of a sample line up; the states carry over from the previous sample and batch).
        Sets ``outputs`` (the payloads of sigma-delta layers) and, for a sigma-delta output,
        ``decoded``: its value at each sample's last step (what a Sigma sends, or the running sum
        of a Delta's changes, from global step 0), (n, N) backend order. An RF layer in
        ``record`` gives its real and imaginary parts as u and v."""
        graph, n = self.graph, len(inputs)
        first = graph.layers[0]
        x = to_backend_order(np.moveaxis(inputs, -1, 1).reshape(n * steps, -1), first.shape)
        stream: dict[int, np.ndarray] = {}
        states: dict[int, tuple] = {}
        if 0 in self.streams:
            stream[0] = self._sigma_delta_run(0, x)
            signals = {0: (stream[0][None], False)}
        else:
            binary = bool(x.size == 0 or (x.min() >= 0 and x.max() <= 1))
            signals = {0: (np.ascontiguousarray(x[None], np.int8 if binary else np.int32), binary)}
        last = graph.populations[-1]
        decode = isinstance(graph.layers[last].neuron, SigmaDelta)
        for i in graph.order:
            if i == 0:
                continue
            if i == last and decode:
                sent_before = self.streams[i].sent.copy()
            size = (1, n * steps, graph.layers[i].neurons)
            stream[i], *states[i] = self._stream_run(i, signals, size, i in record)
            signals[i] = (stream[i][None], not graph.graded(i))
        windows = {i: out.reshape(n, steps, -1) for i, out in stream.items()}
        self.outputs = {i: w for i, w in windows.items() if graph.graded(i)}
        if decode:
            tail = windows[last][:, -1]
            if graph.layers[last].neuron.role != "sigma":  # the changes summed from step 0
                tail = sent_before + np.cumsum(windows[last].sum(1, dtype=np.int64), 0)
            self.decoded = tail
        traces: dict[int, Traces] = {}
        for i, w in windows.items():
            real, imag = states.get(i, (None, None))
            parts = [None if a is None else a.reshape(n, steps, -1) for a in (real, imag)]
            traces[i] = ((w != 0).view(np.int8), *parts)
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


def _joint_rows(graph: Graph, parts: list[Projection]) -> dict[int, tuple[np.ndarray, int]]:
    """The dense synapses of a recurrent layer as netx's RecurrentDense builds them, by position
    in ``parts``: :func:`dense_events`' rows (inputs, N) int32 in the source's backend order and
    the exponent. netx packs the feed-forward and the recurrent weights as one
    (optimize_weight_bits on their concatenation: one exponent and one number of weight bits);
    each of its two Dense synapses then clips and truncates its part in its own sign mode."""
    dense = [k for k, p in enumerate(parts) if p.kind == "dense"]
    packed, bits, exponent, _ = optimize_weight_bits(np.hstack([parts[k].weight for k in dense]))
    rows, start = {}, 0
    for k in dense:
        width = parts[k].weight.shape[1]
        part = packed[:, start : start + width]
        start += width
        mode = determine_sign_mode(part)
        part = truncate_weights(clip_weights(part, mode, num_bits=8), mode, bits)
        in_shape = graph.layers[parts[k].source].shape
        rows[k] = (np.ascontiguousarray(to_backend_order(part, in_shape).T, np.int32), exponent)
    return rows


def _stream_state(layer: Layer) -> _SigmaDeltaState | _ResonatorState:
    """The zero state of a sigma-delta or RF layer."""
    if isinstance(layer.neuron, SigmaDelta):
        return _SigmaDeltaState.zeros(layer.neurons)
    return _ResonatorState(np.zeros(layer.neurons, np.int64), np.zeros(layer.neurons, np.int64))


@dataclass
class _ResonatorState:
    """An RF layer's real and imaginary parts between steps (N,) int64."""

    real: np.ndarray
    imag: np.ndarray


@dataclass
class _SigmaDeltaState:
    """A sigma-delta layer's state between steps (N,) int64, and ``sent``: the sum of what it
    has sent since global step 0 (a delta-coded output's decoded value)."""

    sigma: np.ndarray
    act: np.ndarray
    residue: np.ndarray
    sent: np.ndarray

    @classmethod
    def zeros(cls, neurons: int) -> _SigmaDeltaState:
        return cls(*(np.zeros(neurons, np.int64) for _ in range(4)))


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

    decoded: list[np.ndarray] = []

    decode = isinstance(graph.layers[pops[-1]].neuron, SigmaDelta)  # a sigma-delta output

    def batches():
        for start in range(0, len(inputs), batch_size):
            traces = runner.run_batch(inputs[start : start + batch_size], steps, record)
            for i, parts in outputs.items():
                parts.append(runner.outputs[i])
            if decode:
                decoded.append(runner.decoded)
            yield traces

    def to_file(k: int, trace: np.ndarray) -> np.ndarray:
        return file_order(trace, graph.layers[k].shape)

    spikes, u, v = stack_batches(batches(), keep, to_file)
    if decode:
        values = file_order(np.concatenate(decoded)[:, None], graph.layers[pops[-1]].shape)
        readout = group_readout(values[..., 0], graph.readout_groups)
    else:
        readout = class_readout(spikes[-1], v[-1], graph.voltage_readout, graph.readout_groups)
    result = SimResult(spikes, readout, graph.voltage_readout, time.time() - began)
    if record_states:
        result.u, result.v = u, v
        result.outputs = [
            to_file(i, np.concatenate(outputs[i])) if i in outputs else None for i in keep
        ]
    return result
