"""Reading NetX HDF5 files: validation with clear errors, and what the toolkit needs to run them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import LoihiSnnError
from ..fileio import open_hdf5
from .graph import GRAPH_FORMAT, Graph, file_format, read_graph

# A readout layer whose threshold sits at the 24-bit voltage limit never spikes (netx's default
# for a dense layer without neuron group is 1 << 17): the class is read from its voltage.
NON_SPIKING_VTH = 131071
STANDARD_TYPES = ("input", "flatten", "dense", "conv")


@dataclass
class LayerInfo:
    """One entry of /layer: its type, neuron shape in C, H, W order and threshold mantissa."""

    type: str
    shape: tuple[int, ...]
    vth: int | None
    transform: tuple[float, float] | None = None  # input layer: (weight, bias) of netx's transform


@dataclass
class NetFile:
    """A validated NetX HDF5 file."""

    path: Path
    layers: list[LayerInfo]
    time_steps: int | None
    meta: dict | None  # loihi_snn metadata (None for files from elsewhere)

    @property
    def input_neuron(self) -> bool:
        """True when layer 0 is an input layer with neurons (driven through its bias)."""
        return self.layers[0].type == "input" and self.layers[0].vth is not None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.layers[0].shape

    @property
    def spiking_layers(self) -> list[LayerInfo]:
        """The layers Lava builds a neuron population for, in order."""
        return [
            layer
            for layer in self.layers
            if layer.type in ("dense", "conv") or (layer.type == "input" and layer.vth is not None)
        ]

    @property
    def voltage_readout(self) -> bool:
        vth = self.layers[-1].vth
        return vth is None or vth >= NON_SPIKING_VTH

    @property
    def layer_kinds(self) -> list[str]:
        """What each recorded layer is, for reports."""
        return [layer.type for layer in self.spiking_layers]


def _scalar(ds: h5py.Dataset) -> float:
    return float(np.asarray(ds[()]).reshape(-1)[0])


def _pair(group: h5py.Group, key: str, default: int) -> tuple[int, int]:
    if key not in group:
        return (default, default)
    value = np.asarray(group[key][()]).reshape(-1)
    return (int(value[0]), int(value[-1]))


@dataclass
class ConvGeometry:
    """A conv layer's geometry as stored in the file, in (H, W) order (torch's order)."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


def conv_geometry(group: h5py.Group) -> ConvGeometry:
    """Read /layer/<i> conv geometry with netx's defaults (stride 1, padding 0, dilation 1)."""
    groups = int(_scalar(group["groups"])) if "groups" in group else 1
    return ConvGeometry(
        _pair(group, "stride", 1), _pair(group, "padding", 0), _pair(group, "dilation", 1), groups
    )


def _check_weights(path: Path, index: int, kind: str, weight: np.ndarray) -> None:
    """Loihi's synapses hold 8-bit integer weight mantissas (netx stores them as float32)."""
    if weight.size == 0:
        raise LoihiSnnError(f"{path}: layer {index} ({kind}) has an empty weight")
    if not np.all(np.isfinite(weight)) or not np.array_equal(weight, np.round(weight)):
        raise LoihiSnnError(
            f"{path}: layer {index} ({kind}) has non-integer weights: export from a quantised model"
        )
    low, high = float(weight.min()), float(weight.max())
    if low < -256 or high > 255:
        raise LoihiSnnError(
            f"{path}: layer {index} ({kind}) weights span [{low:g}, {high:g}], outside Loihi's "
            f"8-bit "
            f"range [-256, 255]: quantise (slayer's quantize_8bit) before exporting"
        )


def prepare_run(
    net: str | Path | NetFile | Graph, inputs: np.ndarray, time_steps: int | None
) -> tuple[NetFile | Graph, int]:
    """The validated file and the time steps per sample for a run of ``inputs`` (shared by the
    backends): for a file whose first synapse takes the input, (n, *input_shape, T) with T the
    steps; for a file with input neurons, their bias per sample (n, *input_shape). A sequential
    file also takes samples of another shape with as many values (netx flattens them); a graph's
    loaders read the shape, so it must match."""
    info = net if isinstance(net, NetFile | Graph) else read_network(net)
    steps = time_steps or info.time_steps
    if not steps:
        raise LoihiSnnError(f"{info.path} does not store its time steps: pass --steps")
    sample_shape = inputs.shape[1:] if info.input_neuron else inputs.shape[1:-1]
    flat_ok = isinstance(info, NetFile) and math.prod(sample_shape) == math.prod(info.input_shape)
    if tuple(sample_shape) != tuple(info.input_shape) and not flat_ok:
        name = info.path.name if info.path else "the network"
        raise LoihiSnnError(
            f"input samples have shape {tuple(sample_shape)} but {name} expects "
            f"{info.input_shape}"
        )
    if not info.input_neuron and inputs.shape[-1] != steps:
        raise LoihiSnnError(f"inputs have {inputs.shape[-1]} time steps, the file {steps}")
    return info, steps


def read_netfile(path: str | Path) -> NetFile:
    """Open and check ``path``; raise LoihiSnnError with what to do on any problem."""
    path = Path(path)
    with open_hdf5(path) as f:
        try:
            return _parse(path, f)
        except (KeyError, ValueError, TypeError, OSError) as err:
            raise LoihiSnnError(
                f"{path} is not a valid NetX network ({type(err).__name__}: {err}): re-export it"
            ) from None


def _parse(path: Path, f: h5py.File) -> NetFile:
    if "layer" not in f or len(f["layer"]) == 0:
        raise LoihiSnnError(f"{path} has no /layer group: it is not a NetX network file")
    group = f["layer"]
    layers = []
    for i in range(len(group)):
        if str(i) not in group:
            raise LoihiSnnError(f"{path}: /layer/{i} is missing (layers must be numbered 0..n-1)")
        g = group[str(i)]
        kind = g["type"][0].decode() if g["type"].shape else g["type"][()].decode()
        shape = (
            tuple(int(s) for s in np.asarray(g["shape"][()]).reshape(-1)) if "shape" in g else ()
        )
        vth = None
        if "neuron" in g:
            vth = int(_scalar(g["neuron/vThMant"]))
        elif kind == "dense":
            vth = 1 << 17  # netx's fallback neuron for a dense layer without neuron group
        transform = None
        if kind == "input" and "neuron" in g:
            weight = _scalar(g["weight"]) if "weight" in g else 64.0
            bias = _scalar(g["bias"]) if "bias" in g else 0.0
            transform = (weight, bias)
        if kind in ("dense", "conv") and "weight" in g:
            _check_weights(path, i, kind, np.asarray(g["weight"][()]))
        layers.append(LayerInfo(kind, shape, vth, transform))
    steps = int(_scalar(f["simulation/tSample"])) if "simulation/tSample" in f else None
    meta = json.loads(f.attrs["loihi_snn"]) if "loihi_snn" in f.attrs else None
    if not any(layer.type in ("dense", "conv") for layer in layers):
        raise LoihiSnnError(f"{path} has no dense or conv layer")
    unknown = [layer.type for layer in layers if layer.type not in STANDARD_TYPES]
    if unknown:
        raise LoihiSnnError(
            f"{path}: layer type '{unknown[0]}' cannot run here "
            f"(supported: {', '.join(STANDARD_TYPES)})"
        )
    return NetFile(path, layers, steps, meta)


def read_network(path: str | Path) -> NetFile | Graph:
    """Open a network file of either format: a sequential NetX file (format 1, and files from
    elsewhere) as a NetFile, a graph file (format 2) as a Graph."""
    if file_format(path) == GRAPH_FORMAT:
        return read_graph(path)
    return read_netfile(path)
