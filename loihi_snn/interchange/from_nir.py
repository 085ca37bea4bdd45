"""A NIR graph on Loihi (``loihi-snn nir import``): read, check, bring every neuron to the
discrete form of :mod:`.quantise` with a step ``dt``, quantise, write a graph file (format 2).

Reading. Every neuron node (``LIF``, ``CubaLIF``, ``IF``; ``LI``, ``CubaLI`` as never-spiking
readouts) becomes a population; every path of synapse nodes into it from the input or another
neuron becomes one projection: ``Flatten`` and uniform ``Scale`` nodes along the path, and at most
one ``Linear``, ``Affine``, ``Conv2d``, ``SumPool2d`` or ``AvgPool2d``. Several edges into a node
add (NIR's semantics and Loihi's): a residual graph becomes a merge of projections, written as
format 2. NIR edges, like the IR's projections, are zero-latency, so no alignment is done here:
the Lava loader adds it.

Euler at ``dt`` (snnTorch's and Norse's reading of NIR's equations):
LIF: dv = dt/tau, gain r dt/tau; CubaLIF: du = dt/tau_syn, dv = dt/tau_mem, gain
(w_in dt/tau_syn)(r dt/tau_mem); IF: dv = 0, gain r dt. ``v_leak`` is a constant voltage input
(dt/tau_mem) v_leak per step. The gain multiplies the weights (per neuron: dense rows; uniform:
any projection); per-neuron thresholds are normalised the same way. An Affine or Conv2d bias is a
constant *current*: for a LIF it is a voltage bias, for a CubaLIF it passes through the synaptic
filter, which Loihi's bias (a voltage input) cannot do unless tau_syn = dt: refused otherwise.
Refused as well, with one line naming the node: unknown or unsupported node types, ``Delay``
nodes, cycles (recurrence; format 2 has none), mismatched shapes, v_reset other than 0 (Loihi
resets to 0), decays outside [0, 1] (tau < dt), thresholds that do not fit 17 bits beside 8-bit
weights, per-neuron decays.

dt: NIR does not store it. ``dt`` given wins; then the file's own (written by this toolkit); then
Norse's (r = 1 everywhere, dt = 1e-3); then snnTorch's convention r = tau_mem/dt (every neuron
gives the same tau_mem/r, which is dt). The import says which it used.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nir
import numpy as np

from .. import __version__
from ..errors import LoihiSnnError
from ..ir.checks import check_geometry
from ..ir.graph import GRAPH_FORMAT, Graph, Layer, Projection
from ..ir.hdf5 import write_graph
from ..ir.validation import validate
from .quantise import FloatPopulation, QuantError, format_errors, quantise
from .to_nir import rebase_checkpoint

NORSE_DT = 1e-3
NEURONS = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI)
SYNAPSES = (nir.Linear, nir.Affine, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
SHAPERS = (nir.Flatten, nir.Scale)
NIR_TYPES = (
    "Input", "Output", "Linear", "Affine", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d",
    "Flatten", "Delay", "LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold", "NIRGraph",
)


@dataclass
class Imported:
    """A NIR graph on Loihi: the IR, the float populations it quantised (same order as the
    IR's populations), the per-layer errors, the dt used and how it was found."""

    graph: Graph
    floats: list[FloatPopulation]
    errors: list[QuantError]
    dt: float
    dt_source: str
    notes: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"dt = {self.dt:g} s: {self.dt_source}", format_errors(self.errors)]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def read_nir(path: str | Path) -> nir.NIRGraph:
    """Read a NIR file; a node type NIR does not know is named before NIR's reader fails."""
    path = Path(path)
    if not path.is_file():
        raise LoihiSnnError(f"NIR file {path} not found")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise LoihiSnnError(f"{path} has no /node group: it is not a NIR file")
            _known_types(f["node"], path)
    except OSError:
        raise LoihiSnnError(f"{path} is not a readable HDF5 file (truncated or corrupt?)") from None
    try:
        return nir.read(path, type_check=False)
    except (ValueError, AssertionError, KeyError, TypeError) as err:
        raise LoihiSnnError(f"{path}: NIR cannot read it ({type(err).__name__}: {err})") from None


def _known_types(group: h5py.Group, path: Path, prefix: str = "") -> None:
    for name, node in group["nodes"].items():
        kind = node["type"][()]
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind == "NIRGraph":
            _known_types(node, path, f"{prefix}{name}.")
        elif kind not in NIR_TYPES:
            raise LoihiSnnError(
                f"{path}: node {prefix}{name}: unknown NIR node type '{kind}' (NIR 1.0 knows "
                f"{', '.join(NIR_TYPES)})"
            )


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _order(nodes: dict, edges: list[tuple[str, str]]) -> list[str]:
    """Kahn's topological order, natural name order among the ready; a cycle is refused with its
    nodes named."""
    consumers = {n: [] for n in nodes}
    pending = dict.fromkeys(nodes, 0)
    for a, b in edges:
        consumers[a].append(b)
        pending[b] += 1
    ready = [(_natural(n), n) for n in nodes if pending[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for c in consumers[n]:
            pending[c] -= 1
            if pending[c] == 0:
                heapq.heappush(ready, (_natural(c), c))
    if len(order) < len(nodes):
        # every node left has a predecessor left: walking predecessors must repeat
        stuck = {n for n in nodes if n not in order}
        path, n = [], min(stuck, key=_natural)
        while n not in path:
            path.append(n)
            n = min((a for a, b in edges if b == n and a in stuck), key=_natural)
        cycle = [*path[path.index(n):], n][::-1]
        delayed = any(isinstance(nodes[c], nir.Delay) for c in cycle)
        what = "a recurrent cycle (through a Delay)" if delayed else "a cycle without delay"
        raise LoihiSnnError(
            f"{what} through nodes {' -> '.join(cycle)}: recurrent connections are not part of "
            f"format {GRAPH_FORMAT} (every projection is feed-forward)"
        )
    return order


def _supported(name: str, node: nir.NIRNode) -> None:
    if isinstance(node, (*NEURONS, *SYNAPSES, *SHAPERS, nir.Input, nir.Output)):
        return
    kind = type(node).__name__
    why = {
        "Delay": "the toolkit aligns Lava's per-hop delays itself and has no explicit delay line "
        "between populations",
        "NIRGraph": "a subgraph (snnTorch writes recurrent layers so); recurrent connections are "
        f"not part of format {GRAPH_FORMAT}",
        "Threshold": "a bare threshold has no Loihi neuron: use LIF",
        "I": "a bare integrator has no spikes or reset: use IF",
        "Conv1d": "Loihi's convolutions here are 2-D",
    }.get(kind, "no Loihi mapping")
    raise LoihiSnnError(f"node {name}: {kind} is not supported: {why}")


# -- dt ----------------------------------------------------------------------------------------


def _tau_r(node: nir.NIRNode) -> tuple[np.ndarray, np.ndarray] | None:
    if isinstance(node, (nir.LIF, nir.LI)):
        return np.asarray(node.tau, float), np.asarray(node.r, float)
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        return np.asarray(node.tau_mem, float), np.asarray(node.r, float)
    return None


def detect_dt(g: nir.NIRGraph, dt: float | None) -> tuple[float, str]:
    """The step to read the graph with, and where it came from (module doc)."""
    if dt is not None:
        if not dt > 0:
            raise LoihiSnnError(f"dt must be positive, got {dt}")
        return float(dt), "given"
    if "dt" in (g.metadata or {}):
        return float(g.metadata["dt"]), "the file's own (written by loihi_snn)"
    pairs = [p for p in map(_tau_r, g.nodes.values()) if p is not None]
    ratios = np.concatenate([(t / r)[np.isfinite(t / r)].reshape(-1) for t, r in pairs] or [[]])
    if pairs and all(np.all(r == 1) for _, r in pairs):  # before snnTorch's: tau/r = tau
        return NORSE_DT, "Norse's convention (r = 1 everywhere, dt = 1e-3)"
    if ratios.size and np.allclose(ratios, ratios[0], rtol=1e-6) and ratios[0] > 0:
        return float(ratios[0]), "snnTorch's convention r = tau_mem/dt (every neuron agrees)"
    raise LoihiSnnError(
        "NIR stores no dt and this graph follows no known convention (neither r = tau/dt in "
        "every neuron nor r = 1): pass --dt"
    )


# -- neurons: each to the discrete form (du, dv, gain, v_bias, threshold) -------------------------


@dataclass
class _Form:
    du: np.ndarray
    dv: np.ndarray
    gain: np.ndarray
    v_bias: np.ndarray
    threshold: np.ndarray | None


def _arr(x) -> np.ndarray:
    return np.asarray(x, np.float64)


def _hard_reset(name: str, node: nir.NIRNode) -> None:
    reset = _arr(node.v_reset)
    if np.any(reset != 0):
        raise LoihiSnnError(
            f"node {name}: v_reset = {reset.reshape(-1)[0]:g}: Loihi resets v to 0 (and a "
            f"reset by subtraction, snnTorch's default, is not expressible in NIR either)"
        )


def _lif(name: str, n: nir.LIF, dt: float) -> _Form:
    _hard_reset(name, n)
    d = dt / _arr(n.tau)
    return _Form(_arr(1.0), d, _arr(n.r) * d, d * _arr(n.v_leak), _arr(n.v_threshold))


def _cuba_lif(name: str, n: nir.CubaLIF, dt: float) -> _Form:
    _hard_reset(name, n)
    du, dv = dt / _arr(n.tau_syn), dt / _arr(n.tau_mem)
    gain = _arr(n.w_in) * du * _arr(n.r) * dv
    return _Form(du, dv, gain, dv * _arr(n.v_leak), _arr(n.v_threshold))


def _if(name: str, n: nir.IF, dt: float) -> _Form:
    _hard_reset(name, n)
    return _Form(_arr(1.0), _arr(0.0), _arr(n.r) * dt, _arr(0.0), _arr(n.v_threshold))


def _li(name: str, n: nir.LI, dt: float) -> _Form:
    d = dt / _arr(n.tau)
    return _Form(_arr(1.0), d, _arr(n.r) * d, d * _arr(n.v_leak), None)


def _cuba_li(name: str, n: nir.CubaLI, dt: float) -> _Form:
    du, dv = dt / _arr(n.tau_syn), dt / _arr(n.tau_mem)
    return _Form(du, dv, _arr(n.w_in) * du * _arr(n.r) * dv, dv * _arr(n.v_leak), None)


NEURON_READERS = {nir.LIF: _lif, nir.CubaLIF: _cuba_lif, nir.IF: _if, nir.LI: _li,
                  nir.CubaLI: _cuba_li}


def _uniform(values: np.ndarray, what: str, name: str) -> float:
    flat = values.reshape(-1)
    if not np.allclose(flat, flat[0], rtol=1e-9, atol=0, equal_nan=True):
        raise LoihiSnnError(
            f"node {name}: {what} differs between neurons ({flat.min():g} .. {flat.max():g}): "
            f"Loihi's decays are one per population"
        )
    return float(flat[0])


# -- synapse paths: each to one projection -----------------------------------------------------


def _pair(value, name: str, what: str) -> tuple[int, int]:
    if isinstance(value, str):
        raise LoihiSnnError(f"node {name}: {what} '{value}': give it in integers")
    flat = np.asarray(value).reshape(-1)
    return (int(flat[0]), int(flat[-1]))


def _mismatch(name: str, detail: str) -> LoihiSnnError:
    return LoihiSnnError(f"node {name}: shape mismatch: {detail}")


def _linear(name: str, n, shape: tuple) -> tuple[Projection, tuple, np.ndarray | None]:
    w = _arr(n.weight)
    if w.ndim != 2:
        raise _mismatch(name, f"a {w.ndim}-D weight {w.shape}; Linear/Affine weights are (out, in)")
    if len(shape) != 1 or w.shape[1] != shape[0]:
        raise _mismatch(name, f"weight {w.shape} takes {w.shape[1]} inputs, its source gives "
                              f"{shape} (flatten first)")
    bias = _arr(n.bias) if isinstance(n, nir.Affine) else None
    return Projection(0, "dense", w), (w.shape[0],), bias


def _conv2d(name: str, n: nir.Conv2d, shape: tuple) -> tuple[Projection, tuple, np.ndarray | None]:
    w = _arr(n.weight)
    if w.ndim != 4 or len(shape) != 3:
        raise _mismatch(name, f"Conv2d weight {w.shape} on a source of shape {shape}")
    given = None if n.input_shape is None else tuple(int(s) for s in np.reshape(n.input_shape, -1))
    if given is not None and given != tuple(shape[1:]):
        raise _mismatch(name, f"input_shape {given}, its source gives {shape[1:]} (H, W)")
    p = Projection(0, "conv", w, _pair(n.stride, name, "stride"),
                   _pair(n.padding, name, "padding"), _pair(n.dilation, name, "dilation"),
                   int(n.groups))
    check_geometry(p, f"node {name}")
    try:
        out = p.out_shape(tuple(shape))
    except ValueError as err:
        raise _mismatch(name, str(err)) from None
    bias = _arr(n.bias).reshape(-1)
    return p, out, np.repeat(bias, math.prod(out[1:])) if bias.size == w.shape[0] else None


def _pool(name: str, n, shape: tuple) -> tuple[Projection, tuple, None]:
    if len(shape) != 3:
        raise _mismatch(name, f"2-D pooling of a source of shape {shape}")
    if any(_pair(n.padding, name, "padding")):
        raise LoihiSnnError(f"node {name}: padded pooling is not supported (Loihi's sum pooling "
                            f"here has no padding)")
    kernel = _pair(n.kernel_size, name, "kernel_size")
    weight = 1.0 / math.prod(kernel) if isinstance(n, nir.AvgPool2d) else 1.0
    p = Projection(0, "pool", np.array([weight]), _pair(n.stride, name, "stride"), kernel=kernel)
    check_geometry(p, f"node {name}")
    try:
        return p, p.out_shape(tuple(shape)), None
    except ValueError as err:
        raise _mismatch(name, str(err)) from None


SYNAPSE_READERS = {nir.Linear: _linear, nir.Affine: _linear, nir.Conv2d: _conv2d,
                   nir.SumPool2d: _pool, nir.AvgPool2d: _pool}


def _path(nodes: dict, ops: list[str], source: int, shape: tuple, target: str):
    """One path of synapse nodes as a projection from layer ``source``: (projection, delivered
    shape, bias per delivered neuron or None)."""
    projection, bias, weighted = None, None, None
    factor, after = 1.0, 1.0  # uniform Scale factors: all of them, and those after the weights
    for op in ops:
        node = nodes[op]
        if isinstance(node, nir.Flatten):
            shape = (math.prod(shape),)
        elif isinstance(node, nir.Scale):
            s = _arr(node.scale)
            if s.size != 1 and s.size != math.prod(shape):
                raise _mismatch(op, f"scale of shape {s.shape} on a signal of shape {shape}")
            value = _uniform(s, "the scale", op)
            factor *= value
            after *= value
        else:
            if weighted is not None:
                raise LoihiSnnError(
                    f"node {op}: two synapse nodes in a row ({weighted}, then {op}) on the way to "
                    f"{target}: Loihi has one synapse matrix per hop; put a neuron between them"
                )
            weighted, after = op, 1.0
            projection, shape, bias = SYNAPSE_READERS[type(node)](op, node, shape)
    if projection is None:
        projection = Projection(0, "identity", np.array([1.0]))
    projection.source = source
    projection.weight = projection.weight * factor
    return projection, tuple(shape), None if bias is None else bias * after


def _per_neuron(values: np.ndarray, size: int) -> np.ndarray:
    """A parameter (one value, or one per neuron in any shape) as (size,)."""
    flat = values.reshape(-1)
    return flat.copy() if flat.size == size else np.full(size, flat[0])


def _population(nodes: dict, name: str, chains: list, index: dict, shapes: dict,
                dt: float) -> FloatPopulation:
    node = nodes[name]
    form = NEURON_READERS[type(node)](name, node, dt)
    parts = []
    for src, ops in chains:
        if src not in index:
            raise LoihiSnnError(f"node {name}: reads {src}, which is neither the input nor a "
                                f"neuron before it")
        parts.append(_path(nodes, ops, index[src], shapes[index[src]], name))
    shape = parts[0][1]
    for (_, out, _), (src, ops) in zip(parts, chains, strict=True):
        if math.prod(out) != math.prod(shape) or (len(out) == len(shape) and out != shape):
            via = ops[-1] if ops else src
            raise _mismatch(name, f"its input via {via} is {out}, another is {shape}")
    size = math.prod(shape)
    params = {"the current decay": form.du, "the voltage decay": form.dv, "the gain": form.gain,
              "v_leak": form.v_bias}
    if form.threshold is not None:
        params["the threshold"] = form.threshold
    for what, value in params.items():
        if value.size not in (1, size):
            raise _mismatch(name, f"{what} has {value.size} values, its input {shape}")
        if not np.all(np.isfinite(value)) and "decay" not in what:
            raise LoihiSnnError(f"node {name}: {what} is not finite")
    du = _uniform(form.du, "tau_syn", name)
    dv = _uniform(form.dv, "tau_mem", name)
    gain = _per_neuron(form.gain, size)
    theta = None if form.threshold is None else _per_neuron(form.threshold, size)
    norm = np.ones(size) if theta is None else theta[0] / theta  # per-neuron thresholds
    k = gain * norm
    bias = _per_neuron(form.v_bias, size) * norm
    for _, _, syn_bias in parts:
        if syn_bias is None or not np.any(syn_bias):
            continue
        if du != 1.0:
            raise LoihiSnnError(
                f"node {name}: a bias into a CubaLIF passes through its synaptic filter "
                f"(tau_syn = {dt / du:g} s > dt), and Loihi's bias is a voltage input: only a "
                f"LIF (or tau_syn = dt) takes a synapse bias; fold it into v_leak"
            )
        bias = bias + syn_bias * k
    uniform = np.allclose(k, k[0], rtol=1e-9, atol=0)
    projections = []
    for p, _, _ in parts:
        if uniform:
            p.weight = p.weight * k[0]
        elif p.kind == "dense":
            p.weight = p.weight * k[:, None]
        else:
            raise LoihiSnnError(
                f"node {name}: gain or threshold differs between neurons and a {p.kind} "
                f"projection feeds it: only dense weights can carry per-neuron factors"
            )
        projections.append(p)
    # a non-positive threshold anywhere goes to quantise, which refuses it
    threshold = None if theta is None else float(theta[0] if np.all(theta > 0) else theta.min())
    return FloatPopulation(name, shape, projections, bias, du, dv, threshold)


def from_nir(g: nir.NIRGraph, dt: float | None = None, steps: int | None = None) -> Imported:
    """The NIR graph ``g`` on Loihi's fixed point (module doc)."""
    nodes = dict(g.nodes)
    edges = sorted({(str(a), str(b)) for a, b in g.edges})
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise LoihiSnnError(f"edge ({a}, {b}) names node {end}, which does not exist")
    order = _order(nodes, edges)
    for name in order:
        _supported(name, nodes[name])
    inputs = [n for n in order if isinstance(nodes[n], nir.Input)]
    outputs = [n for n in order if isinstance(nodes[n], nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise LoihiSnnError(
            f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes: one of each "
            f"is needed (one input tensor, one class readout)"
        )
    dt, how = detect_dt(g, dt)
    preds = {n: [a for a, b in edges if b == n] for n in nodes}
    succs = {n: [b for a, b in edges if a == n] for n in nodes}
    neurons = [n for n in order if isinstance(nodes[n], NEURONS)]
    readout = preds[outputs[0]]
    if len(readout) != 1 or not isinstance(nodes[readout[0]], NEURONS):
        raise LoihiSnnError(
            f"node {outputs[0]}: the output must read one neuron node (the classes), it reads "
            f"{', '.join(readout) or 'nothing'}"
        )
    if succs[readout[0]] != outputs:
        raise LoihiSnnError(f"node {readout[0]}: the output neurons feed other nodes too")
    neurons.remove(readout[0])
    neurons.append(readout[0])

    def chains(name: str) -> list[tuple[str, list[str]]]:
        found = []
        for pred in preds[name]:
            if isinstance(nodes[pred], (nir.Input, *NEURONS)):
                found.append((pred, []))
                continue
            if not preds[pred]:
                raise LoihiSnnError(f"node {pred} has no input")
            found += [(src, [*ops, pred]) for src, ops in chains(pred)]
        return found

    shape_in = tuple(int(s) for s in np.reshape(nodes[inputs[0]].input_type["input"], -1))
    index, shapes = {inputs[0]: 0}, {0: shape_in}
    floats, layers, errors = [], [Layer("input", shape_in)], []
    for name in neurons:
        found = chains(name)
        if not found:
            raise LoihiSnnError(f"node {name} has no input")
        pop = _population(nodes, name, found, index, shapes, dt)
        layer, error = quantise(pop)
        index[name] = len(layers)
        shapes[index[name]] = pop.shape
        layers.append(layer)
        floats.append(pop)
        errors.append(error)
    meta = json.loads(g.metadata["loihi_snn"]) if "loihi_snn" in (g.metadata or {}) else None
    if steps is None and "time_steps" in (g.metadata or {}):
        steps = int(g.metadata["time_steps"])
    graph = validate(Graph(layers, steps, meta=meta), "the imported NIR graph")
    return Imported(graph, floats, errors, dt, how)


def import_nir(
    source: str | Path | nir.NIRGraph,
    out: str | Path,
    dt: float | None = None,
    steps: int | None = None,
) -> Imported:
    """Read a NIR file (or graph), quantise it and write it as a graph file ``out`` (format 2,
    atomic); the result holds the per-layer quantisation error."""
    g = source if isinstance(source, nir.NIRGraph) else read_nir(source)
    imported = from_nir(g, dt, steps)
    graph = imported.graph
    if graph.time_steps is None:
        raise LoihiSnnError("NIR stores no time steps per sample: pass --steps")
    out = Path(out)
    origin = "a NIR graph" if isinstance(source, nir.NIRGraph) else Path(source).name
    meta = dict(graph.meta or {})
    if "checkpoint" in meta and not isinstance(source, nir.NIRGraph):
        meta = rebase_checkpoint(meta, Path(source), out)
    meta |= {
        "format_version": GRAPH_FORMAT,
        "time_steps": graph.time_steps,
        "nir": {"source": origin, "dt": imported.dt, "importer": f"loihi_snn {__version__}"},
    }
    graph.meta = meta
    write_graph(graph, out, meta)
    return imported
