"""Graph networks: loihi_snn's extension of NetX HDF5 (format 2) for residual and other
non-sequential spiking networks. The schema is documented in export/GRAPH_FORMAT.md.

A graph is a list of layers in file order: layer 0 is the input, every other layer is a
``population`` (CUBA LIF neurons, as netx builds them, fed by one or more projections whose integer
currents are summed: the membrane shortcut), a ``concat`` (no neurons: the channel concatenation
of its sources, which later projections read) or a custom layer (:mod:`loihi_snn.ir.layer_type`: fed
like a population, its mechanism defined by its type, e.g. ``alif_mask``). Projections are
``dense``, ``conv``, ``pool`` (per-channel sum pooling with one integer weight; an average is a
pool whose 1/k^2 lives in the weight and threshold) and ``identity`` (one integer weight, same
shape). Every projection is
zero-latency in the model: a population at step t sees its sources at step t. Lava adds a step per
hop; :mod:`loihi_snn.backends.lava_graph` realigns the paths.

Units are those of Lava fixed_pt: integer weight mantissas (8 bit; dense weights are packed by
netx's ``optimize_weight_bits`` exactly as netx does), bias mantissas applied ``<< 6``, threshold
mantissa ``vth`` compared as ``v > vth << 6``, 12-bit decays ``iDecay`` (du + 1) and ``vDecay``.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import LoihiSnnError
from ..fileio import atomic_path, open_hdf5
from .layer_type import is_custom, layer_type

GRAPH_FORMAT = 2
PROJECTION_TYPES = ("dense", "conv", "pool", "identity")
WEIGHT_RANGE = (-256, 255)  # Loihi's 8-bit weight mantissas
BIAS_RANGE = (-4096, 4095)  # 13-bit bias mantissa
MAX_VTH = (1 << 17) - 1


@dataclass
class Neuron:
    """CUBA LIF parameters as netx stores them: iDecay = du + 1, vDecay = dv (12 bit, of 4096),
    vThMant: threshold mantissa (spike when v > vThMant << 6)."""

    i_decay: int
    v_decay: int
    vth: int

    @property
    def cu(self) -> int:
        """Current decay complement 4096 - (du + 1)."""
        return 4096 - self.i_decay

    @property
    def cv(self) -> int:
        return 4096 - self.v_decay


@dataclass
class Projection:
    """Synapses from layer ``source`` into a population.

    dense: weight (out, in) over the source flattened in C, H, W order. conv: weight
    (out, in/groups, kH, kW) in torch's cross-correlation order with stride, padding, dilation
    (each (H, W)) and groups. pool: per-channel sum over kernel x kernel windows with the given
    stride, times the scalar weight. identity: the source times the scalar weight.
    """

    source: int
    kind: str
    weight: np.ndarray  # integer mantissas
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    kernel: tuple[int, int] = (1, 1)  # pool only

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the currents this projection delivers for a source of ``in_shape``."""
        if self.kind == "dense":
            if self.weight.ndim != 2 or self.weight.shape[1] != math.prod(in_shape):
                raise ValueError(
                    f"dense weight {self.weight.shape} does not take {math.prod(in_shape)} inputs"
                )
            return (self.weight.shape[0],)
        if self.kind == "identity":
            return in_shape
        if len(in_shape) != 3:
            raise ValueError(f"a {self.kind} projection needs a (C, H, W) source, got {in_shape}")
        channels, size = in_shape[0], in_shape[1:]
        if self.kind == "pool":
            kernel, out_c = self.kernel, channels
            padding, dilation = (0, 0), (1, 1)
        else:
            out_c, in_per_group, kh, kw = self.weight.shape
            if channels % self.groups or in_per_group * self.groups != channels:
                raise ValueError(
                    f"conv weight {self.weight.shape} with groups {self.groups} does not take "
                    f"{channels} channels"
                )
            kernel, padding, dilation = (kh, kw), self.padding, self.dilation
        out = tuple(
            (size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // self.stride[i] + 1
            for i in range(2)
        )
        if min(out) < 1:
            raise ValueError(f"{self.kind} projection gives an empty output from {in_shape}")
        return (out_c, *out)


@dataclass
class Layer:
    """One layer of a graph file. ``kind``: input | population | concat | a custom type."""

    kind: str
    shape: tuple[int, ...]  # C, H, W or (features,)
    neuron: Neuron | None = None  # population only
    bias: np.ndarray | None = None  # integer mantissa per neuron (C, H, W order)
    inputs: list[Projection] = field(default_factory=list)  # population and custom
    sources: list[int] = field(default_factory=list)  # concat only
    params: Any = None  # custom: the type's parameter record

    @property
    def custom(self) -> bool:
        return is_custom(self.kind)

    @property
    def neurons(self) -> int:
        return math.prod(self.shape)


@dataclass
class Graph:
    """A validated graph: layers in file order, a topological order of them, each layer's depth
    (the number of synaptic hops on its longest path from the input, plus the latencies of the
    custom layers on it) and ``ready``: depth plus the layer's own latency, the global step at
    which its output (and recorded spikes) for sample 0 begins in Lava."""

    layers: list[Layer]
    time_steps: int
    path: Path | None = None
    meta: dict | None = None
    order: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)

    @property
    def populations(self) -> list[int]:
        """Indices of the layers with neurons (LIF populations and custom layers) in file order:
        the layers a run records."""
        layers = self.layers
        return [i for i, layer in enumerate(layers) if layer.kind == "population" or layer.custom]

    def graded(self, index: int) -> bool:
        """Whether layer ``index`` sends graded payloads (the input counts as graded; the run
        decides from the data)."""
        layer = self.layers[index]
        return layer.custom and layer_type(layer.kind).graded

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.layers[0].shape

    # what the commands ask of any network file (see netfile.NetFile)
    input_neuron = False  # the input goes into the first synapses
    voltage_readout = False  # the classes are the output spike counts

    @property
    def layer_kinds(self) -> list[str]:
        """Each population named by the projections that feed it, e.g. 'conv+identity', custom
        layers by their kind too, e.g. 'alif_mask(conv+conv)'."""
        names = []
        for i in self.populations:
            layer = self.layers[i]
            feed = "+".join(p.kind for p in layer.inputs)
            names.append(f"{layer.kind}({feed})" if layer.custom else feed)
        return names

    def resolved(self, projection: Projection) -> list[tuple[int, Projection]]:
        """A projection as projections from populations or the input only: one reading a concat
        is split into one per concatenated source, each with its slice of the weights."""
        src = self.layers[projection.source]
        if src.kind != "concat":
            return [(projection.source, projection)]
        parts, start = [], 0
        for index in src.sources:
            part = self.layers[index]
            if projection.kind == "dense":
                stop = start + part.neurons
                weight = projection.weight[:, start:stop]
            elif projection.kind == "conv":
                stop = start + part.shape[0]
                weight = projection.weight[:, start:stop]
            else:  # pool and identity act per channel: slice the output channels instead
                raise ValueError(f"a {projection.kind} projection cannot read a concat")
            piece = Projection(
                index,
                projection.kind,
                weight,
                projection.stride,
                projection.padding,
                projection.dilation,
                projection.groups,
                projection.kernel,
            )
            parts.extend(self.resolved(piece))
            start = stop
        return parts


def lowered(projection: Projection, in_shape: tuple[int, ...]) -> Projection:
    """The projection as the dense or conv synapse Lava runs: a pool becomes a conv with the
    weight on the channel diagonal, an identity a 1x1 conv (or a diagonal dense for flat
    sources)."""
    if projection.kind in ("dense", "conv"):
        return projection
    scalar = float(np.asarray(projection.weight).reshape(-1)[0])
    if projection.kind == "identity" and len(in_shape) == 1:
        return Projection(projection.source, "dense", np.eye(in_shape[0]) * scalar)
    channels = in_shape[0]
    kernel = projection.kernel if projection.kind == "pool" else (1, 1)
    weight = np.zeros((channels, channels, *kernel))
    weight[np.arange(channels), np.arange(channels)] = scalar
    stride = projection.stride if projection.kind == "pool" else (1, 1)
    return Projection(projection.source, "conv", weight, stride=stride)


def _name(index: int, layer: Layer | None = None) -> str:
    return f"layer {index}" + (f" ({layer.kind})" if layer else "")


def validate(graph: Graph, origin: str) -> Graph:
    """Check sources, shapes at every merge, ranges and acyclicity; fill ``order`` and ``depth``.
    Raises LoihiSnnError naming the offending layer."""
    layers = graph.layers
    if not layers or layers[0].kind != "input":
        raise LoihiSnnError(f"{origin}: layer 0 must be the input layer")
    if not graph.populations:
        raise LoihiSnnError(f"{origin} has no neuron population")
    if layers[-1].kind != "population":
        raise LoihiSnnError(f"{origin}: the last layer must be a population (the classes)")
    edges: dict[int, list[int]] = {}
    for i, layer in enumerate(layers):
        if layer.kind == "input":
            if i:
                raise LoihiSnnError(f"{origin}: {_name(i)} is a second input layer")
            continue
        refs = layer.sources if layer.kind == "concat" else [p.source for p in layer.inputs]
        if not refs:
            raise LoihiSnnError(f"{origin}: {_name(i, layer)} has no input")
        for ref in refs:
            if not 0 <= ref < len(layers):
                raise LoihiSnnError(
                    f"{origin}: {_name(i, layer)} reads layer {ref}, which does not exist"
                )
        edges[i] = refs
    graph.order = _topological(edges, len(layers), origin)
    graph.depth = [0] * len(layers)
    graph.ready = [0] * len(layers)
    for i in graph.order:
        layer = layers[i]
        if layer.kind == "concat":
            _check_concat(graph, i, origin)
            graph.depth[i] = max(graph.ready[s] for s in layer.sources)
            graph.ready[i] = graph.depth[i]
        elif layer.kind != "input":
            _check_population(graph, i, origin)
            graph.depth[i] = 1 + max(graph.ready[p.source] for p in layer.inputs)
            latency = layer_type(layer.kind).latency(layer, graph.time_steps) if layer.custom else 0
            graph.ready[i] = graph.depth[i] + latency
    return graph


def _topological(edges: dict[int, list[int]], count: int, origin: str) -> list[int]:
    """Kahn's order over source -> consumer edges, lowest file index first; a cycle is refused
    with its layers named."""
    consumers: dict[int, list[int]] = {i: [] for i in range(count)}
    pending = [0] * count
    for node, refs in edges.items():
        pending[node] = len(refs)
        for ref in refs:
            consumers[ref].append(node)
    ready = [i for i in range(count) if pending[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for nxt in consumers[node]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                heapq.heappush(ready, nxt)
    if len(order) < count:
        cycle = _cycle(edges, sorted(set(range(count)) - set(order)))
        raise LoihiSnnError(
            f"{origin}: a cycle without delay through layers {' -> '.join(map(str, cycle))} "
            f"(layer {cycle[0]} reads layer {cycle[1]}, ...); every projection is zero-latency "
            f"and recurrent connections are not part of format {GRAPH_FORMAT}"
        )
    return order


def _cycle(edges: dict[int, list[int]], stuck: list[int]) -> list[int]:
    """One cycle among the layers Kahn's order could not place, as consumer -> source steps
    (every stuck layer reads at least one stuck layer, so walking sources must repeat)."""
    blocked = set(stuck)
    path, node = [], stuck[0]
    while node not in path:
        path.append(node)
        node = next(ref for ref in edges[node] if ref in blocked)
    return [*path[path.index(node) :], node]


def _check_concat(graph: Graph, i: int, origin: str) -> None:
    layer = graph.layers[i]
    shapes = [graph.layers[s].shape for s in layer.sources]
    if any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
        raise LoihiSnnError(
            f"{origin}: layer {i} (concat) joins mismatched shapes {shapes}: channels may differ, "
            f"the rest must agree"
        )
    shape = (sum(s[0] for s in shapes), *shapes[0][1:])
    if tuple(layer.shape) != shape:
        raise LoihiSnnError(
            f"{origin}: layer {i} (concat) has shape {layer.shape}, its sources {shape}"
        )


def _check_population(graph: Graph, i: int, origin: str) -> None:
    """Inputs, bias and neurons of a population or a custom layer."""
    layer = graph.layers[i]
    where = f"{origin}: layer {i} ({layer.kind})"
    for k, p in enumerate(layer.inputs):
        if p.kind not in PROJECTION_TYPES:
            raise LoihiSnnError(f"{where}, input {k}: unknown projection type '{p.kind}'")
        try:
            out = p.out_shape(graph.layers[p.source].shape)
            graph.resolved(p)
        except ValueError as err:
            raise LoihiSnnError(f"{where}, input {k} from layer {p.source}: {err}") from None
        fits = math.prod(out) == layer.neurons if p.kind == "dense" else out == layer.shape
        if not fits:
            raise LoihiSnnError(
                f"{where}: mismatched shapes at the merge: input {k} from layer {p.source} "
                f"delivers {out}, the population has shape {layer.shape}"
            )
        w = p.weight
        if not np.all(np.isfinite(w)) or not np.array_equal(w, np.round(w)):
            raise LoihiSnnError(f"{where}, input {k}: non-integer weights: re-export")
        if w.size and (w.min() < WEIGHT_RANGE[0] or w.max() > WEIGHT_RANGE[1]):
            raise LoihiSnnError(
                f"{where}, input {k}: weights span [{w.min():g}, {w.max():g}], outside Loihi's "
                f"8-bit range {list(WEIGHT_RANGE)}: quantise before exporting"
            )
    if layer.custom:
        layer_type(layer.kind).check(layer, where)
    else:
        n = layer.neuron
        if not (0 <= n.i_decay <= 4096 and 0 <= n.v_decay <= 4096 and 0 <= n.vth <= MAX_VTH):
            raise LoihiSnnError(f"{where}: neuron parameters {n} outside Loihi's 12/17-bit ranges")
    if layer.bias is not None and (
        layer.bias.size != layer.neurons
        or layer.bias.min() < BIAS_RANGE[0]
        or layer.bias.max() > BIAS_RANGE[1]
    ):
        raise LoihiSnnError(
            f"{where}: bias must hold {layer.neurons} integers in {list(BIAS_RANGE)}"
        )


# -- HDF5 ---------------------------------------------------------------------------------------


def _put_str(group: h5py.Group, key: str, value: str) -> None:
    group.create_dataset(key, (1,), "S12", [value.encode()])


def _get_str(group: h5py.Group, key: str) -> str:
    raw = group[key][()]
    return (raw[0] if np.ndim(raw) else raw).decode()


def write_graph(graph: Graph, path: str | Path, meta: dict) -> Path:
    """Write ``graph`` as a format-2 file (atomic); ``meta`` goes to the root attribute
    ``loihi_snn`` as JSON, as in format 1."""
    validate(graph, str(path))
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


def read_graph(path: str | Path) -> Graph:
    """Read and validate a format-2 file; every problem is a LoihiSnnError naming the layer."""
    path = Path(path)
    with open_hdf5(path) as f:
        version = int(f.attrs.get("loihi_snn_format", 1))
        if version != GRAPH_FORMAT:
            raise LoihiSnnError(
                f"{path} has loihi_snn format {version}; this reader knows format {GRAPH_FORMAT}"
            )
        try:
            group = f["layer"]
            layers = []
            for i in range(len(group)):
                if str(i) not in group:
                    raise LoihiSnnError(
                        f"{path}: /layer/{i} is missing (layers are numbered 0..n-1)"
                    )
                layers.append(_read_layer(group[str(i)]))
            steps = int(np.asarray(f["simulation/tSample"][()]).reshape(-1)[0])
            meta = json.loads(f.attrs["loihi_snn"]) if "loihi_snn" in f.attrs else None
        except (KeyError, ValueError, TypeError, OSError) as err:
            raise LoihiSnnError(
                f"{path} is not a valid graph network ({type(err).__name__}: {err}): re-export it"
            ) from None
    return validate(Graph(layers, steps, path, meta), str(path))


def file_format(path: str | Path) -> int:
    """The loihi_snn format version of a network file (1 for sequential NetX files, and for files
    from elsewhere); 0 when the file cannot be opened (the readers then say why)."""
    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs.get("loihi_snn_format", 1))
    except OSError:
        return 0
