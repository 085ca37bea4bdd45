"""The synapses of a NetX file: weights, conv geometry, fan-out and dense FLOPs.

Conventions: weights are the integer mantissas stored in the file, dense (out, in) and conv
(out, in/groups, kH, kW[, 1]) in SLAYER order; conv geometry (stride, padding, dilation) is stored
in (H, W) order; neuron and input positions are flattened in C, H, W order, as netx and
:class:`loihi_snn.backends.result.SimResult` do. Convolution is cross-correlation (torch's
``conv2d``), as
SLAYER trains it and as Lava runs it (the toolkit checks the two spike for spike).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import h5py
import numpy as np

from ..errors import LoihiSnnError
from ..ir.netfile import NetFile, conv_geometry


@dataclass
class Synapse:
    """A neuron layer of a file (an entry of ``NetFile.spiking_layers``) and the synapse feeding it.

    kind: ``dense``, ``conv``, or ``input`` (input neurons driven through their bias: no synapse).
    in_shape: the shape of the layer's input, (C, H, W) for conv, (features,) for dense.
    shape: the neuron shape, (C, H, W) or (n,). weight: integer mantissas (None for ``input``).
    graded_out: the neurons send graded spikes (``neuron/gradedSpike``). file_index: the layer's
    number in /layer. Neuron parameters are not read: the neuron states come from the backend.
    """

    file_index: int
    kind: str
    in_shape: tuple[int, ...]
    shape: tuple[int, ...]
    weight: np.ndarray | None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    graded_out: bool = False

    @property
    def neurons(self) -> int:
        return math.prod(self.shape)

    @property
    def inputs(self) -> int:
        """Number of input positions (0 for an input layer, whose drive is a bias)."""
        return 0 if self.kind == "input" else math.prod(self.in_shape)

    @property
    def label(self) -> str:
        return f"{self.file_index}:{self.kind}"

    def fanout(self) -> np.ndarray:
        """Synapses with a nonzero weight leaving each input position (inputs,), int64."""
        if self.kind == "dense":
            return dense_fanout(self.weight)
        if self.kind == "conv":
            return conv_fanout(
                self.weight,
                self.in_shape,
                self.shape[1:],
                self.stride,
                self.padding,
                self.dilation,
                self.groups,
            ).reshape(-1)
        return np.zeros(0, np.int64)

    def flops(self) -> int:
        """MACs of one time step of a dense (ANN) evaluation of the layer: every weight, zero or
        not (the papers' FLOPs, mechanisms.md §5.1): dense in*out, conv
        C_in/groups * kH * kW * C_out * H_out * W_out."""
        if self.kind == "dense":
            return int(self.weight.size)
        if self.kind == "conv":
            c_out, c_in_g, kh, kw = self.weight.shape[:4]
            return c_in_g * kh * kw * c_out * math.prod(self.shape[1:])
        return 0


def dense_fanout(weight: np.ndarray) -> np.ndarray:
    """Fan-out of each input of a dense layer: nonzero weights in its column (in,), int64."""
    return np.count_nonzero(np.asarray(weight).reshape(weight.shape[0], -1), axis=0).astype(
        np.int64
    )


def conv_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis (torch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _hits(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """(kernel, size) 0/1: kernel tap k of some output position reads input position y."""
    hits = np.zeros((kernel, size), np.int64)
    for k in range(kernel):
        y = np.arange(out) * stride - padding + k * dilation
        hits[k, y[(y >= 0) & (y < size)]] = 1
    return hits


def conv_fanout(
    weight: np.ndarray,
    in_shape: tuple[int, ...],
    out_hw: tuple[int, ...],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Fan-out (C_in, H, W), int64: for every input position, the number of (output channel,
    output position) pairs it reaches through a nonzero weight, with stride, zero padding,
    dilation and groups (input channel c belongs to group c // (C_in/groups), as in torch)."""
    w = np.asarray(weight)
    w = w.reshape(w.shape[:4])
    c_out, c_in_g, kh, kw = w.shape
    c_in, h, wd = in_shape
    if c_in != c_in_g * groups or c_out % groups:
        raise LoihiSnnError(
            f"conv weight {w.shape} does not fit {c_in} input channels in {groups} groups"
        )
    nz = (w != 0).astype(np.int64).reshape(groups, c_out // groups, c_in_g, kh, kw)
    per_tap = nz.sum(1).reshape(c_in, kh, kw)  # output channels each (channel, tap) reaches
    rows = _hits(h, out_hw[0], kh, stride[0], padding[0], dilation[0])
    cols = _hits(wd, out_hw[1], kw, stride[1], padding[1], dilation[1])
    return np.einsum("cab,ay,bx->cyx", per_tap, rows, cols)


def _scalar(group: h5py.Group, key: str, default: int) -> int:
    return int(np.asarray(group[key][()]).reshape(-1)[0]) if key in group else default


def _graded_out(g: h5py.Group) -> bool:
    """Whether the layer's neurons send graded spikes (netx's default: binary)."""
    return "neuron" in g and bool(_scalar(g["neuron"], "gradedSpike", 0))


def read_synapses(info: NetFile) -> list[Synapse]:
    """The neuron layers of a validated file with their synapses, aligned with
    ``info.spiking_layers`` (and so with ``SimResult.spikes``)."""
    out: list[Synapse] = []
    prev: tuple[int, ...] = tuple(info.layers[0].shape)
    with h5py.File(info.path, "r") as f:
        for index, layer in enumerate(info.layers):
            g = f["layer"][str(index)]
            shape = tuple(layer.shape)
            graded = _graded_out(g)
            if layer.type == "input":
                if layer.vth is not None:
                    out.append(Synapse(index, "input", shape, shape, None, graded_out=graded))
                prev = shape
            elif layer.type == "flatten":
                prev = (math.prod(prev),)
            elif layer.type == "dense":
                weight = np.asarray(g["weight"][()])
                shape = (math.prod(shape),)
                weight = weight.reshape(shape[0], -1)
                if weight.shape[1] != math.prod(prev):
                    raise LoihiSnnError(
                        f"{info.path.name}: layer {index} (dense) has {weight.shape[1]} inputs "
                        f"but its input has {math.prod(prev)} values"
                    )
                inputs = (math.prod(prev),)
                out.append(Synapse(index, "dense", inputs, shape, weight, graded_out=graded))
                prev = shape
            elif layer.type == "conv":
                if len(prev) != 3:
                    raise LoihiSnnError(
                        f"{info.path.name}: layer {index} (conv) needs a C, H, W input"
                    )
                weight = np.asarray(g["weight"][()])
                weight = weight.reshape(weight.shape[:4])
                geo = conv_geometry(g)
                syn = Synapse(
                    index,
                    "conv",
                    prev,
                    shape,
                    weight,
                    geo.stride,
                    geo.padding,
                    geo.dilation,
                    geo.groups,
                    graded,
                )
                _check_conv(info, syn)
                out.append(syn)
                prev = shape
    return out


def _check_conv(info: NetFile, syn: Synapse) -> None:
    kh, kw = syn.weight.shape[2:4]
    expected = tuple(
        conv_out_size(size, k, s, p, d)
        for size, k, s, p, d in zip(
            syn.in_shape[1:], (kh, kw), syn.stride, syn.padding, syn.dilation, strict=True
        )
    )
    if (syn.weight.shape[0], *expected) != tuple(syn.shape):
        raise LoihiSnnError(
            f"{info.path.name}: layer {syn.file_index} (conv) has shape {syn.shape} but its "
            f"geometry gives {(syn.weight.shape[0], *expected)}"
        )
