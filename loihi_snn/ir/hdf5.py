"""Reading and writing network files: sequential NetX HDF5 (format 1, lava-dl's own files and the
toolkit's sequential exports) and loihi_snn's graph extension (format 2, export/GRAPH_FORMAT.md),
both into the one network model, :class:`loihi_snn.ir.graph.Graph`.

A format-1 file is a chain: an optional ``input`` layer (with neurons driven through their bias and
netx's input transform, or none), then ``flatten``, ``dense`` and ``conv`` layers. Each dense or
conv layer becomes a population fed by one projection from the previous one; a dense layer
without neuron group gets netx's fallback neuron (iDecay 0, vDecay 4096, vThMant 1 << 17: it never
spikes, its voltage is the readout). Per-neuron biases are stored in Lava's (W, H, C) order there,
per channel or per neuron; the IR holds them per neuron in C, H, W order. Features netx runs that
the toolkit's own backends do not (yet) implement are read and named in ``Layer.netx_only``.
Every problem is one LoihiSnnError naming the layer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from ..errors import LoihiSnnError
from ..fileio import atomic_path, open_hdf5
from ..loihi.limits import DECAY_UNIT, NETX_FALLBACK_VTH
from ..mechanisms import registry  # noqa: F401  (registers the custom layer types with the IR)
from .graph import GRAPH_FORMAT, Graph, Layer, Neuron, Projection, is_custom, layer_type, validate

NETX_TYPES = ("input", "flatten", "dense", "conv")
NETX_FALLBACK = Neuron(i_decay=0, v_decay=DECAY_UNIT, vth=NETX_FALLBACK_VTH)
INPUT_TRANSFORM = (64.0, 0.0)  # netx's input layer weight and bias when the file has none


def _put_str(group: h5py.Group, key: str, value: str) -> None:
    group.create_dataset(key, (1,), "S12", [value.encode()])


def _get_str(group: h5py.Group, key: str) -> str:
    raw = group[key][()]
    return (raw[0] if np.ndim(raw) else raw).decode()


def write_graph(graph: Graph, path: str | Path, meta: dict) -> Path:
    """Write ``graph`` as a format-2 file (atomic); ``meta`` goes to the root attribute
    ``loihi_snn`` as JSON, as in format 1."""
    validate(graph, str(path))
    features = [f for layer in graph.layers for f in layer.netx_only]
    if graph.input_neuron or features:
        what = "input neurons" if graph.input_neuron else features[0]
        raise LoihiSnnError(f"{path}: format {GRAPH_FORMAT} cannot hold {what}: keep the NetX file")
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["loihi_snn_format"] = GRAPH_FORMAT
        f.attrs["loihi_snn"] = json.dumps({**meta, "graph": True})
        sim = f.create_group("simulation")
        sim.create_dataset("Ts", data=1)
        sim.create_dataset("tSample", data=graph.time_steps)
        root = f.create_group("layer")
        for i, layer in enumerate(graph.layers):
            g = root.create_group(str(i))
            _put_str(g, "type", layer.kind)
            g.create_dataset("shape", data=np.array(layer.shape))
            if layer.kind == "concat":
                g.create_dataset("inputs", data=np.array(layer.sources))
            elif layer.kind != "input":
                _write_inputs(g, layer)
                if layer.custom:
                    layer_type(layer.kind).write(g.create_group("params"), layer)
                    continue
                n = g.create_group("neuron")
                _put_str(n, "type", "CUBA")
                for key, value in (
                    ("iDecay", layer.neuron.i_decay),
                    ("vDecay", layer.neuron.v_decay),
                    ("vThMant", layer.neuron.vth),
                    ("refDelay", 1),
                    ("gradedSpike", 0),
                ):
                    n.create_dataset(key, data=value)
    return path


def _write_inputs(g: h5py.Group, layer: Layer) -> None:
    """The bias and the input projections of a population or custom layer."""
    if layer.bias is not None:
        g.create_dataset("bias", data=layer.bias.astype(np.int32))
    ins = g.create_group("inputs")
    for k, p in enumerate(layer.inputs):
        pg = ins.create_group(str(k))
        _put_str(pg, "type", p.kind)
        pg.create_dataset("source", data=p.source)
        pg.create_dataset("weight", data=p.weight.astype(np.float32))
        if p.kind == "conv":
            for key in ("stride", "padding", "dilation"):
                pg.create_dataset(key, data=np.array(getattr(p, key)))
            pg.create_dataset("groups", data=p.groups)
        elif p.kind == "pool":
            pg.create_dataset("kernel", data=np.array(p.kernel))
            pg.create_dataset("stride", data=np.array(p.stride))


def _pair(group: h5py.Group, key: str, default: int) -> tuple[int, int]:
    if key not in group:
        return (default, default)
    value = np.asarray(group[key][()]).reshape(-1)
    return (int(value[0]), int(value[-1]))


def _read_layer(g: h5py.Group) -> Layer:
    kind = _get_str(g, "type")
    shape = tuple(int(s) for s in np.asarray(g["shape"][()]).reshape(-1))
    if kind == "input":
        return Layer(kind, shape)
    if kind == "concat":
        return Layer(kind, shape, sources=[int(s) for s in np.asarray(g["inputs"][()]).reshape(-1)])
    if kind != "population" and not is_custom(kind):
        raise LoihiSnnError(f"{g.name}: unknown layer type '{kind}' in a format-2 file")
    bias = np.asarray(g["bias"][()]).astype(np.int64).reshape(-1) if "bias" in g else None
    inputs = _read_inputs(g)
    if is_custom(kind):
        try:
            params = layer_type(kind).read(g["params"], shape)
        except LoihiSnnError as err:
            raise LoihiSnnError(f"{g.name} ({kind}): {err}") from None
        return Layer(kind, shape, None, bias, inputs, params=params)
    n = g["neuron"]
    neuron = Neuron(
        *(int(np.asarray(n[k][()]).reshape(-1)[0]) for k in ("iDecay", "vDecay", "vThMant"))
    )
    return Layer(kind, shape, neuron, bias, inputs)


def _read_inputs(g: h5py.Group) -> list[Projection]:
    inputs = []
    ins = g["inputs"]
    for k in range(len(ins)):
        if str(k) not in ins:
            raise LoihiSnnError(f"{g.name}/inputs/{k} is missing (inputs are numbered 0..m-1)")
        pg = ins[str(k)]
        inputs.append(
            Projection(
                source=int(np.asarray(pg["source"][()]).reshape(-1)[0]),
                kind=_get_str(pg, "type"),
                weight=np.asarray(pg["weight"][()], dtype=np.float64),
                stride=_pair(pg, "stride", 1),
                padding=_pair(pg, "padding", 0),
                dilation=_pair(pg, "dilation", 1),
                groups=int(np.asarray(pg["groups"][()]).reshape(-1)[0]) if "groups" in pg else 1,
                kernel=_pair(pg, "kernel", 1),
            )
        )
    return inputs


@contextmanager
def _reading(path: Path, what: str) -> Iterator[h5py.File]:
    """The open file; a malformed one (a missing dataset, a wrong dtype or shape) becomes one
    LoihiSnnError."""
    with open_hdf5(path) as f:
        try:
            yield f
        except (KeyError, ValueError, TypeError, IndexError, OSError) as err:
            raise LoihiSnnError(
                f"{path} is not a valid {what} ({type(err).__name__}: {err}): re-export it"
            ) from None


def _numbered_layers(path: Path, f: h5py.File) -> list[h5py.Group]:
    """/layer/0 .. /layer/n-1, in order."""
    group = f["layer"]
    for i in range(len(group)):
        if str(i) not in group:
            raise LoihiSnnError(f"{path}: /layer/{i} is missing (layers are numbered 0..n-1)")
    return [group[str(i)] for i in range(len(group))]


def _meta(f: h5py.File) -> dict | None:
    """The loihi_snn metadata (None for files from elsewhere)."""
    return json.loads(f.attrs["loihi_snn"]) if "loihi_snn" in f.attrs else None


def read_graph(path: str | Path) -> Graph:
    """Read and validate a format-2 file; every problem is a LoihiSnnError naming the layer."""
    path = Path(path)
    with _reading(path, "graph network") as f:
        version = int(f.attrs.get("loihi_snn_format", 1))
        if version != GRAPH_FORMAT:
            raise LoihiSnnError(
                f"{path} has loihi_snn format {version}; this reader knows format {GRAPH_FORMAT}"
            )
        layers = [_read_layer(g) for g in _numbered_layers(path, f)]
        steps = int(np.asarray(f["simulation/tSample"][()]).reshape(-1)[0])
        meta = _meta(f)
    return validate(Graph(layers, steps, path, meta), str(path))


def _scalar(ds: h5py.Dataset) -> float:
    value = np.asarray(ds[()]).reshape(-1)
    if value.size != 1 or not np.isfinite(value[0]):
        raise ValueError(f"{ds.name} must hold one finite number")
    return float(value[0])


def _netx_neuron(g: h5py.Group, where: str) -> tuple[Neuron, tuple[str, ...]]:
    """A layer's neuron group as netx's get_neuron_params reads it, and the netx-only features
    it uses (a neuron type other than CUBA, per-neuron decays, graded spikes)."""
    n = g["neuron"]
    kind = _get_str(n, "type") if "type" in n else "CUBA"
    if kind not in ("CUBA", "LOIHI"):
        return Neuron(0, 0, 0), (f"neuron type {kind}",)
    features = []
    values = []
    for key in ("iDecay", "vDecay", "vThMant"):
        raw = np.asarray(n[key][()]).reshape(-1)
        if raw.size != 1:
            features.append(f"per-neuron {key}")
        if not raw.size or not np.all(np.isfinite(raw)) or not np.all(raw == np.round(raw)):
            raise LoihiSnnError(f"{where}: neuron {key} must hold integers")
        values.append(int(raw[0]))
    if "gradedSpike" in n and _scalar(n["gradedSpike"]):
        features.append("graded spikes")
    return Neuron(*values), tuple(features)


def _netx_bias(g: h5py.Group, shape: tuple[int, ...], where: str) -> np.ndarray | None:
    """netx's bias broadcast (per neuron in Lava's W, H, C order, or per channel) as the IR's
    per-neuron C, H, W integers."""
    if "bias" not in g:
        return None
    bias = np.asarray(g["bias"][()], np.float64).reshape(-1)
    if not np.all(np.isfinite(bias)) or not np.array_equal(bias, np.round(bias)):
        raise LoihiSnnError(f"{where}: bias must hold integer mantissas")
    if bias.size == math.prod(shape):
        full = bias if len(shape) == 1 else bias.reshape(shape[::-1]).transpose(2, 1, 0)
    elif len(shape) == 3 and bias.size == shape[0]:
        full = np.broadcast_to(bias[:, None, None], shape)
    else:
        raise LoihiSnnError(f"{where}: a bias of {bias.size} values fits no neuron shape {shape}")
    return np.ascontiguousarray(full).reshape(-1).astype(np.int64)


def _netx_projection(g: h5py.Group, kind: str, source: int, where: str) -> Projection:
    weight = np.asarray(g["weight"][()], np.float64)
    if kind == "dense":  # netx reads a 1-D weight as (out, in) with out = the layer's size
        out = math.prod(_shape(g)) if "shape" in g and weight.ndim == 1 else weight.shape[0]
        weight = weight.reshape(out, -1)
        projection = Projection(source, "dense", weight)
    else:
        if weight.ndim not in (4, 5) or (weight.ndim == 5 and weight.shape[4] != 1):
            raise LoihiSnnError(f"{where}: conv weight of shape {weight.shape}")
        groups = int(_scalar(g["groups"])) if "groups" in g else 1
        projection = Projection(
            source, "conv", weight.reshape(weight.shape[:4]), _pair(g, "stride", 1),
            _pair(g, "padding", 0), _pair(g, "dilation", 1), groups,
        )
    if "delay" in g:
        projection.delay = np.asarray(g["delay"][()])
    return projection


def _netx_input_shape(first: h5py.Group, kind: str, where: str) -> tuple[int, ...]:
    """The input shape of a file without input layer: what its first dense layer takes."""
    if kind != "dense":
        raise LoihiSnnError(
            f"{where}: the file has no input layer, so the input shape of its first {kind} layer "
            f"is unknown: export it with an input layer"
        )
    weight = np.asarray(first["weight"][()])
    return (math.prod(weight.shape[1:]),)


def _read_netx(path: Path, f: h5py.File) -> Graph:
    if "layer" not in f or len(f["layer"]) == 0:
        raise LoihiSnnError(f"{path} has no /layer group: it is not a NetX network file")
    configs = [(i, g, _get_str(g, "type")) for i, g in enumerate(_numbered_layers(path, f))]
    for i, _, kind in configs:
        if kind not in NETX_TYPES:
            raise LoihiSnnError(
                f"{path}: layer {i} is of type '{kind}', which the toolkit cannot run "
                f"(it runs {', '.join(NETX_TYPES)})"
            )
    layers: list[Layer] = []
    _, first, kind0 = configs[0]
    if kind0 == "input":
        shape = _shape(first)
        if "neuron" in first:
            neuron, features = _netx_neuron(first, f"{path}: layer 0 (input)")
            transform = (
                _scalar(first["weight"]) if "weight" in first else INPUT_TRANSFORM[0],
                _scalar(first["bias"]) if "bias" in first else INPUT_TRANSFORM[1],
            )
            layers.append(Layer("input", shape, neuron, transform=transform, netx_only=features,
                                file_index=0))
        else:
            layers.append(Layer("input", shape, file_index=0))
        configs = configs[1:]
    else:
        layers.append(Layer("input", _netx_input_shape(first, kind0, f"{path}: layer 0")))
    for i, g, kind in configs:
        if kind == "flatten":
            continue
        where = f"{path}: layer {i} ({kind})"
        source = len(layers) - 1
        projection = _netx_projection(g, kind, source, where)
        try:
            out = projection.out_shape(layers[source].shape)
        except ValueError as err:
            raise LoihiSnnError(f"{where}: {err}") from None
        shape = _shape(g) if kind == "conv" and "shape" in g else out
        features: tuple[str, ...] = ()
        if "neuron" in g:
            neuron, features = _netx_neuron(g, where)
        elif kind == "dense":
            neuron = NETX_FALLBACK
        else:
            raise LoihiSnnError(f"{where}: a conv layer without neuron group")
        if projection.delay is not None and np.any(projection.delay):
            features = (*features, "synaptic delays")
        layers.append(
            Layer("population", tuple(shape), neuron, _netx_bias(g, tuple(shape), where),
                  [projection], netx_only=features, file_index=i)
        )
    steps = int(_scalar(f["simulation/tSample"])) if "simulation/tSample" in f else None
    meta = _meta(f)
    if len(layers) < 2:
        raise LoihiSnnError(f"{path} has no dense or conv layer")
    return validate(Graph(layers, steps, path, meta, origin="netx"), str(path))


def _shape(g: h5py.Group) -> tuple[int, ...]:
    shape = tuple(int(s) for s in np.asarray(g["shape"][()]).reshape(-1))
    if not shape or min(shape) < 1:
        raise ValueError(f"{g.name}/shape is {shape}")
    return shape


def read_netx(path: str | Path) -> Graph:
    """Read and validate a sequential NetX file (format 1)."""
    path = Path(path)
    with _reading(path, "NetX network") as f:
        return _read_netx(path, f)


def read_network(path: str | Path) -> Graph:
    """Read a network file of either format into the one network model."""
    if file_format(path) == GRAPH_FORMAT:
        return read_graph(path)
    return read_netx(path)


def file_format(path: str | Path) -> int:
    """The loihi_snn format version of a network file (1 for sequential NetX files, and for files
    from elsewhere); 0 when the file cannot be opened (the readers then say why)."""
    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs.get("loihi_snn_format", 1))
    except OSError:
        return 0
