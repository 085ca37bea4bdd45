"""Fast batched backend: a vectorised re-implementation of what Lava ``fixed_pt`` computes for a
NetX file, bit for bit, many samples at once.

Each neuron layer is simulated in its own time window (the pipelining that netx's per-layer reset
offsets give Lava): the synaptic input of all T steps of a batch is one matrix product or
convolution, computed in floating point on integer values where that is exact (the bound is
checked per layer, float64 otherwise), followed by the integer LIF recurrence of
:mod:`loihi_snn.fixed_point`. Weights go through netx's ``optimize_weight_bits`` and Lava's own
``clip_weights``/``truncate_weights`` exactly as the Lava Dense model applies them.
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

from .errors import LoihiSnnError
from .fixed_point import lif_run
from .netfile import ConvGeometry, NetFile, conv_geometry, prepare_run
from .result import SimResult

FLOAT32_EXACT = 1 << 24  # every integer of magnitude below this is exact in float32
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

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))

    @cached_property
    def fan_in_bound(self) -> float:
        """Largest sum of |weights| into one neuron (computed once, used every batch)."""
        w = self.weight.abs()
        return float(w.sum(dim=tuple(range(1, w.ndim))).max())


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
            layer = FastLayer(meta.type, shape, cu, cv, vth, bias)
            if meta.type == "dense":
                w = np.asarray(g["weight"][()])
                layer.weight, layer.weight_exp = _dense_weight(w.reshape(shape[0], -1))
            elif meta.type == "conv":
                w = np.asarray(g["weight"][()])
                layer.weight = torch.from_numpy(w.reshape(w.shape[:4]).astype(np.float64))
                layer.geometry = conv_geometry(g)
            layers.append(layer)
    return layers


def _synaptic_sums(layer: FastLayer, x: torch.Tensor, in_shape: tuple[int, ...]) -> np.ndarray:
    """Synaptic sums (n, T, neurons) of a layer for its float input x (n, T, ...), exact: float32
    when no partial sum can reach 2^24 (x is 0/1 after the first layer), float64 otherwise."""
    n, steps = x.shape[:2]
    dtype = x.dtype
    w = layer.weight.to(dtype)
    if layer.kind == "dense":
        acc = x.reshape(n * steps, -1) @ w.T
    else:  # channels-last convolutions are the fast ones on CPU (oneDNN)
        xs = x.reshape(n * steps, *in_shape).contiguous(memory_format=torch.channels_last)
        w = w.contiguous(memory_format=torch.channels_last)
        geo = layer.geometry
        acc = F.conv2d(
            xs, w, stride=geo.stride, padding=geo.padding, dilation=geo.dilation, groups=geo.groups
        ).contiguous()
    return acc.reshape(n, steps, -1).numpy()


def _simulate_batch(
    layers: list[FastLayer],
    inputs: torch.Tensor,
    in_shape: tuple[int, ...],
    steps: int,
    state_layers: set[int],
) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Traces (spikes, u, v), each (n, T, neurons), of every layer for one batch; u and v only for
    the layers in ``state_layers``."""
    n = inputs.shape[0]
    x = inputs  # (n, T, ...) spikes or payloads, or (n, neurons) biases of an input layer
    shape = in_shape
    traces = []
    for k, layer in enumerate(layers):
        size = (n, steps, layer.neurons)
        if layer.kind == "input":
            acc, kind, exponent = np.zeros((1, 1, 1), np.float32), 0, 0
            bias = x.reshape(n, -1).numpy().astype(np.int64) << BIAS_EXP
        else:
            top = float(x.abs().max()) if k == 0 else 1.0  # later layers see 0/1 spikes
            exact32 = layer.fan_in_bound * top < FLOAT32_EXACT
            x = x.to(torch.float32 if exact32 else torch.float64)
            acc = _synaptic_sums(layer, x, shape)
            kind, exponent = (1, layer.weight_exp) if layer.kind == "dense" else (2, 0)
            bias = np.ascontiguousarray(np.broadcast_to(layer.bias, (n, layer.neurons)))
        record = k in state_layers
        spikes = np.empty(size, np.float32)
        us = np.empty(size if record else (0, 0, 0), np.int64)
        vs = np.empty_like(us)
        lif_run(acc, kind, exponent, layer.cu, layer.cv, bias, layer.vth, spikes, us, vs, record)
        traces.append((spikes, us if record else None, vs if record else None))
        x, shape = torch.from_numpy(spikes), layer.shape
    return traces


def run_fast(
    net: str | Path | NetFile,
    inputs: np.ndarray,
    time_steps: int | None = None,
    record_all: bool = True,
    record_states: bool = False,
    batch_size: int = 256,
) -> SimResult:
    """Simulate ``inputs`` as :func:`loihi_snn.lava_run.run_lava` would, in batches.

    Same inputs and same result layout as ``run_lava``: spikes, and with ``record_states`` the
    states u and v, of every neuron layer in its own window, and the class readout.
    """
    info, steps = prepare_run(net, inputs, time_steps)
    layers = load_layers(info)
    began = time.time()
    keep = range(len(layers)) if record_all else [len(layers) - 1]
    last = len(layers) - 1
    state_layers = set(keep) if record_states else set()
    if info.voltage_readout:
        state_layers.add(last)
    parts: dict[int, list[list[np.ndarray]]] = {k: [[], [], []] for k in keep}
    for start in range(0, len(inputs), batch_size):
        batch = torch.from_numpy(np.asarray(inputs[start : start + batch_size], dtype=np.int64))
        if not info.input_neuron:  # (n, ..., T) -> (n, T, ...)
            batch = batch.movedim(-1, 1)
        traces = _simulate_batch(layers, batch, info.input_shape, steps, state_layers)
        for k in keep:
            for slot, trace in enumerate(traces[k]):
                if trace is not None:
                    trace = trace.astype(np.int8) if slot == 0 else trace
                    parts[k][slot].append(trace.transpose(0, 2, 1))
    stacked = {k: [np.concatenate(p) if p else None for p in parts[k]] for k in keep}
    spikes = [stacked[k][0] for k in keep]
    u = [stacked[k][1] for k in keep] if record_states else None
    v = [stacked[k][2] for k in keep] if record_states else None
    if info.voltage_readout:
        readout = stacked[last][2][:, :, -1].astype(np.int64)
    else:
        readout = spikes[-1].sum(-1).astype(np.int64)
    return SimResult(spikes, readout, info.voltage_readout, time.time() - began, u, v)
