"""The fast backend's event-driven synapses, compiled with numba: per step the weights of the
inputs that differ from a reference value s are added times (x - s), where s is 0, or 1 for
binary input that is mostly 1 (the sums then start from those of an all-ones input), so a spike
(or a silence) costs one row of additions.

The sums are int32 as in Lava: its Dense takes the dot product of graded payloads in int32
(wrapping) and sums spikes exactly (int32 is exact below a fan-in of 2^23 at 8-bit weights); its
Conv sums in float32, exact below 2^24. Dense weights go through netx's ``optimize_weight_bits``
and Lava's own ``clip_weights``/``truncate_weights`` exactly as the Lava Dense model applies them.
Each kernel either finishes the population's LIF in the same loop (a population fed by one
projection) or adds its finished output to a sum (several projections, or a custom layer's X).
3-D layers are held in H, W, C neuron order (contiguous output channels for the kernels).

A conv whose input is mostly not silent is cheaper as one dense float32 convolution of the whole
batch (:func:`conv_sums`, torch): its sums are integers below 2^24, which float32 holds exactly
whatever the order of the additions, so it gives the kernels' sums bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from lava.lib.dl.netx.utils import optimize_weight_bits
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights
from numba import njit, prange

from ..ir.graph import Projection
from ..loihi.fixed_point import dendrite, lif_step


def dense_weight(weight: np.ndarray) -> tuple[np.ndarray, int]:
    """The weights Lava's Dense model uses after netx's packing into mantissa and exponent."""
    w_opt, num_bits, exponent, _ = optimize_weight_bits(weight)
    mode = determine_sign_mode(w_opt)
    w = truncate_weights(clip_weights(w_opt, mode, num_bits=8), mode, num_bits)
    return np.asarray(w, dtype=np.float64), int(exponent)


def _reach(size: int, out: int, kernel: int, stride: int, pad: int, dilation: int) -> list:
    """Along one axis of a conv, per input index, the (kernel index, output index) pairs it
    contributes to, by output index."""
    reach = []
    for i in range(size):
        taps = [(k, (i + pad - k * dilation) // stride) for k in range(kernel)]
        hits = [(k, o) for k, o in taps if o * stride == i + pad - k * dilation and 0 <= o < out]
        reach.append(sorted(hits, key=lambda pair: pair[1]))
    return reach


def event_args(p: Projection, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple:
    """The arguments of a lowered dense or conv projection's kernel between its input and the
    LIF parameters: :func:`dense_events` (int32 weight rows (inputs, N) in the backend orders of
    source and target, exponent: the weights Lava's Dense applies) or :func:`conv_events` (int32
    taps of runs of output columns side by side, the sums of an all-ones input, geometry
    tables)."""
    if p.kind == "dense":
        weight, exponent = dense_weight(p.weight)
        rows = to_backend_order(weight, in_shape).T
        if len(out_shape) == 3:  # the target's neurons in H, W, C order
            rows = rows[:, to_backend_order(np.arange(rows.shape[1])[None], out_shape)[0]]
        return np.ascontiguousarray(rows, dtype=np.int32), exponent
    w = torch.from_numpy(np.asarray(p.weight, np.float64))
    groups = p.groups
    c_out, c_in_group, kh, kw = w.shape
    (c_in, h_in, w_in), (h_out, w_out) = in_shape, out_shape[1:]
    # taps[ky, kx, c, j] = w[g * C_out/groups + j, c - g * C_in/groups, ky, kx], g = c's group
    taps = w.reshape(groups, c_out // groups, c_in_group, kh, kw).permute(3, 4, 0, 2, 1)
    taps = taps.reshape(kh, kw, c_in, -1).numpy()
    conv = {"stride": p.stride, "padding": p.padding, "dilation": p.dilation}
    ones = F.conv2d(torch.ones(1, c_in, h_in, w_in, dtype=w.dtype), w, groups=groups, **conv)
    base = np.ascontiguousarray(ones[0].permute(1, 2, 0).reshape(-1).numpy(), dtype=np.int32)
    axis = {"stride": p.stride[0], "pad": p.padding[0], "dilation": p.dilation[0]}
    rows = _reach(h_in, h_out, kh, **axis)
    row_pairs = np.array([pair for r in rows for pair in r], np.int64).reshape(-1, 2).T
    # per input column, runs of consecutive output columns (groups = 1: adjacent positions' sums
    # are contiguous), each with its kernel columns' taps side by side, (kH, C_in, run length *
    # C_out/groups), stored once per sequence of kernel columns in ``wide`` from ``offset``
    blocks: list[np.ndarray] = []
    offsets: dict[tuple[int, ...], int] = {}  # kernel columns of a run -> its taps in ``wide``
    pointers, runs = [0], []  # CSR: per input column, its runs (output column, offset, size)
    axis = {"stride": p.stride[1], "pad": p.padding[1], "dilation": p.dilation[1]}
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


@njit(inline="always")
def _add_finished(total: np.ndarray, acc: np.ndarray, kind: int, exponent: int) -> None:
    """total += the synapse's finished output (:func:`dendrite`) of its int32 sums ``acc``."""
    if kind == 1:
        for j in range(acc.size):
            total[j] += dendrite(acc[j], 1, exponent)
    else:
        for j in range(acc.size):
            total[j] += dendrite(acc[j], 2, 0)


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
    total: np.ndarray,
    fuse: bool,
) -> None:
    """A dense layer on integer input x (B, T, inputs): per sample, each input's weight row (rows:
    (inputs, N) int32) is read once and added times (x - s) to the sums of the steps where x is not
    s. s = 0, except for a ``binary`` (0/1) input that is 1 in most steps: s = 1 and its row is
    added to every step once. Then, with ``fuse``, :func:`lif_step` per step (bias (N,); outputs
    as :func:`lif_run`); without, the synapse's finished output is added to ``total`` (B, T, N)
    int64 (a population fed by several projections sums them so)."""
    batch, steps, neurons = spikes.shape if fuse else total.shape
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
            if not fuse:
                _add_finished(total[b, t], target, 1, exponent)
                continue
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
    total: np.ndarray,
    fuse: bool,
) -> None:
    """A conv layer on integer input x (B, T, H*W*C), per step: each input (y, x, c) that is not s
    adds (x - s) times its taps to the sums of every output position it reaches: per (kernel row,
    output row) of its row and per run of output columns of its column (:func:`event_args`'s
    tables), ``col_size`` values of ``wide`` (int32) from ``col_offset + (ky * C + c) * col_size``
    at channel ``group_first[c]`` of the run's first position. s = 0, except for a ``binary``
    (0/1) frame with more 1s than 0s: s = 1 and the sums start from ``base``, those of an all-ones
    input. Then :func:`lif_step` (outputs (B, T, H*W*C) as :func:`lif_run`), or without ``fuse``
    the synapse's finished output (Lava's 24-bit wrap) added to ``total`` (B, T, H*W*C) int64."""
    batch, steps, neurons = spikes.shape if fuse else total.shape
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
            if not fuse:
                _add_finished(total[b, t], acc, 2, 0)
                continue
            lif_step(acc, 2, 0, cu, cv, bias, vth, u, v, spikes[b, t])
            if record:
                u_out[b, t] = u
                v_out[b, t] = v


def conv_sums(x: np.ndarray, p: Projection, in_shape: tuple[int, ...]) -> np.ndarray:
    """The sums of conv projection ``p`` (lowered) on input x (B, T, H*W*C) backend order, as one
    float32 convolution of every frame: (B, T, H'*W'*C') float32, integers (exact below 2^24);
    a 1 x 1 depthwise conv as one int32 multiply per input. An input with stride 0 over T (the
    same frame at every step) is convolved once per sample and its sums are returned the same
    way (a view)."""
    batch, steps = x.shape[:2]
    static = steps > 1 and x.strides[1] == 0
    frames = np.ascontiguousarray(x[:, :1]) if static else x
    c, h, w = in_shape
    if _scales(p, c):  # one multiply per input (int32 is exact: the sums are below 2^24)
        scale = np.tile(np.asarray(p.weight, np.int32).reshape(c), h * w)
        sums = frames * scale
        return np.broadcast_to(sums, (batch, steps, sums.shape[2])) if static else sums
    frames = torch.from_numpy(frames).view(-1, h, w, c).permute(0, 3, 1, 2).float()
    weight = torch.from_numpy(np.asarray(p.weight, np.float32))
    conv = {"stride": p.stride, "padding": p.padding, "dilation": p.dilation, "groups": p.groups}
    sums = F.conv2d(frames, weight, **conv).permute(0, 2, 3, 1)  # channels last: no copy
    sums = sums.reshape(batch, 1 if static else steps, -1).numpy()
    return np.broadcast_to(sums, (batch, steps, sums.shape[2])) if static else sums


def _scales(p: Projection, channels: int) -> bool:
    """Whether conv ``p`` on ``channels`` input channels scales each channel (1 x 1 depthwise,
    stride 1, unpadded: identity and per-channel scale projections)."""
    c_out, c_in, kh, kw = p.weight.shape
    plain = tuple(p.stride) == (1, 1) and tuple(p.padding) == (0, 0)
    return c_in * kh * kw == 1 and p.groups == channels == c_out and plain


@njit(parallel=True, cache=True)
def add_conv_finished(total: np.ndarray, acc: np.ndarray) -> None:
    """total (B, T, N) int64 += the finished output (:func:`dendrite`: Lava's 24-bit wrap) of a
    conv synapse's sums acc (B, T, N), as :func:`conv_sums` gives them."""
    batch, steps = total.shape[:2]
    for item in prange(batch * steps):
        _add_finished(total[item // steps, item % steps], acc[item // steps, item % steps], 2, 0)


def to_backend_order(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(..., C*H*W) in file order -> (..., H*W*C), the backend's order for a 3-D ``shape``."""
    if len(shape) != 3:
        return x
    lead = x.shape[:-1]
    return np.ascontiguousarray(np.moveaxis(x.reshape(*lead, *shape), -3, -1)).reshape(*lead, -1)


def file_order(trace: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A trace (n, T, neurons) in the backend's order as (n, neurons, T) in file order."""
    n, steps = trace.shape[:2]
    if len(shape) != 3:
        return trace.transpose(0, 2, 1)
    c, h, w = shape
    return trace.reshape(n, steps, h, w, c).transpose(0, 4, 2, 3, 1).reshape(n, c * h * w, steps)


