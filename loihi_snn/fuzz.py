"""``python -m loihi_snn.fuzz``: damaged network files against the readers and both backends.

Seeds: lava-dl's reference networks (from its wheel's test assets), the toolkit's exports
``runs/*/model.net`` when present, and small files written here (NetX files with convs, a
flatten, a 1-D dense weight, input neurons and no tSample; graph files with a residual merge, a
concat, pooling and each custom layer type), so that it runs on a fresh clone. A mutant is a seed
with one or two mutations: truncation, byte flips, deleted datasets, groups or attributes, wrong
dtypes and shapes, out-of-range and NaN values, swapped or deleted layers, graph cycles, huge
sizes and time steps, damaged metadata. Each mutant is read in-process
(:func:`loihi_snn.ir.hdf5.read_network`) and, when accepted, run by the fast backend on 2 samples
within a time limit. Outcomes: refused (one LoihiSnnError, by the reader or the fast backend),
ran, traceback (any other exception) or hang (over the time limit: SIGALRM interrupts Python
code; a compiled kernel is timed when it returns).

A seeded choice of K accepted mutants also runs ``loihi-snn sim --backend lava -n 1`` in its own
process group, with the fast backend's prediction as the label: outcomes agreed (accuracy 1),
ran (the fast backend refused the file), refused (one error line, both backends refused),
mismatch (the fast backend ran it, Lava refused or predicted otherwise), traceback or hang; then
no process of its group may be left. The exit code is 1 on any traceback, hang, mismatch or
process left.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .errors import LoihiSnnError
from .evaluation import run_backend
from .ir.graph import Graph, Layer, Neuron, Projection
from .ir.hdf5 import read_network, write_graph
from .ir.validation import validate
from .mechanisms.registry import LAYER_TYPES

NETX_ASSETS = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"
REFERENCE_NETS = ("mnist.net", "tiny.net", "gts/pilotnet_lif/network.net",
                  "gts/pilotnet_sdnn/network.net", "gts/ntidigits/ntidigits.net")
DEFAULT_STEPS = 16  # time steps of a run of a file without tSample
SAMPLES = 2  # per in-process run
SHOWN = 5  # tracebacks and hangs printed in full
OUTCOMES = ("refused by the reader", "refused by the fast backend", "ran", "traceback", "hang")
LAVA_OUTCOMES = ("agreed", "ran", "refused", "mismatch", "traceback", "hang")
FAILURES = {"traceback", "hang", "mismatch"}


class _Hang(BaseException):
    """Raised by SIGALRM when a mutant overruns its time limit (a BaseException, so that no
    ``except Exception`` on the way swallows it)."""


@dataclass
class Report:
    """What a fuzz run found: outcome counts in-process and in Lava, per mutation kind, the
    failures (description and traceback) and the processes a Lava run left."""

    counts: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    lava: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    leftovers: int = 0

    @property
    def ok(self) -> bool:
        bad = sum(self.counts[o] + self.lava[o] for o in FAILURES)
        return bad == 0 and self.leftovers == 0


# -- seeds --------------------------------------------------------------------------------------


def seed_files(folder: Path, runs: Path | None) -> list[Path]:
    """lava-dl's reference nets (those installed), the exports under ``runs`` and the small
    files written into ``folder``."""
    seeds = [NETX_ASSETS / name for name in REFERENCE_NETS if (NETX_ASSETS / name).is_file()]
    if runs is not None:
        seeds += sorted(runs.glob("*/model.net"))
    return seeds + write_seeds(folder)


def _netx_file(path: Path, steps: int | None, layers: list[dict]) -> Path:
    """A NetX file of layers given as {dataset or neuron/<key>: value} dicts."""
    with h5py.File(path, "w") as f:
        if steps is not None:
            f.create_dataset("simulation/Ts", data=1)
            f.create_dataset("simulation/tSample", data=steps)
        for i, entries in enumerate(layers):
            g = f.create_group(f"layer/{i}")
            for key, value in entries.items():
                if key == "type":
                    g.create_dataset(key, (1,), "S10", [value.encode()])
                else:
                    g.create_dataset(key, data=value)
    return path


def _neuron(i_decay: int, v_decay: int, vth: int) -> dict:
    return {"neuron/type": b"CUBA", "neuron/iDecay": i_decay, "neuron/vDecay": v_decay,
            "neuron/vThMant": vth, "neuron/refDelay": 1, "neuron/gradedSpike": False}


def _resonator(sin_decay: int, cos_decay: int, vth: int) -> dict:
    return {"neuron/type": b"RF_PHASE", "neuron/sinDecay": sin_decay,
            "neuron/cosDecay": cos_decay, "neuron/vThMant": vth}


def write_seeds(folder: Path) -> list[Path]:
    """The fuzzer's own seed files in ``folder``: four NetX files (LIF convs, input neurons,
    resonate-and-fire with complex weights, recurrent dense) and the graph files."""
    rng = np.random.default_rng(0)

    def w(*shape: int, hi: int = 60) -> np.ndarray:
        return rng.integers(-hi, hi + 1, shape).astype(np.float32)

    geometry = {"stride": np.array([1, 1]), "padding": np.array([1, 1]),
                "dilation": np.array([1, 1]), "groups": 1}
    seeds = [
        _netx_file(folder / "netx_conv.net", 8, [
            {"type": "input", "shape": np.array([2, 6, 6])},
            {"type": "conv", "shape": np.array([4, 6, 6]), "weight": w(4, 2, 3, 3, 1),
             "bias": np.array([5.0, -7.0, 0.0, 11.0]), **geometry, **_neuron(1024, 256, 60)},
            {"type": "conv", "shape": np.array([4, 3, 3]), "weight": w(4, 2, 3, 3, 1),
             **geometry, "stride": np.array([2, 2]), "groups": 2, **_neuron(4096, 512, 40)},
            {"type": "flatten", "shape": np.array([36, 1, 1])},
            {"type": "dense", "shape": np.array([10]), "weight": w(10 * 36, hi=120),
             **_neuron(2048, 1024, 80)},
            {"type": "dense", "shape": np.array([3]), "weight": w(3, 10, hi=200)},
        ]),
        _netx_file(folder / "netx_input_neurons.net", None, [
            {"type": "input", "shape": np.array([12]), "weight": np.array([30.0]),
             "bias": np.array([10.0]), **_neuron(4096, 1024, 40)},
            {"type": "dense", "shape": np.array([8]), "weight": w(8, 12),
             "bias": rng.integers(-20, 20, 8).astype(np.float32), **_neuron(1000, 300, 50)},
            {"type": "dense", "shape": np.array([4]), "weight": w(4, 8, hi=120),
             **_neuron(4096, 2048, 30)},
        ]),
        _netx_file(folder / "netx_resonators.net", 12, [
            {"type": "input", "shape": np.array([8])},
            {"type": "dense", "shape": np.array([12]), "weight/real": w(12, 8),
             "weight/imag": w(12, 8), **_resonator(1500, 3600, 8)},
            {"type": "dense", "shape": np.array([6]), "weight/real": w(6, 12, hi=80),
             "weight/imag": w(6, 12, hi=80), **_resonator(3000, -2500, 10)},
        ]),
        _netx_file(folder / "netx_recurrent.net", 8, [
            {"type": "input", "shape": np.array([10])},
            {"type": "dense_rec", "shape": np.array([10]), "weight": w(10, 10),
             "weight_rec": w(10, 10), "bias": rng.integers(0, 40, 10).astype(np.float32),
             **_neuron(4096, 1024, 50)},
            {"type": "dense", "shape": np.array([4]), "weight": w(4, 10), **_neuron(4096, 512, 8)},
        ]),
    ]
    meta = {"classes": [str(c) for c in range(10)]}
    seeds.append(write_graph(_residual_graph(rng), folder / "graph.net", meta))
    for kind in LAYER_TYPES:
        seeds.append(write_graph(_custom_graph(rng, kind), folder / f"graph_{kind}.net", {}))
    return seeds


def _residual_graph(rng: np.random.Generator) -> Graph:
    """Convs, a residual merge with an identity shortcut and a direct projection from the input,
    a concat read by a dense projection, sum pooling and biases."""

    def w(*shape: int, hi: int = 40) -> np.ndarray:
        return rng.integers(-hi, hi + 1, shape).astype(np.float64)

    lif = Neuron(2048, 1024, 60)
    layers = [
        Layer("input", (2, 6, 6)),
        Layer("population", (4, 6, 6), lif, rng.integers(-50, 50, 144),
              [Projection(0, "conv", w(4, 2, 3, 3), padding=(1, 1))]),
        Layer("population", (4, 6, 6), lif, None,
              [Projection(1, "conv", w(4, 4, 3, 3, hi=80), padding=(1, 1))]),
        Layer("population", (4, 6, 6), lif, None,
              [Projection(2, "conv", w(4, 4, 3, 3, hi=80), padding=(1, 1)),
               Projection(1, "identity", np.array([60.0])),
               Projection(0, "conv", w(4, 2, 1, 1))]),
        Layer("concat", (8, 6, 6), sources=[1, 3]),
        Layer("population", (4, 3, 3), lif, None,
              [Projection(3, "pool", np.array([30.0]), kernel=(2, 2), stride=(2, 2))]),
        Layer("population", (10,), Neuron(4096, 1024, 90), rng.integers(-20, 20, 10),
              [Projection(4, "dense", w(10, 288, hi=120)),
               Projection(5, "dense", w(10, 36, hi=254))]),
    ]
    return validate(Graph(layers, 6), "the fuzzer's residual graph")


def _custom_graph(rng: np.random.Generator, kind: str) -> Graph:
    """input -> conv -> a ``kind`` layer (its type's example parameters) -> dense population.
    A type whose X packs spike inputs as bits gets each from an input channel's spikes."""
    shape, steps = (4, 5, 6), 5
    params = LAYER_TYPES[kind].example(rng, shape, steps)
    bits = LAYER_TYPES[kind].spike_inputs
    if bits:  # bit j of X: input channel j % 2 at a tap of the 3x3 kernel, weight 2^j
        weight = np.zeros((4, 2, 3, 3))
        for j in range(bits):
            weight[:, j % 2, 1 + j // 2 - (j > 1), 1 + (j > 1)] = 2.0**j
    else:
        weight = rng.integers(-20, 21, (4, 2, 3, 3)).astype(np.float64)
    dense = rng.integers(-60, 61, (8, 120)).astype(np.float64)
    bias = None if bits else rng.integers(-2, 3, 120)
    layers = [
        Layer("input", (2, 5, 6)),
        Layer(kind, shape, None, bias, [Projection(0, "conv", weight, padding=(1, 1))],
              params=params),
        Layer("population", (8,), Neuron(4096, 1024, 200), None, [Projection(1, "dense", dense)]),
    ]
    return validate(Graph(layers, steps), f"the fuzzer's {kind} graph")


# -- mutations ----------------------------------------------------------------------------------

SPECIAL = (np.nan, np.inf, -np.inf, -1, 0, 0.5, 4097, 131072, 2**31 - 1, -(2**31), 1e9, 1e300)
TYPES = ("input", "dense", "conv", "flatten", "population", "concat", "pool", "average",
         *LAYER_TYPES, "")
HUGE = (10**9, 2**31 - 1, 65537, 2**40)


class _NotApplicable(Exception):
    """The mutation has nothing to act on in this file."""


def _pick(rng: np.random.Generator, items: list) -> object:
    """One of ``items`` (_NotApplicable when there is none)."""
    if not items:
        raise _NotApplicable
    return items[int(rng.integers(len(items)))]


def _names(f: h5py.File, datasets: bool = False) -> list[str]:
    """The paths of the file's groups and datasets (its datasets only)."""
    names: list[str] = []

    def visit(name: bytes, info: h5py.h5o.ObjInfo) -> None:
        if not datasets or info.type == h5py.h5o.TYPE_DATASET:
            names.append(name.decode())

    h5py.h5o.visit(f.id, visit, info=True)  # h5py's visititems is 2x slower
    return names


def _replace(f: h5py.File, name: str, data: object) -> None:
    del f[name]
    f.create_dataset(name, data=data)


def _layer_names(f: h5py.File) -> list[str]:
    layer = f.get("layer")
    return sorted(layer, key=lambda k: (len(k), k)) if isinstance(layer, h5py.Group) else []


def _truncate(rng: np.random.Generator, path: Path) -> str:
    """The file cut at a random length."""
    data = path.read_bytes()
    size = int(rng.integers(0, len(data)))
    path.write_bytes(data[:size])
    return f"truncated to {size} of {len(data)} bytes"


def _flip(rng: np.random.Generator, path: Path) -> str:
    """1 to 8 random bytes XORed with random values."""
    data = bytearray(path.read_bytes())
    where = rng.integers(0, len(data), int(rng.integers(1, 9)))
    for i in where:
        data[i] ^= int(rng.integers(1, 256))
    path.write_bytes(bytes(data))
    return f"flipped bytes at {sorted(int(i) for i in where)}"


def _delete(rng: np.random.Generator, f: h5py.File) -> str:
    """A dataset or group, or (15% of the time) an attribute, deleted."""
    names = _names(f)
    attrs = [("/", key) for key in f.attrs] + [(n, key) for n in names for key in f[n].attrs]
    if attrs and rng.random() < 0.15:
        owner, key = attrs[int(rng.integers(len(attrs)))]
        del f[owner].attrs[key]
        return f"deleted attribute {key} of {owner}"
    name = _pick(rng, names)
    del f[name]
    return f"deleted /{name}"


def _dtype(rng: np.random.Generator, f: h5py.File) -> str:
    """A dataset rewritten with another dtype."""
    name = _pick(rng, _names(f, datasets=True))
    data = np.asarray(f[name][()])
    options = {
        "float + 0.5": lambda: data.astype(np.float64) + 0.5 if data.dtype.kind in "biuf" else 0.5,
        "bytes": lambda: np.array([b"12"] * max(1, data.size)),
        "bool": lambda: np.asarray(data, bool) if data.dtype.kind in "biuf" else True,
        "int8": lambda: np.asarray(data).astype(np.int8) if data.dtype.kind in "biuf" else 1,
        "uint64": lambda: np.abs(data).astype(np.uint64) if data.dtype.kind in "biuf" else 2,
        "float16": lambda: data.astype(np.float16) if data.dtype.kind in "biuf" else 1.5,
        "complex": lambda: data.astype(np.complex128) if data.dtype.kind in "biuf" else 1j,
        "vlen string": lambda: np.array(["dense"], dtype=h5py.string_dtype()),
        "compound": lambda: np.zeros(1, dtype=[("a", "i4"), ("b", "f4")]),
    }
    choice = _pick(rng, list(options))
    _replace(f, name, options[choice]())
    return f"/{name} as {choice}"


def _shape(rng: np.random.Generator, f: h5py.File) -> str:
    """A dataset rewritten with another shape or number of values."""
    name = _pick(rng, _names(f, datasets=True))
    data = np.asarray(f[name][()])
    flat = data.reshape(-1)
    options = {
        "flattened": lambda: flat,
        "with an axis more": lambda: data[..., None],
        "one value short": lambda: flat[:-1],
        "one value more": lambda: np.concatenate([flat, flat[:1]]),
        "a scalar": lambda: flat[0] if flat.size else 0,
        "empty": lambda: flat[:0],
        "transposed": lambda: data.T,
        "twice": lambda: np.concatenate([flat, flat]),
    }
    choice = _pick(rng, list(options))
    _replace(f, name, options[choice]())
    return f"/{name} {choice}"


def _value(rng: np.random.Generator, f: h5py.File) -> str:
    """One or every value of a dataset set to NaN, infinity or out of range (a string to
    another layer type)."""
    name = _pick(rng, _names(f, datasets=True))
    data = np.asarray(f[name][()])
    if data.dtype.kind not in "biuf":
        value = _pick(rng, list(TYPES))
        _replace(f, name, np.array([value.encode()]))
        return f"/{name} = '{value}'"
    value = SPECIAL[int(rng.integers(len(SPECIAL)))]
    data = data.astype(np.float64)
    if data.ndim and rng.random() < 0.7:
        data.reshape(-1)[int(rng.integers(data.size))] = value
        what = "one value of"
    else:
        data = np.full_like(data, value)
        what = "every value of"
    _replace(f, name, data)
    return f"{what} /{name} = {value:g}"


def _swap(rng: np.random.Generator, f: h5py.File) -> str:
    """Two layers swapped."""
    names = _layer_names(f)
    if len(names) < 2:
        raise _NotApplicable
    i, j = (names[int(k)] for k in rng.choice(len(names), 2, replace=False))
    f.move(f"layer/{i}", "layer/swap")
    f.move(f"layer/{j}", f"layer/{i}")
    f.move("layer/swap", f"layer/{j}")
    return f"layers {i} and {j} swapped"


def _drop_layer(rng: np.random.Generator, f: h5py.File) -> str:
    """A layer deleted, the rest renumbered half of the time."""
    names = _layer_names(f)
    gone = _pick(rng, names)
    del f[f"layer/{gone}"]
    if rng.random() < 0.5:
        return f"layer {gone} deleted"
    for name in names[names.index(gone) + 1 :]:
        f.move(f"layer/{name}", f"layer/{int(name) - 1}")
    return f"layer {gone} deleted, the rest renumbered"


def _cycle(rng: np.random.Generator, f: h5py.File) -> str:
    """A projection (or concat) of layer i reading layer i or a later one."""
    names = _layer_names(f)
    sources = [n for n in _names(f, datasets=True)
               if n.endswith("/source") or (n.count("/") == 2 and n.endswith("/inputs"))]
    name = _pick(rng, sources)
    own = int(name.split("/")[1])
    target = int(rng.integers(own, len(names)))
    data = np.asarray(f[name][()]).copy()
    data.reshape(-1)[0] = target
    _replace(f, name, data)
    return f"/{name} reads layer {target}"


def _huge(rng: np.random.Generator, f: h5py.File) -> str:
    """A time-step count, shape or conv geometry made huge."""
    value = HUGE[int(rng.integers(len(HUGE)))]
    keys = ("tSample", "shape", "stride", "padding", "dilation", "kernel", "groups")
    name = _pick(rng, [n for n in _names(f, datasets=True) if n.split("/")[-1] in keys])
    data = np.asarray(f[name][()]).astype(np.int64)
    data.reshape(-1)[int(rng.integers(max(1, data.size)))] = value
    _replace(f, name, data)
    return f"/{name} with {value:,}"


def _metadata(rng: np.random.Generator, f: h5py.File) -> str:
    """Damaged loihi_snn metadata (JSON) or format attribute."""
    if "loihi_snn" in f.attrs and rng.random() < 0.7:
        meta = json.loads(f.attrs["loihi_snn"])
        if not isinstance(meta, dict):  # a first mutation made it a list
            raise _NotApplicable
        options = {
            "without classes": {k: v for k, v in meta.items() if k != "classes"},
            "one class short": {**meta, "classes": meta.get("classes", ["a", "b"])[:-1]},
            "a list": [1, 2],
            "checkpoint 5": {**meta, "checkpoint": 5},
            "classes 'abc'": {**meta, "classes": "abc"},
        }
        choice = _pick(rng, [*options, "invalid JSON"])
        f.attrs["loihi_snn"] = "{" if choice == "invalid JSON" else json.dumps(options[choice])
        return f"metadata {choice}"
    value = [3, "x", 2.5, 0, np.array([1, 2])][int(rng.integers(5))]
    f.attrs["loihi_snn_format"] = value
    return f"loihi_snn_format = {value!r}"


BYTE_MUTATIONS = {"truncate": _truncate, "flip": _flip}
FILE_MUTATIONS = {"delete": _delete, "dtype": _dtype, "shape": _shape, "value": _value,
                  "swap": _swap, "drop layer": _drop_layer, "cycle": _cycle, "huge": _huge,
                  "metadata": _metadata}
KINDS = (*BYTE_MUTATIONS, *FILE_MUTATIONS)


def mutate(rng: np.random.Generator, seed: Path, path: Path) -> tuple[str, str]:
    """Write a mutant of ``seed`` to ``path``: one mutation, or two one time in five. Returns
    the first mutation's kind and a description of all."""
    for _ in range(20):
        path.write_bytes(seed.read_bytes())
        done = []
        try:
            for _ in range(2 if rng.random() < 0.2 else 1):
                kind = str(KINDS[int(rng.integers(len(KINDS)))])
                if kind in BYTE_MUTATIONS:
                    done.append((kind, BYTE_MUTATIONS[kind](rng, path)))
                    break  # a damaged file may not open for a second mutation
                with h5py.File(path, "r+") as f:
                    done.append((kind, FILE_MUTATIONS[kind](rng, f)))
        except (_NotApplicable, OSError, KeyError, ValueError, TypeError, IndexError):
            continue  # nothing to act on, or h5py cannot write it: draw again
        return done[0][0], "; ".join(what for _, what in done)
    raise RuntimeError(f"no mutation applies to {seed}")


# -- running a mutant ---------------------------------------------------------------------------


def inputs_for(graph: Graph, steps: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples for a network: input-neuron biases, or binary spikes over ``steps``."""
    if graph.bias_input:
        return rng.integers(-64, 128, (n, *graph.input_shape)).astype(np.int32)
    return (rng.random((n, *graph.input_shape, steps)) < 0.3).astype(np.int32)


@contextlib.contextmanager
def _time_limit(seconds: float):
    def alarm(signum, frame):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    outcome: str
    graph: Graph | None = None
    x: np.ndarray | None = None
    steps: int = 0
    predictions: np.ndarray | None = None
    detail: str = ""


def try_mutant(path: Path, rng: np.random.Generator, limit: float) -> Outcome:
    """Read ``path`` and run the fast backend on it (as ``loihi-snn sim --backend fast`` does)
    within ``limit`` seconds."""
    began = time.time()
    result = Outcome("refused by the reader")
    try:
        with _time_limit(limit), warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            result.graph = read_network(path)
            result.outcome = "refused by the fast backend"
            result.steps = result.graph.time_steps or DEFAULT_STEPS
            result.x = inputs_for(result.graph, result.steps, SAMPLES, rng)
            run = run_backend("fast", result.graph, result.x, result.steps, record_all=False,
                              progress=False)
            result.predictions = run.predictions
            result.outcome = "ran"
    except LoihiSnnError as err:
        result.detail = str(err)
    except _Hang:
        result.outcome, result.detail = "hang", f"over {limit:g} s"
    except Exception:  # noqa: BLE001  (what the fuzzer looks for: any other exception)
        result.outcome, result.detail = "traceback", traceback.format_exc(limit=-6)
    if result.outcome != "hang" and time.time() - began > limit:
        result.outcome, result.detail = "hang", f"{time.time() - began:.0f} s (over {limit:g} s)"
    return result


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (from /proc: psutil is not a dependency)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def lava_check(path: Path, tried: Outcome, timeout: float, report: Report) -> str:
    """``loihi-snn sim --backend lava -n 1`` on a mutant, in its own process group, with the
    fast backend's prediction as its label; the outcome, and the group's processes left counted
    (then ended) in ``report``."""
    x_path, y_path = path.with_suffix(".x.npy"), path.with_suffix(".y.npy")
    np.save(x_path, tried.x[:1])
    command = [sys.executable, "-m", "loihi_snn.cli", "sim", str(path), "--backend", "lava",
               "-n", "1", "--input", str(x_path), "--steps", str(tried.steps)]
    if tried.predictions is not None:
        np.save(y_path, tried.predictions[:1])
        command += ["--labels", str(y_path)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        outcome = "hang"
    else:
        outcome = _lava_outcome(child.returncode, out, err, tried)
    for _ in range(20):  # Lava's runtime processes get a few seconds to end
        left = _group_members(child.pid)
        if not left:
            break
        time.sleep(0.5)
    else:
        report.leftovers += len(left)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    if outcome in FAILURES:
        report.failures.append((f"lava {outcome}: {path.name}", (err or out)[-2000:]))
    return outcome


def _lava_outcome(code: int, out: str, err: str, tried: Outcome) -> str:
    lines = err.strip().splitlines()
    if "Traceback" in out + err or (code and not (len(lines) == 1 and
                                                   lines[0].startswith("loihi-snn: error:"))):
        return "traceback"
    if code:
        return "mismatch" if tried.predictions is not None else "refused"
    if tried.predictions is None:
        return "ran"
    return "agreed" if "accuracy  1.0000" in out else "mismatch"


# -- the run ------------------------------------------------------------------------------------


def fuzz(
    seeds: list[Path],
    mutations: int,
    seed: int,
    folder: Path,
    lava: int = 0,
    limit: float = 60.0,
    lava_timeout: float = 600.0,
    log=None,
) -> Report:
    """``mutations`` mutants of ``seeds`` (mutant i from the random stream (seed, i)) tried in
    ``folder``; ``lava`` of the accepted ones also run in Lava. ``log``: a print-like function
    for progress."""
    report = Report()
    accepted = []
    for i in range(mutations):
        rng = np.random.default_rng([seed, i])
        source = seeds[int(rng.integers(len(seeds)))]
        path = folder / f"mutant-{i}.net"
        kind, what = mutate(rng, source, path)
        tried = try_mutant(path, rng, limit)
        report.counts[tried.outcome] += 1
        report.by_kind.setdefault(kind, Counter())[tried.outcome] += 1
        if tried.outcome in FAILURES:
            report.failures.append((f"{tried.outcome}: {source.name}, {what}", tried.detail))
        if tried.graph is not None and tried.outcome not in FAILURES:
            accepted.append(i)
        path.unlink()
        if log and (i + 1) % 100 == 0:
            log(f"  {i + 1} mutants tried")
    chosen = np.random.default_rng(seed).permutation(accepted)[:lava]
    for n, i in enumerate(sorted(int(k) for k in chosen)):
        rng = np.random.default_rng([seed, i])
        source = seeds[int(rng.integers(len(seeds)))]
        path = folder / f"mutant-{i}.net"
        mutate(rng, source, path)
        tried = try_mutant(path, rng, limit)
        outcome = lava_check(path, tried, lava_timeout, report)
        report.lava[outcome] += 1
        if log:
            log(f"  lava {n + 1}/{len(chosen)}: mutant {i} of {source.name}: {outcome}")
    return report


def format_report(report: Report, mutations: int, seeds: int, seconds: float) -> str:
    lines = [f"{mutations} mutants of {seeds} seed files in {seconds:.0f} s:"]
    lines += [f"  {o:28s} {report.counts[o]:5d}" for o in OUTCOMES]
    lines.append("per mutation: " + "; ".join(
        f"{kind} {sum(c.values())} (" + ", ".join(f"{o} {c[o]}" for o in OUTCOMES if c[o]) + ")"
        for kind, c in sorted(report.by_kind.items())))
    if sum(report.lava.values()):
        lines.append(f"lava (loihi-snn sim --backend lava -n 1) on {sum(report.lava.values())} "
                     "accepted mutants:")
        lines += [f"  {o:28s} {report.lava[o]:5d}" for o in LAVA_OUTCOMES]
        lines.append(f"  {'processes left':28s} {report.leftovers:5d}")
    for what, detail in report.failures[:SHOWN]:
        lines += [f"-- {what}", detail.rstrip()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loihi_snn.fuzz", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--mutations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lava", type=int, default=0, metavar="K",
                        help="accepted mutants also run in Lava (a subprocess each)")
    parser.add_argument("--runs", default="runs", help="folder of exports <run>/model.net")
    parser.add_argument("--limit", type=float, default=60.0,
                        help="seconds a mutant may take in-process")
    parser.add_argument("--lava-timeout", type=float, default=600.0,
                        help="seconds a Lava run may take")
    args = parser.parse_args(argv)
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="loihi-snn-fuzz-") as tmp:
        folder = Path(tmp)
        seeds = seed_files(folder, Path(args.runs))
        print(f"fuzzing {len(seeds)} seed files, seed {args.seed}", flush=True)
        report = fuzz(seeds, args.mutations, args.seed, folder, args.lava, args.limit,
                      args.lava_timeout, log=lambda s: print(s, flush=True))
    print(format_report(report, args.mutations, len(seeds), time.time() - began))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
