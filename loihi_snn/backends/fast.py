"""Fast batched backend: a re-implementation of what Lava ``fixed_pt`` computes for a NetX file,
bit for bit, many samples at once.

Each neuron layer is simulated in its own time window (the pipelining that netx's per-layer reset
offsets give Lava), the samples of a batch in parallel. Synapses are event-driven: per step the
weights of the inputs that differ from a reference value s are added times (x - s), where s is 0,
or 1 for binary input that is mostly 1 (the sums then start from those of an all-ones input), so a
spike (or a silence) costs one row of additions. The sums are int32 as in Lava: its Dense takes the
dot product of graded payloads in int32 (wrapping) and sums spikes exactly (int32 is exact below a
fan-in of 2^23 at 8-bit weights); its Conv sums in float32, exact below 2^24. The LIF recurrence is
:mod:`loihi_snn.loihi.fixed_point`'s. Weights go through netx's ``optimize_weight_bits`` and Lava's
own
``clip_weights``/``truncate_weights`` exactly as the Lava Dense model applies them. The backend
keeps 3-D layers in H, W, C neuron order (contiguous output channels for the kernels); traces are
returned in the file's C, H, W order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from lava.lib.dl.netx.utils import optimize_weight_bits
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights
from numba import njit, prange

from ..errors import LoihiSnnError
from ..ir.netfile import ConvGeometry, NetFile, conv_geometry, prepare_run
from ..loihi.fixed_point import lif_run, lif_step
from .result import SimResult, stack_batches

FLOAT32_EXACT = 1 << 24  # every integer of magnitude below this is exact in float32 (fast_graph)
BIAS_EXP = 6  # netx builds every LIF with bias_exp = 6


@dataclass
class FastLayer:
    """One neuron layer: its synapse (none for an input layer) and its LIF parameters."""

    kind: str  # 'input' | 'dense' | 'conv'
    shape: tuple[int, ...]  # neuron shape, C, H, W order
    cu: int
    cv: int
    vth: int
    bias: np.ndarray  # bias_mant << 6 per neuron (flattened C, H, W), int64
    weight: torch.Tensor | None = None  # dense (out, in) / conv (out, in/groups, kH, kW), float
    weight_exp: int = 0
    geometry: ConvGeometry | None = None  # conv only
    in_shape: tuple[int, ...] = ()  # shape of the layer's input (the previous layer or the file's)
    event_args: tuple = ()  # dense and conv: the kernel's arguments (see _event_args)

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))

    @cached_property
    def internal_bias(self) -> np.ndarray:
        """The bias (neurons,) in the backend's neuron order, as Lava's int32 (wrapped)."""
        return _to_backend_order(self.bias, self.shape).astype(np.int32)


def _neuron(group: h5py.Group, kind: str) -> tuple[int, int, int]:
    """(cu, cv, vth) from the HDF5 neuron group, as netx's get_neuron_params maps them."""
    if "neuron" not in group:
        if kind != "dense":
            raise LoihiSnnError(f"{group.name}: a {kind} layer without neuron group")
        return 4096, 0, 1 << 17  # netx's fallback: iDecay 0, vDecay 4096, vThMant 1 << 17
    n = group["neuron"]
    kind_name = n["type"][()]
    kind_name = (kind_name[0] if np.ndim(kind_name) else kind_name).decode()
    if kind_name not in ("CUBA", "LOIHI"):
        raise LoihiSnnError(
            f"{group.name}: neuron type {kind_name} is not supported by --backend fast"
        )
    values = [np.asarray(n[key][()]) for key in ("iDecay", "vDecay", "vThMant")]
    if any(v.size != 1 for v in values):
        raise LoihiSnnError(f"{group.name}: per-neuron decays are not supported by --backend fast")
    i_decay, v_decay, vth = (int(v.reshape(-1)[0]) for v in values)
    return 4096 - i_decay, 4096 - v_decay, vth  # cu = 4096 - (du + 1) with du = iDecay - 1


def _bias(group: h5py.Group, shape: tuple[int, ...]) -> np.ndarray:
    """netx's bias broadcast (blocks/process.py _neuron): per neuron, or per channel; int32 cast."""
    if "bias" not in group:
        return np.zeros(int(np.prod(shape)), np.int64)
    bias = np.asarray(group["bias"][()]).astype(np.int32).reshape(-1)
    if bias.size == int(np.prod(shape)):
        full = bias if len(shape) == 1 else bias.reshape(shape[::-1]).transpose(2, 1, 0)
    elif len(shape) == 3 and bias.size == shape[0]:
        full = np.broadcast_to(bias[:, None, None], shape)
    else:
        raise LoihiSnnError(
            f"{group.name}: bias of {bias.size} values fits no neuron shape {shape}"
        )
    return np.ascontiguousarray(full).reshape(-1).astype(np.int64) << BIAS_EXP


def _dense_weight(weight: np.ndarray) -> tuple[torch.Tensor, int]:
    """The weights Lava's Dense model uses after netx's packing into mantissa and exponent."""
    w_opt, num_bits, exponent, _ = optimize_weight_bits(weight)
    mode = determine_sign_mode(w_opt)
    w = truncate_weights(clip_weights(w_opt, mode, num_bits=8), mode, num_bits)
    return torch.from_numpy(np.asarray(w, dtype=np.float64)), int(exponent)


def _reach(size: int, out: int, kernel: int, stride: int, pad: int, dilation: int) -> list:
    """Along one axis of a conv, per input index, the (kernel index, output index) pairs it
    contributes to, by output index."""
    reach = []
    for i in range(size):
        taps = [(k, (i + pad - k * dilation) // stride) for k in range(kernel)]
        hits = [(k, o) for k, o in taps if o * stride == i + pad - k * dilation and 0 <= o < out]
        reach.append(sorted(hits, key=lambda pair: pair[1]))
    return reach


def _event_args(layer: FastLayer) -> tuple:
    """The arguments of a dense or conv layer's kernel between its input and the LIF parameters:
    :func:`dense_events` (int32 weight rows (inputs, N) in the input's backend order, exponent) or
    :func:`conv_events` (int32 taps of runs of output columns side by side, the sums of an all-ones
    input, geometry tables)."""
    w = layer.weight
    if layer.kind == "dense":
        rows = _to_backend_order(w.numpy(), layer.in_shape).T
        return np.ascontiguousarray(rows, dtype=np.int32), layer.weight_exp
    geo, groups = layer.geometry, layer.geometry.groups
    c_out, c_in_group, kh, kw = w.shape
    (c_in, h_in, w_in), (h_out, w_out) = layer.in_shape, layer.shape[1:]
    # taps[ky, kx, c, j] = w[g * C_out/groups + j, c - g * C_in/groups, ky, kx], g = c's group
    taps = w.reshape(groups, c_out // groups, c_in_group, kh, kw).permute(3, 4, 0, 2, 1)
    taps = taps.reshape(kh, kw, c_in, -1).numpy()
    conv = {"stride": geo.stride, "padding": geo.padding, "dilation": geo.dilation}
    ones = F.conv2d(torch.ones(1, c_in, h_in, w_in, dtype=w.dtype), w, groups=groups, **conv)
    base = np.ascontiguousarray(ones[0].permute(1, 2, 0).reshape(-1).numpy(), dtype=np.int32)
    axis = {"stride": geo.stride[0], "pad": geo.padding[0], "dilation": geo.dilation[0]}
    rows = _reach(h_in, h_out, kh, **axis)
    row_pairs = np.array([pair for r in rows for pair in r], np.int64).reshape(-1, 2).T
    # per input column, runs of consecutive output columns (groups = 1: adjacent positions' sums
    # are contiguous), each with its kernel columns' taps side by side, (kH, C_in, run length *
    # C_out/groups), stored once per sequence of kernel columns in ``wide`` from ``offset``
    blocks: list[np.ndarray] = []
    offsets: dict[tuple[int, ...], int] = {}  # kernel columns of a run -> its taps in ``wide``
    pointers, runs = [0], []  # CSR: per input column, its runs (output column, offset, size)
    axis = {"stride": geo.stride[1], "pad": geo.padding[1], "dilation": geo.dilation[1]}
    for reach in _reach(w_in, w_out, kw, **axis):
        starts: list[tuple[int, list[int]]] = []
        for k, o in reach:
            if starts and groups == 1 and starts[-1][0] + len(starts[-1][1]) == o:
                starts[-1][1].append(k)
            else:
                starts.append((o, [k]))
        for o, ks in starts:
            if tuple(ks) not in offsets:
                offsets[tuple(ks)] = sum(block.size for block in blocks)
                blocks.append(np.concatenate([taps[:, k] for k in ks], axis=-1).reshape(-1))
            runs.append((o, offsets[tuple(ks)], len(ks) * taps.shape[3]))
        pointers.append(len(runs))
    wide = np.ascontiguousarray(np.concatenate(blocks), dtype=np.int32)
    group_first = np.arange(c_in) // c_in_group * (c_out // groups)
    row_table = (np.cumsum([0] + [len(r) for r in rows]), *np.ascontiguousarray(row_pairs))
    run_table = np.ascontiguousarray(np.array(runs, np.int64).reshape(-1, 3).T)
    column_table = (np.array(pointers), *run_table)
    return (wide, base, h_in, w_in, c_in, *row_table, *column_table, w_out, c_out, group_first)


def load_layers(info: NetFile) -> list[FastLayer]:
    """Read the file's neuron layers with the parameters Lava would build."""
    layers: list[FastLayer] = []
    with h5py.File(info.path, "r") as f:
        for index, meta in enumerate(info.layers):
            g = f["layer"][str(index)]
            if meta.type == "flatten" or (meta.type == "input" and meta.vth is None):
                continue
            cu, cv, vth = _neuron(g, meta.type)
            shape = meta.shape if meta.type != "dense" else (int(np.prod(meta.shape)),)
            # an input layer's weight/bias are netx's input transform, not the neurons' bias
            bias = (
                np.zeros(int(np.prod(shape)), np.int64) if meta.type == "input" else _bias(g, shape)
            )
            in_shape = layers[-1].shape if layers else info.input_shape
            layer = FastLayer(meta.type, shape, cu, cv, vth, bias, in_shape=in_shape)
            if meta.type == "dense":
                w = np.asarray(g["weight"][()])
                layer.weight, layer.weight_exp = _dense_weight(w.reshape(shape[0], -1))
            elif meta.type == "conv":
                w = np.asarray(g["weight"][()])
                layer.weight = torch.from_numpy(w.reshape(w.shape[:4]).astype(np.float64))
                layer.geometry = conv_geometry(g)
            if meta.type in ("dense", "conv"):
                layer.event_args = _event_args(layer)
            layers.append(layer)
    return layers


@njit(inline="always")
def _add_times(target: np.ndarray, source: np.ndarray, d: int) -> None:
    """target += d * source; d = +-1 (every event of binary input) as plain additions."""
    if d == 1:
        for j in range(target.size):
            target[j] += source[j]
    elif d == -1:
        for j in range(target.size):
            target[j] -= source[j]
    else:
        for j in range(target.size):
            target[j] += d * source[j]


@njit(parallel=True, cache=True)
def dense_events(
    x: np.ndarray,
    binary: bool,
    rows: np.ndarray,
    exponent: int,
    cu: int,
    cv: int,
    bias: np.ndarray,
    vth: int,
    spikes: np.ndarray,
    u_out: np.ndarray,
    v_out: np.ndarray,
    record: bool,
) -> None:
    """A dense layer on integer input x (B, T, inputs): per sample, each input's weight row (rows:
    (inputs, N) int32) is read once and added times (x - s) to the sums of the steps where x is not
    s. s = 0, except for a ``binary`` (0/1) input that is 1 in most steps: s = 1 and its row is
    added to every step once. Then :func:`lif_step` per step; bias (N,); outputs as
    :func:`lif_run`."""
    batch, steps, neurons = spikes.shape
    for b in prange(batch):
        acc = np.zeros((steps, neurons), np.int32)
        common = np.zeros(neurons, np.int32)  # rows of the inputs with s = 1
        when = np.empty(steps, np.int64)  # the steps where an input is not s
        for i in range(x.shape[2]):
            active = 0
            if binary:
                for t in range(steps):
                    active += x[b, t, i]
            s = 1 if 2 * active > steps else 0
            count = 0
            for t in range(steps):
                when[count] = t
                count += x[b, t, i] != s
            if s:
                _add_times(common, rows[i], 1)
            for e in range(count):
                d = 1 - 2 * s if binary else x[b, when[e], i]
                _add_times(acc[when[e]], rows[i], d)
        u = np.zeros(neurons, np.int32)
        v = np.zeros(neurons, np.int32)
        for t in range(steps):
            target = acc[t]
            for j in range(neurons):
                target[j] += common[j]
            lif_step(target, 1, exponent, cu, cv, bias, vth, u, v, spikes[b, t])
            if record:
                u_out[b, t] = u
                v_out[b, t] = v


@njit(parallel=True, cache=True)
def conv_events(
    x: np.ndarray,
    binary: bool,
    wide: np.ndarray,
    base: np.ndarray,
    h_in: int,
    w_in: int,
    c_in: int,
    row_ptr: np.ndarray,
    row_k: np.ndarray,
    row_out: np.ndarray,
    col_ptr: np.ndarray,
    col_out: np.ndarray,
    col_offset: np.ndarray,
    col_size: np.ndarray,
    w_out: int,
    c_out: int,
    group_first: np.ndarray,
    cu: int,
    cv: int,
    bias: np.ndarray,
    vth: int,
    spikes: np.ndarray,
    u_out: np.ndarray,
    v_out: np.ndarray,
    record: bool,
) -> None:
    """A conv layer on integer input x (B, T, H*W*C), per step: each input (y, x, c) that is not s
    adds (x - s) times its taps to the sums of every output position it reaches: per (kernel row,
    output row) of its row and per run of output columns of its column (:func:`_event_args`'s
    tables), ``col_size`` values of ``wide`` (int32) from ``col_offset + (ky * C + c) * col_size``
    at channel ``group_first[c]`` of the run's first position. s = 0, except for a ``binary``
    (0/1) frame with more 1s than 0s: s = 1 and the sums start from ``base``, those of an all-ones
    input. Then :func:`lif_step`; outputs (B, T, H*W*C) as :func:`lif_run`."""
    batch, steps, neurons = spikes.shape
    for b in prange(batch):
        u = np.zeros(neurons, np.int32)
        v = np.zeros(neurons, np.int32)
        acc = np.empty(neurons, np.int32)
        channels = np.empty(c_in, np.int64)  # one pixel's inputs that are not s
        for t in range(steps):
            frame = x[b, t]
            active = 0
            if binary:
                for i in range(frame.size):
                    active += frame[i]
            s = 1 if 2 * active > frame.size else 0
            scale = 1 - 2 * s  # x - s of every visited input of a binary frame
            if s:
                acc[:] = base
            else:
                acc[:] = 0
            for iy in range(h_in):
                for ix in range(w_in):
                    at = (iy * w_in + ix) * c_in
                    count = 0
                    for c in range(c_in):
                        channels[count] = c
                        count += frame[at + c] != s
                    for ry in range(row_ptr[iy], row_ptr[iy + 1]):
                        for rx in range(col_ptr[ix], col_ptr[ix + 1]):
                            o = (row_out[ry] * w_out + col_out[rx]) * c_out
                            size = col_size[rx]
                            taps = col_offset[rx] + row_k[ry] * c_in * size
                            for e in range(count):
                                c = channels[e]
                                first, source = o + group_first[c], taps + c * size
                                d = scale if binary else frame[at + c]
                                _add_times(
                                    acc[first : first + size], wide[source : source + size], d
                                )
            lif_step(acc, 2, 0, cu, cv, bias, vth, u, v, spikes[b, t])
            if record:
                u_out[b, t] = u
                v_out[b, t] = v


def _to_backend_order(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(..., C*H*W) in file order -> (..., H*W*C), the backend's order for a 3-D ``shape``."""
    if len(shape) != 3:
        return x
    lead = x.shape[:-1]
    return np.ascontiguousarray(np.moveaxis(x.reshape(*lead, *shape), -3, -1)).reshape(*lead, -1)


def _file_order(trace: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A trace (n, T, neurons) in the backend's order as (n, neurons, T) in file order."""
    n, steps = trace.shape[:2]
    if len(shape) != 3:
        return trace.transpose(0, 2, 1)
    c, h, w = shape
    return trace.reshape(n, steps, h, w, c).transpose(0, 4, 2, 3, 1).reshape(n, c * h * w, steps)


def _simulate_batch(
    layers: list[FastLayer], inputs: np.ndarray, steps: int, state_layers: set[int]
) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Traces (spikes, u, v), each (n, T, neurons) in the backend's neuron order (3-D layers
    H, W, C), of every layer for one batch; u and v only for the layers in ``state_layers``.
    inputs: int64 (n, T, ...) spikes or payloads, or (n, ...) biases of an input layer, in file
    order."""
    n = len(inputs)
    x, binary = None, True  # the next layer's input and whether it is 0/1
    if layers[0].kind != "input":
        x = _to_backend_order(inputs.reshape(n, steps, -1), layers[0].in_shape)
        binary = x.size == 0 or (x.min() >= 0 and x.max() <= 1)
        x = np.ascontiguousarray(x, dtype=np.int8 if binary else np.int32)
    traces = []
    for k, layer in enumerate(layers):
        size = (n, steps, layer.neurons)
        record = k in state_layers
        spikes = np.empty(size, np.int8)
        us = np.empty(size if record else (0, 0, 0), np.int64)
        vs = np.empty_like(us)
        if layer.kind == "input":
            bias = _to_backend_order(inputs.reshape(n, -1) << BIAS_EXP, layer.shape)
            bias = bias.astype(np.int32)  # as Lava's int32 bias_mant << bias_exp
            acc = np.zeros((1, 1, 1), np.int32)
            lif_run(acc, 0, 0, layer.cu, layer.cv, bias, layer.vth, spikes, us, vs, record)
        else:
            kernel = dense_events if layer.kind == "dense" else conv_events
            lif = (layer.cu, layer.cv, layer.internal_bias, layer.vth, spikes, us, vs, record)
            kernel(x, binary, *layer.event_args, *lif)
        traces.append((spikes, us if record else None, vs if record else None))
        x, binary = spikes, True
    return traces


def run_fast(
    net: str | Path | NetFile,
    inputs: np.ndarray,
    time_steps: int | None = None,
    record_all: bool = True,
    record_states: bool = False,
    batch_size: int = 256,
) -> SimResult:
    """Simulate ``inputs`` as :func:`loihi_snn.backends.lava.run_lava` would, in batches.

    Same inputs and same result layout as ``run_lava``: spikes, and with ``record_states`` the
    states u and v, of every neuron layer in its own window, and the class readout.
    """
    info, steps = prepare_run(net, inputs, time_steps)
    layers = load_layers(info)
    began = time.time()
    last = len(layers) - 1
    keep = list(range(len(layers))) if record_all else [last]
    state_layers = set(keep) if record_states else set()
    if info.voltage_readout:
        state_layers.add(last)

    def batches():
        for start in range(0, len(inputs), batch_size):
            batch = np.asarray(inputs[start : start + batch_size], dtype=np.int64)
            if not info.input_neuron:  # (n, ..., T) -> (n, T, ...)
                batch = np.moveaxis(batch, -1, 1)
            yield dict(enumerate(_simulate_batch(layers, batch, steps, state_layers)))

    spikes, u, v = stack_batches(batches(), keep, lambda k, t: _file_order(t, layers[k].shape))
    if info.voltage_readout:
        readout = v[-1][:, :, -1].astype(np.int64)
    else:
        readout = spikes[-1].sum(-1).astype(np.int64)
    if not record_states:
        u = v = None
    return SimResult(spikes, readout, info.voltage_readout, time.time() - began, u, v)
