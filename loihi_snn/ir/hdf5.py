"""Reading and writing network files: sequential NetX HDF5 (format 1, lava-dl's own files and the
toolkit's sequential exports) and loihi_snn's graph extension (format 2, export/GRAPH_FORMAT.md),
both into the one network model, :class:`loihi_snn.ir.graph.Graph`.

A format-1 file is a chain: an optional ``input`` layer (with neurons driven through their bias and
netx's input transform, or none), then ``flatten``, ``dense``, ``dense_rec`` and ``conv`` layers.
Each dense or conv layer becomes a population fed by one projection from the previous one (a
complex weight, into RF neurons, by two: its real and its imaginary part; a ``dense_rec`` layer
adds its ``weight_rec`` as a projection from the population itself); a dense layer
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
from ..loihi.limits import DECAY_UNIT, MAX_DELAY, MAX_VALUES, NETX_FALLBACK_VTH
from ..mechanisms import registry  # noqa: F401  (registers the custom layer types with the IR)
from .checks import check_geometry
from .graph import (
    GRAPH_FORMAT,
    Graph,
    Layer,
    Neuron,
    Projection,
    Resonator,
    SigmaDelta,
    is_custom,
    layer_type,
)
from .validation import validate

NETX_TYPES = ("input", "flatten", "dense", "dense_rec", "conv")
DENSE_TYPES = ("dense", "dense_rec")  # dense_rec: netx's RecurrentDense (weight and weight_rec)
NETX_FALLBACK = Neuron(i_decay=0, v_decay=DECAY_UNIT, vth=NETX_FALLBACK_VTH)
INPUT_TRANSFORM = (64.0, 0.0)  # netx's input layer weight and bias when the file has none
# what h5py and numpy raise on damaged data: a missing object, a wrong dtype, shape or value,
# and (RuntimeError) HDF5's own errors on damaged object headers
MALFORMED = (KeyError, ValueError, TypeError, IndexError, OSError, OverflowError, RuntimeError)


def _put_str(group: h5py.Group, key: str, value: str) -> None:
    group.create_dataset(key, (1,), "S12", [value.encode()])


def _get_str(group: h5py.Group, key: str) -> str:
    """A string dataset (netx reads the first of an array of them)."""
    raw = _value(group, key)
    if isinstance(raw, np.ndarray):
        if not raw.size:
            raise ValueError(f"{group.name}/{key} is empty")
        raw = raw.reshape(-1)[0]
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes):
        raise ValueError(f"{group.name}/{key} holds {raw!r}, not a string")
    return raw.decode()


def _value(group: h5py.Group, key: str) -> object:
    """The value of dataset ``group/key`` (ValueError naming it when it is missing or a
    group)."""
    obj = group.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise ValueError(f"{group.name}/{key} is {'missing' if obj is None else 'not a dataset'}")
    return obj[()]


def _ints(group: h5py.Group, key: str) -> np.ndarray:
    """Dataset ``group/key`` flat as int64; ValueError unless its values are integers (netx files
    store some as floats) of at most 2^53."""
    value = np.asarray(_value(group, key))
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{group.name}/{key} holds {value.dtype} values, not numbers")
    if value.dtype == np.uint64:  # numpy turns uint64 and int arithmetic into floats (netx too)
        raise ValueError(f"{group.name}/{key} is stored as uint64: store a signed integer type")
    exact = value.reshape(-1).astype(np.float64)
    if not np.array_equal(exact, np.round(exact)) or (exact.size and np.abs(exact).max() > 2**53):
        raise ValueError(f"{group.name}/{key} must hold integers")
    return value.reshape(-1).astype(np.int64)


def _first_int(group: h5py.Group, key: str) -> int:
    """Dataset ``group/key``'s first value, integers only (netx reads the first of an array)."""
    value = _ints(group, key)
    if not value.size:
        raise ValueError(f"{group.name}/{key} is empty")
    return int(value[0])


def _int(group: h5py.Group, key: str) -> int:
    """Dataset ``group/key``: one integer."""
    value = _ints(group, key)
    if value.size != 1:
        raise ValueError(f"{group.name}/{key} holds {value.size} values, not one integer")
    return int(value[0])


def write_graph(graph: Graph, path: str | Path, meta: dict) -> Path:
    """Write ``graph`` as a format-2 file (atomic); ``meta`` goes to the root attribute
    ``loihi_snn`` as JSON, as in format 1."""
    validate(graph, str(path))
    features = [f for layer in graph.layers for f in layer.netx_only]
    features += ["synaptic delays" for layer in graph.layers for p in layer.inputs
                 if p.delay is not None]
    features += [f"{type(layer.neuron).__name__} neurons" for layer in graph.layers[1:]
                 if layer.neuron is not None and not isinstance(layer.neuron, Neuron)]
    features += ["recurrent synapses (dense_rec)" for i, layer in enumerate(graph.layers)
                 for p in layer.inputs if p.source == i]
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
    """An (H, W) pair stored as one integer or two in a row, as netx reads them (``default``
    for both when absent)."""
    if key not in group:
        return (default, default)
    value = _ints(group, key)
    if (np.ndim(group[key]), value.size) not in ((0, 1), (1, 2)):
        raise ValueError(f"{group.name}/{key} of shape {group[key].shape}: one integer or two")
    return (int(value[0]), int(value[-1]))


def _read_layer(g: h5py.Group, where: str) -> Layer:
    kind = _get_str(g, "type")
    shape = _shape(g)
    if kind == "input":
        return Layer(kind, shape)
    if kind == "concat":
        return Layer(kind, shape, sources=[int(s) for s in _ints(g, "inputs")])
    if kind != "population" and not is_custom(kind):
        raise LoihiSnnError(f"{where}: unknown layer type '{kind}' in a format-2 file")
    bias = _ints(g, "bias") if "bias" in g else None
    inputs = _read_inputs(g, where)
    if is_custom(kind):
        try:
            params = layer_type(kind).read(g["params"], shape)
        except LoihiSnnError as err:
            raise LoihiSnnError(f"{where} ({kind}): {err}") from None
        return Layer(kind, shape, None, bias, inputs, params=params)
    n = g["neuron"]
    neuron = Neuron(*(_int(n, key) for key in ("iDecay", "vDecay", "vThMant")))
    return Layer(kind, shape, neuron, bias, inputs)


def _read_inputs(g: h5py.Group, where: str) -> list[Projection]:
    inputs = []
    ins = g["inputs"]
    for k in range(len(ins)):
        if str(k) not in ins:
            raise LoihiSnnError(f"{where}: inputs/{k} is missing (inputs are numbered 0..m-1)")
        pg = ins[str(k)]
        projection = Projection(
            source=_int(pg, "source"),
            kind=_get_str(pg, "type"),
            weight=np.asarray(_value(pg, "weight"), dtype=np.float64),
            stride=_pair(pg, "stride", 1),
            padding=_pair(pg, "padding", 0),
            dilation=_pair(pg, "dilation", 1),
            groups=_int(pg, "groups") if "groups" in pg else 1,
            kernel=_pair(pg, "kernel", 1),
        )
        check_geometry(projection, f"{where}, input {k}")
        inputs.append(projection)
    return inputs


@contextmanager
def _malformed(where: str) -> Iterator[None]:
    """What h5py and numpy raise on damaged data (MALFORMED) as one LoihiSnnError naming
    ``where``."""
    try:
        yield
    except MALFORMED as err:
        text = err.args[0] if isinstance(err, KeyError) and err.args else err
        reason = " ".join(str(text).split())  # one line
        raise LoihiSnnError(f"{where}: {reason} ({type(err).__name__}): re-export it") from None


@contextmanager
def _reading(path: Path, what: str) -> Iterator[h5py.File]:
    """The open file, every dataset checked to hold real numbers or strings, at most MAX_VALUES
    of them (datasets are read whole: a bigger one is a resource bomb); a malformed file becomes
    one LoihiSnnError."""

    def refuse_huge(name: bytes, info: h5py.h5o.ObjInfo) -> None:
        if info.type != h5py.h5o.TYPE_DATASET:
            return
        dataset = h5py.h5d.open(f.id, name)  # the low-level API: 2x faster than visititems
        size, kind = dataset.get_space().get_simple_extent_npoints(), dataset.dtype.kind
        if size > MAX_VALUES or kind == "c":
            what = "complex numbers" if kind == "c" else f"{size:,} values"
            raise LoihiSnnError(
                f"{path}: dataset /{name.decode()} holds {what}, which no network file holds (at "
                f"most {MAX_VALUES:,} real values): re-export it"
            )

    with open_hdf5(path) as f, _malformed(f"{path} is not a valid {what}"):
        h5py.h5o.visit(f.id, refuse_huge, info=True)
        yield f


def _numbered_layers(path: Path, f: h5py.File) -> list[h5py.Group]:
    """/layer/0 .. /layer/n-1, in order."""
    group = f.get("layer")
    if not isinstance(group, h5py.Group) or not len(group):
        raise LoihiSnnError(f"{path} has no /layer group of layers: it is not a network file")
    layers = []
    for i in range(len(group)):
        g = group.get(str(i))
        if not isinstance(g, h5py.Group):
            what = "missing" if g is None else "not a group"
            raise LoihiSnnError(f"{path}: /layer/{i} is {what} (layers are numbered 0..n-1)")
        layers.append(g)
    return layers


def _meta(f: h5py.File) -> dict | None:
    """The loihi_snn metadata (None for files from elsewhere)."""
    return json.loads(f.attrs["loihi_snn"]) if "loihi_snn" in f.attrs else None


def read_graph(path: str | Path) -> Graph:
    """Read and validate a format-2 file; every problem is a LoihiSnnError naming the layer."""
    path = Path(path)
    with _reading(path, "graph network") as f:
        version = _format_of(path, f)
        if version != GRAPH_FORMAT:
            raise LoihiSnnError(
                f"{path} has loihi_snn format {version}; this reader knows format {GRAPH_FORMAT}"
            )
        layers = []
        for g in _numbered_layers(path, f):
            where = f"{path}: {g.name}"
            with _malformed(where):
                layers.append(_read_layer(g, where))
        steps = _steps(path, f)
        if steps is None:
            raise LoihiSnnError(f"{path} has no simulation/tSample: re-export it")
        meta = _meta(f)
    return validate(Graph(layers, steps, path, meta), str(path))


def _steps(path: Path, f: h5py.File) -> int | None:
    """simulation/tSample (None when the file does not store it)."""
    sim = f.get("simulation")
    if not isinstance(sim, h5py.Group) or "tSample" not in sim:
        return None
    steps = _int(sim, "tSample")
    if steps < 1:
        raise LoihiSnnError(
            f"{path}: simulation/tSample is {steps}: store the time steps the network runs for "
            f"(or, in a NetX file, delete it and pass --steps)"
        )
    return steps


def _scalar(ds: h5py.Dataset) -> float:
    value = np.asarray(ds[()]).reshape(-1)
    if value.dtype.kind not in "biuf" or value.size != 1 or not np.isfinite(value[0]):
        raise ValueError(f"{ds.name} must hold one finite number")
    return float(value[0])


def _netx_neuron(
    g: h5py.Group, where: str, is_input: bool = False
) -> tuple[Neuron | SigmaDelta | Resonator, tuple[str, ...]]:
    """A layer's neuron group as netx's get_neuron_params reads it, and the netx-only features
    it uses (per-neuron decays, graded LIF spikes, sigma-delta payloads cut to 1 bit). A LIF's
    or an RF's messageBits only make the next synapse take its 0/1 spikes as payloads: the same
    sums."""
    n = g["neuron"]
    kind = _get_str(n, "type") if "type" in n else "CUBA"
    bits = _scalar(n["messageBits"]) if "messageBits" in n else None
    if kind == "SDNN":
        role = "delta" if is_input else "sigma" if "sigma_output" in n else "sigma_delta"
        vth = 0 if role == "sigma" else _first_int(n, "vThMant")
        binary = ("sigma-delta payloads sent as 1-bit spikes (messageBits 0)",)
        return SigmaDelta(role, vth), binary if bits == 0 else ()
    if "RF" in kind:
        return _netx_resonator(n, kind, where), ()
    features = []
    values = []
    for key in ("iDecay", "vDecay", "vThMant"):
        raw = np.asarray(n[key][()]).reshape(-1)
        if raw.size != 1:
            features.append(f"per-neuron {key}")
        if raw.dtype.kind == "f":  # netx hands it to Lava as it is
            raise LoihiSnnError(
                f"{where}: neuron {key} is stored as {raw.dtype}, which Lava's fixed-point LIF "
                f"cannot shift: store it as an integer"
            )
        values.append(_first_int(n, key))
    if "gradedSpike" in n and _scalar(n["gradedSpike"]):
        features.append("graded spikes")
    return Neuron(*values), tuple(features)


def _netx_resonator(n: h5py.Group, kind: str, where: str) -> Resonator:
    """An RF neuron group as netx builds it: Lava's RF for RF_PHASE, RF_IZ for any other RF
    type; one sinDecay, cosDecay and vThMant per layer (netx gives Lava's RF one of each)."""
    raw = {}
    for key in ("sinDecay", "cosDecay", "vThMant"):
        raw[key] = n[key][()]
        values = np.asarray(raw[key]).reshape(-1)
        if values.size != 1 or values.dtype.kind not in "biuf" or not np.isfinite(values[0]):
            raise LoihiSnnError(
                f"{where}: its {kind} neuron's {key} must be one number (netx builds one per "
                f"layer)"
            )
    vth = _first_int(n, "vThMant")
    sin, cos = rf_decays(raw["sinDecay"], raw["cosDecay"])
    return Resonator(sin, cos, vth, iz="PHASE" not in kind)


def rf_decays(sin_decay: object, cos_decay: object) -> tuple[int, int]:
    """The decays Lava's fixed-point RF runs with, from a file's sinDecay and cosDecay (of 4096)
    as netx gets them there, in float64 in the same order of operations: lava-dl's
    ``slayer.neuron.rf.neuron_params`` turns them into a period and an alpha, Lava's ``RF``
    back into (1 - alpha) sin(2 pi / period) and cos(...), truncated to int32 of 4096."""
    unit = 1 << 12
    with np.errstate(divide="ignore", invalid="ignore"):
        sin = np.asarray(sin_decay).reshape(-1)[0] / unit
        cos = np.asarray(cos_decay).reshape(-1)[0] / unit
        decay = 1 - np.sqrt(sin**2 + cos**2)
        period = 1 / (np.arctan2(sin, cos) / 2 / np.pi)
        angle = np.pi * 2 * 1 / period
        return tuple(int(np.int32((1 - decay) * f(angle) * unit)) for f in (np.sin, np.cos))


def _netx_bias(g: h5py.Group, shape: tuple[int, ...], where: str) -> np.ndarray | None:
    """netx's bias broadcast as the IR's per-neuron C, H, W integers: a dense layer's per neuron,
    a conv layer's per neuron as a (W, H, C) array (Lava's order) or per channel (1-D); netx
    builds no other."""
    if "bias" not in g:
        return None
    bias = np.asarray(g["bias"][()], np.float64)
    if not np.all(np.isfinite(bias)) or not np.array_equal(bias, np.round(bias)):
        raise LoihiSnnError(f"{where}: bias must hold integer mantissas")
    if bias.shape == shape[::-1]:
        full = bias.transpose()  # (W, H, C) -> C, H, W; a dense layer's (N,) as it is
    elif len(shape) == 3 and bias.shape == shape[:1]:
        full = np.broadcast_to(bias[:, None, None], shape)
    else:
        lava = "per neuron as (W, H, C) or one per channel" if len(shape) == 3 else "per neuron"
        raise LoihiSnnError(
            f"{where}: a bias of shape {bias.shape} for neurons {shape}; netx takes it {lava}"
        )
    return np.ascontiguousarray(full).reshape(-1).astype(np.int64)


def _netx_projections(g: h5py.Group, kind: str, source: int, where: str) -> list[Projection]:
    """A layer's synapses from layer ``source`` as netx builds them: one projection; two for a
    complex weight (``weight/real`` then ``weight/imag``: ComplexDense's two Dense synapses);
    for a dense_rec layer the feed-forward one and ``weight_rec`` as a projection from the
    layer itself (``source`` + 1; RecurrentDense: one step later)."""
    if kind == "conv":
        weight = np.asarray(g["weight"][()], np.float64)
        if weight.ndim not in (4, 5) or (weight.ndim == 5 and weight.shape[4] != 1):
            raise LoihiSnnError(f"{where}: conv weight of shape {weight.shape}")
        groups = int(_scalar(g["groups"])) if "groups" in g else 1
        projection = Projection(
            source, "conv", weight.reshape(weight.shape[:4]), _pair(g, "stride", 1),
            _pair(g, "padding", 0), _pair(g, "dilation", 1), groups,
        )
    elif isinstance(g.get("weight"), h5py.Group):
        parts = [Projection(source, "dense", _dense_weight(g, f"weight/{part}", where))
                 for part in ("real", "imag")]
        if parts[0].weight.shape != parts[1].weight.shape:
            raise LoihiSnnError(
                f"{where}: complex weight of real part {parts[0].weight.shape} and imaginary "
                f"part {parts[1].weight.shape}"
            )
        return parts
    else:
        projection = Projection(source, "dense", _dense_weight(g, "weight", where))
    if "delay" in g:
        projection.delay = _netx_delay(np.asarray(g["delay"][()]), projection, where)
    if kind != "dense_rec":
        return [projection]
    recurrent = Projection(source + 1, "dense", _dense_weight(g, "weight_rec", where))
    neurons = projection.weight.shape[0]
    if recurrent.weight.shape != (neurons, neurons):
        raise LoihiSnnError(
            f"{where}: weight_rec of shape {recurrent.weight.shape}; netx feeds the layer's "
            f"{neurons} neurons back to themselves through ({neurons}, {neurons})"
        )
    return [projection, recurrent]


def _dense_weight(g: h5py.Group, key: str, where: str) -> np.ndarray:
    """Dense weight dataset ``key`` of a layer as (out, in) float64: netx reads a 1-D one as
    (out, in) with out the layer's size."""
    ds = g.get(key)
    if not isinstance(ds, h5py.Dataset) or ds.ndim not in (1, 2):
        raise LoihiSnnError(f"{where}: netx takes {key} as a 1-D or 2-D dataset")
    weight = np.asarray(ds[()], np.float64)
    out = math.prod(_shape(g)) if "shape" in g and weight.ndim == 1 else weight.shape[0]
    return weight.reshape(out, -1)


def _netx_delay(delay: np.ndarray, projection: Projection, where: str) -> np.ndarray | None:
    """A layer's synaptic delays in steps as netx's DelayDense gets them, per synapse (out, in)
    int64, or None when all are 0: a scalar for every synapse, one per output neuron (axonal, as
    SLAYER's delay blocks export them) or per input, or one per synapse. netx builds conv layers
    without delays and clips delays above 62 with a warning: both would change the network, so
    they are refused, as are negative and fractional delays."""
    if not delay.size or not np.all(np.isfinite(delay)) or np.any(delay != np.round(delay)):
        raise LoihiSnnError(f"{where}: synaptic delays must be whole numbers of steps")
    if not np.any(delay):
        return None
    if projection.kind != "dense":
        raise LoihiSnnError(
            f"{where}: synaptic delays on a conv layer, which netx builds without them: remove "
            f"them or make the layer dense"
        )
    if delay.min() < 0 or delay.max() > MAX_DELAY:
        raise LoihiSnnError(
            f"{where}: synaptic delays span [{delay.min():g}, {delay.max():g}] steps; Loihi 2 and "
            f"netx take 0 to {MAX_DELAY} (netx would clip them with a warning, changing the "
            f"network)"
        )
    out, inputs = projection.weight.shape
    if delay.ndim == 0:
        delay = np.full((out, inputs), delay)
    elif delay.ndim == 1 and delay.size in (out, inputs):  # netx tries per output first
        per_output = delay.size == out
        delay = np.repeat(delay[:, None], inputs, 1) if per_output else np.tile(delay, (out, 1))
    elif delay.shape != (out, inputs):
        raise LoihiSnnError(
            f"{where}: {delay.shape} synaptic delays fit neither the {out} x {inputs} synapses, "
            f"their {out} outputs nor their {inputs} inputs"
        )
    return delay.astype(np.int64)


def _netx_input_shape(first: h5py.Group, kind: str, where: str) -> tuple[int, ...]:
    """The input shape of a file without input layer: what its first dense layer takes (netx
    reads a 1-D weight as (out, in), out the layer's size)."""
    if kind not in DENSE_TYPES:
        raise LoihiSnnError(
            f"{where}: the file has no input layer, so the input shape of its first {kind} layer "
            f"is unknown: export it with an input layer"
        )
    weight = first.get("weight")
    if isinstance(weight, h5py.Group):  # a complex weight: its real part
        weight = weight.get("real")
    if not isinstance(weight, h5py.Dataset) or weight.ndim not in (1, 2):
        raise LoihiSnnError(f"{where}: a dense layer needs a 1-D or 2-D weight dataset")
    if weight.ndim == 2:
        return (weight.shape[1],)
    rows = math.prod(_shape(first))
    if weight.size % rows:
        raise LoihiSnnError(f"{where}: a weight of {weight.size} values for {rows} neurons")
    return (weight.size // rows,)


def _read_netx(path: Path, f: h5py.File) -> Graph:
    configs = []
    numbered = _numbered_layers(path, f)
    groups = None
    for i, g in enumerate(numbered):
        with _malformed(f"{path}: layer {i}"):
            kind = _get_str(g, "type")
        if kind == "average" and i == len(numbered) - 1 and i:
            with _malformed(f"{path}: layer {i} (average)"):
                groups = math.prod(_shape(g))
            continue
        if kind == "dense_comp":
            raise LoihiSnnError(
                f"{path}: layer {i} is of type 'dense_comp', which lava-dl 0.6's netx cannot "
                f"build (it calls a create_complex_dense it does not have): write a complex "
                f"dense layer as type 'dense' with weight/real and weight/imag"
            )
        if kind not in NETX_TYPES:
            raise LoihiSnnError(
                f"{path}: layer {i} is of type '{kind}', which the toolkit cannot run here "
                f"(it runs {', '.join(NETX_TYPES)}, and average as the last layer)"
            )
        if kind == "input" and i:
            raise LoihiSnnError(f"{path}: layer {i} is a second input layer")
        configs.append((i, g, kind))
    layers: list[Layer] = []
    _, first, kind0 = configs[0]
    with _malformed(f"{path}: layer 0 ({kind0})"):
        if kind0 == "input":
            shape = _shape(first)
            if "neuron" in first:
                _netx_neuron_entries(first, f"{path}: layer 0 (input)", True)
                neuron, features = _netx_neuron(first, f"{path}: layer 0 (input)", True)
                if isinstance(neuron, Resonator):
                    raise LoihiSnnError(
                        f"{path}: layer 0 (input) has RF neurons, which netx cannot build as an "
                        f"input layer (its Input block drives a_in, which Lava's RF lacks)"
                    )
                transform = None if isinstance(neuron, SigmaDelta) else (
                    _scalar(first["weight"]) if "weight" in first else INPUT_TRANSFORM[0],
                    _scalar(first["bias"]) if "bias" in first else INPUT_TRANSFORM[1],
                )
                layers.append(Layer("input", shape, neuron, transform=transform,
                                    netx_only=features, file_index=0))
            else:
                layers.append(Layer("input", shape, file_index=0))
            configs = configs[1:]
        else:
            layers.append(Layer("input", _netx_input_shape(first, kind0, f"{path}: layer 0")))
    flatten = False  # a flatten layer came after the last dense one (netx's flatten_next)
    for i, g, kind in configs:
        if kind == "flatten":
            flatten = True
            continue
        where = f"{path}: layer {i} ({kind})"
        with _malformed(where):
            layers.append(_netx_population(g, kind, i, layers, flatten, where))
        flatten = flatten and kind not in DENSE_TYPES
    steps = _steps(path, f)
    meta = _meta(f)
    if len(layers) < 2:
        raise LoihiSnnError(f"{path} has no dense or conv layer")
    _mark_mixed(layers)
    if groups is not None and layers[-1].neurons % groups:
        raise LoihiSnnError(
            f"{path}: layer {len(numbered) - 1} (average) makes {groups} groups of the "
            f"{layers[-1].neurons} neurons before it, which lava-dl's average block cannot split "
            f"evenly"
        )
    graph = Graph(layers, steps, path, meta, origin="netx", readout_groups=groups)
    return validate(graph, str(path))


def _mark_mixed(layers: list[Layer]) -> None:
    """Name, on its sigma-delta and RF layers, a network that mixes them with LIF layers: netx
    resets the LIFs every sample but never the sigma-delta or RF neurons, which the toolkit's
    own backends do not model together."""
    lif = any(isinstance(layer.neuron, Neuron) for layer in layers)
    for layer in layers:
        kind = {SigmaDelta: "sigma-delta", Resonator: "RF"}.get(type(layer.neuron))
        if lif and kind:
            layer.netx_only = (*layer.netx_only, f"{kind} neurons beside LIF layers")


def _netx_population(
    g: h5py.Group, kind: str, index: int, layers: list[Layer], flatten: bool, where: str
) -> Layer:
    """Dense or conv layer ``index`` of a NetX file as a population fed by the last of
    ``layers``, refusing what netx cannot build: a layer whose shape its weights do not give, a
    dense layer reading a (C, H, W) layer without a flatten before it (``flatten``) or a flat one
    with, a conv layer without one of the entries netx reads."""
    source = len(layers) - 1
    previous = layers[source]
    if kind in DENSE_TYPES:
        # netx connects the layer before (a Lava process unless it is an input without neurons)
        # as it is, or transposed to C, H, W and flattened after a flatten layer
        if source or previous.neuron is not None:
            if flatten != (len(previous.shape) == 3):
                raise LoihiSnnError(
                    f"{where}: it reads a {len(previous.shape)}-D layer "
                    f"{'after' if flatten else 'without'} a flatten layer, which netx cannot "
                    f"connect: {'remove' if flatten else 'add'} the flatten layer"
                )
    else:
        missing = [k for k in ("neuron", "stride", "padding", "dilation", "groups") if k not in g]
        if missing:
            raise LoihiSnnError(f"{where}: no {', '.join(missing)}, which netx reads")
    projections = _netx_projections(g, kind, source, where)
    projection = projections[0]
    check_geometry(projection, where)
    try:
        out = projection.out_shape(previous.shape)
    except ValueError as err:
        raise LoihiSnnError(f"{where}: {err}") from None
    shape = _shape(g)  # netx sizes a dense layer's neurons by its product
    if not (shape == out if kind == "conv" else math.prod(shape) == out[0]):
        raise LoihiSnnError(f"{where}: shape {shape}, where its weights and input give {out}")
    shape = out
    features: tuple[str, ...] = ()
    if "neuron" in g:
        _netx_neuron_entries(g, where, False)
        neuron, features = _netx_neuron(g, where)
        if isinstance(neuron, SigmaDelta) and neuron.role == "sigma" and "bias" in g:
            raise LoihiSnnError(f"{where}: a bias on a Sigma output, which netx cannot build")
    else:
        neuron = NETX_FALLBACK
    _refuse_unbuilt(g, kind, neuron, where)
    if kind == "dense_rec" and isinstance(neuron, SigmaDelta):
        features = (*features, "a recurrent synapse (dense_rec) into sigma-delta neurons")
    return Layer("population", shape, neuron, _netx_bias(g, shape, where), projections,
                 netx_only=features, file_index=index)


def _refuse_unbuilt(g: h5py.Group, kind: str, neuron: object, where: str) -> None:
    """Refuse what netx cannot build or would build with a part of the layer ignored: RF neurons
    without a complex weight (netx connects a_in, which Lava's RF lacks) and a complex weight
    into other neurons (a_real_in, a_imag_in), a complex weight with a bias, synaptic delays or
    a recurrent weight_rec (ComplexDense drops them), and a dense_rec layer with synaptic delays
    (RecurrentDense builds delayed synapses without their weight exponent)."""
    complex_weight = isinstance(g.get("weight"), h5py.Group)
    delays = "delay" in g and np.any(np.asarray(g["delay"][()]))
    if isinstance(neuron, Resonator) != complex_weight:
        what = "RF neurons without a complex weight (weight/real and weight/imag)" \
            if isinstance(neuron, Resonator) else "a complex weight without RF neurons"
        raise LoihiSnnError(
            f"{where}: {what}, which netx cannot build: RF neurons take a dense layer's complex "
            f"weight into their real and imaginary inputs, and nothing else"
        )
    if complex_weight and (kind == "dense_rec" or "bias" in g or delays):
        what = "weight_rec" if kind == "dense_rec" else "a bias" if "bias" in g else "delays"
        raise LoihiSnnError(
            f"{where}: a complex weight with {what}, which netx's ComplexDense would ignore"
        )
    if kind == "dense_rec" and delays:
        raise LoihiSnnError(
            f"{where}: synaptic delays on a dense_rec layer, which netx's RecurrentDense builds "
            f"without the weight exponent (other sums than the file's)"
        )


def _netx_neuron_entries(g: h5py.Group, where: str, is_input: bool) -> None:
    """Refuse a neuron group netx's get_neuron_params cannot read: a type other than CUBA,
    LOIHI, SDNN or a resonate-and-fire one, or without the entries its type needs."""
    n = g["neuron"]
    kind = _get_str(n, "type")
    if kind in ("CUBA", "LOIHI"):
        needs: tuple[str, ...] = ("iDecay", "vDecay", "vThMant")
    elif kind == "SDNN":  # a Sigma output layer has no threshold
        needs = () if "sigma_output" in n and not is_input else ("vThMant",)
    elif "RF" in kind:
        needs = ("sinDecay", "cosDecay", "vThMant")
    else:
        raise LoihiSnnError(f"{where}: neuron type '{kind}', which netx does not build")
    missing = [key for key in needs if key not in n]
    if missing:
        raise LoihiSnnError(
            f"{where}: its {kind} neuron has no {', '.join(missing)}, which netx reads"
        )


def _shape(g: h5py.Group) -> tuple[int, ...]:
    """A layer's shape: a row of positive integers (netx reverses it to Lava's order)."""
    shape = tuple(int(s) for s in _ints(g, "shape"))
    if np.ndim(g["shape"]) != 1 or not shape or min(shape) < 1:
        raise ValueError(f"{g.name}/shape is {shape}")
    return shape


def read_netx(path: str | Path) -> Graph:
    """Read and validate a sequential NetX file (format 1)."""
    path = Path(path)
    with _reading(path, "NetX network") as f:
        return _read_netx(path, f)


def read_network(path: str | Path) -> Graph:
    """Read a network file of either format into the one network model."""
    version = file_format(path)
    if version == GRAPH_FORMAT:
        return read_graph(path)
    if version > GRAPH_FORMAT:
        raise LoihiSnnError(
            f"{path} has loihi_snn format {version}; this reader knows formats 1 and {GRAPH_FORMAT}"
        )
    return read_netx(path)


def file_format(path: str | Path) -> int:
    """The loihi_snn format version of a network file (1 for sequential NetX files, and for files
    from elsewhere); 0 when the file cannot be opened (the readers then say why)."""
    try:
        f = h5py.File(path, "r")
    except OSError:
        return 0
    with f, _malformed(f"{path} is not a valid network file"):
        return _format_of(Path(path), f)


def _format_of(path: Path, f: h5py.File) -> int:
    """The root attribute loihi_snn_format (1 when absent)."""
    raw = f.attrs.get("loihi_snn_format", 1)
    value = np.asarray(raw).reshape(-1)
    if value.dtype.kind not in "iu" or value.size != 1 or value[0] < 1:
        raise LoihiSnnError(
            f"{path}: its root attribute loihi_snn_format is {raw!r}, not a format number: "
            f"re-export it"
        )
    return int(value[0])
