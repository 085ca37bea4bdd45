"""lava-dl's reference networks and golden traces through the toolkit's loader, on both backends.

lava-dl 0.6.0 ships, beside its tests, NetX files (mnist.net, tiny.net, PilotNet-LIF, PilotNet-SDNN
and its square variant, N-TIDIGITS) and golden traces (``gts/``) that its tests compare Lava runs
with. Some traces belong to single blocks its tests build in code (``gts/dense``,
``gts/complex_dense``, ``gts/tinynet_sdnn``): for those a NetX file holding the same block is
written, which netx loads into the block the trace came from. Every case runs once in Lava
through :func:`loihi_snn.backends.lava.netx_traces` (lava-dl's own ``netx.hdf5.Network``); its
global-time traces are compared with the golden ones as lava-dl's test compares them (said per
case), and its per-sample windows with the fast backend's, spike for spike and state for state.

``python -m loihi_snn.reference`` prints the table (the fast column follows what the fast backend
implements; a file it refuses is named with the reason).
"""

from __future__ import annotations

import argparse
import sysconfig
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from .errors import LoihiSnnError
from .fileio import atomic_path
from .ir.graph import Graph
from .ir.hdf5 import read_network

if TYPE_CHECKING:  # the backends import Lava
    from .backends.lava import NetxTraces
    from .backends.result import SimResult

# lava-dl's wheel installs its test assets as a top-level ``tests`` package in site-packages
ASSETS = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"
GTS = ASSETS / "gts"
NTIDIGITS_STEPS = 200  # of the 3000 steps of its golden trace (5000 output spikes)


@dataclass
class Golden:
    """One golden trace compared: what, the mismatching entries, how many were compared and how
    many of those are events (spikes or payloads, not zeros)."""

    what: str
    mismatches: int
    compared: int
    events: int


@dataclass
class Case:
    """A reference network: ``make(folder)`` returns its file (lava-dl's own, or one written into
    ``folder``) and the inputs of one run (as :func:`loihi_snn.backends.lava.run_lava` takes
    them); ``golden(traces)`` compares the run with lava-dl's golden traces (None: lava-dl's tests
    compare it with none), which ``compared`` sums up for the table."""

    name: str
    source: str
    steps: int
    make: Callable[[Path], tuple[Path, np.ndarray]]
    golden: Callable[[NetxTraces], list[Golden]] | None = None
    compared: str = ""
    record_states: bool = True


def _lava_order(x: np.ndarray) -> np.ndarray:
    """(x, y, c, ...) Lava order -> (c, y, x, ...) as the toolkit orders neurons."""
    return np.swapaxes(x, 0, 2)


def _flat(x: np.ndarray) -> np.ndarray:
    """(..., T) -> (neurons, T)."""
    return x.reshape(-1, x.shape[-1])


def _compare(what: str, ours: np.ndarray, golden: np.ndarray) -> Golden:
    golden = np.asarray(golden)
    if ours.shape != golden.shape:
        raise LoihiSnnError(f"{what}: the run gives {ours.shape}, the golden trace {golden.shape}")
    return Golden(what, int((ours != golden).sum()), golden.size, int(np.count_nonzero(golden)))


def _silent(what: str, golden: np.ndarray) -> Golden:
    """Golden entries lava-dl's test compares but its block never computed (the steps it did not
    run): zeros, which nothing of the run corresponds to."""
    return Golden(what, int(np.count_nonzero(golden)), np.asarray(golden).size, 0)


# -- writing NetX files for the blocks lava-dl's tests build in code ----------------------------


def _write_netx(path: Path, layers: list[dict]) -> Path:
    """A NetX file of ``layers`` (dataset name -> value; ``neuron`` a dict of its own; strings
    as netx reads them)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        root = f.create_group("layer")
        for i, layer in enumerate(layers):
            _write_group(root.create_group(str(i)), layer)
    return path


def _write_group(group: h5py.Group, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            _write_group(group.create_group(key), value)
        elif isinstance(value, str):
            group.create_dataset(key, (1,), "S16", [value.encode()])
        else:
            group.create_dataset(key, data=value)


def _conv_weight(lava_kernel: np.ndarray) -> np.ndarray:
    """A Lava Conv kernel (out, x, y, in) as the NetX file weight (out, in, kH, kW, 1) that netx
    turns into it (it flips and transposes)."""
    return lava_kernel[:, ::-1, ::-1, :].transpose(0, 3, 2, 1)[..., None].astype(np.float32)


# -- the cases ----------------------------------------------------------------------------------


def _mnist(folder: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    images = (rng.random((3, 784)) < 0.2) * rng.random((3, 784))  # sparse strokes in [0, 1)
    return ASSETS / "mnist.net", np.rint(76 * (images * 2 - 1) + 64).astype(np.int32)


def _tiny(folder: Path) -> tuple[Path, np.ndarray]:
    return ASSETS / "tiny.net", _lava_order(np.load(GTS / "tinynet" / "input_bias.npy"))[None]


def _tiny_golden(traces: NetxTraces) -> list[Golden]:
    """test_hdf5 test_tinynet: the output at global steps 2..16 against its trace's steps 1..15.
    test_blocks (Input, Conv): the input layer's steps 0..14 against steps 1..15 (the block ran
    15 steps); the conv layer's spikes and current u from step 1 on (the block test zeroes step 0),
    whose golden current is in units of 1/64."""
    g = GTS / "tinynet"
    out = _flat(np.load(g / "output.npy")[0])
    inp = _flat(np.load(g / "input.npy")[0])
    conv = _flat(np.load(g / "layer1.npy")[0])
    current = _flat(np.load(g / "current.npy")[0]) * 64
    return [
        _compare("input spikes", traces.outputs[0][:, 0:15], inp[:, 1:16]),
        _compare("conv spikes", traces.outputs[1][:, 1:16], conv[:, 1:16]),
        _compare("conv u", traces.states[1, "u"][:, 1:16], current[:, 1:16]),
        _compare("output spikes", traces.outputs[2][:, 2:17], out[:, 1:16]),
    ]


PILOTNET_LIF = ["input", *(f"conv-{i}" for i in range(5)), *(f"fc-{i}" for i in range(4))]


def _pilotnet_lif(folder: Path) -> tuple[Path, np.ndarray]:
    image = _lava_order(np.load(GTS / "pilotnet_lif" / "image.npy"))
    return GTS / "pilotnet_lif" / "network.net", image[None]


def _pilotnet_lif_golden(traces: NetxTraces) -> list[Golden]:
    """The traces are one continuous run from zero state, layer k recorded from global step 0.
    test_hdf5_nx (Loihi 2 only) compares u of one layer (conv-0 .. fc-2) after 15 steps. Here over
    each layer's first window (global steps k..k+15): the spikes of every layer, u of conv-0 ..
    fc-2, and v where the neuron did not spike (there the traces hold 128, where Lava's CPU model
    has reset v to 0). fc-3's float traces of 25 steps are not compared: they do not follow from
    fc-2's golden spikes (its u differs from global step 8 on), and lava-dl never compares them."""
    g = GTS / "pilotnet_lif"
    found = []
    for k, name in enumerate(PILOTNET_LIF):
        window = slice(k, k + 16)

        def golden(suffix: str, name=name, window=window) -> np.ndarray:
            trace = np.load(g / f"{name}{suffix}.npy")
            return _flat(_lava_order(trace) if trace.ndim == 4 else trace)[:, window]

        spikes = golden("" if (g / f"{name}.npy").exists() else "-s").astype(np.int64)
        found.append(_compare(f"{name} spikes", traces.outputs[k][:, window], spikes))
        if 0 < k < len(PILOTNET_LIF) - 1:
            found.append(_compare(f"{name} u", traces.states[k, "u"][:, window], golden("-u")))
            quiet = spikes == 0
            v = traces.states[k, "v"][:, window]
            found.append(_compare(f"{name} v (no spike)", v[quiet], golden("-v")[quiet]))
    return found


def _sdnn_input(name: str, steps: int, crop: slice = slice(None)) -> np.ndarray:
    """PilotNet-SDNN's input frame (x, y, c, 1), repeated for ``steps`` (lava-dl's ring buffer
    sends its one frame every step), in the toolkit's order, one sample."""
    frame = _lava_order(np.load(GTS / "pilotnet_sdnn" / name)[crop, crop])
    return np.repeat(frame[None], steps, -1)


def _pilotnet_sdnn(folder: Path) -> tuple[Path, np.ndarray]:
    return GTS / "pilotnet_sdnn" / "network.net", _sdnn_input("input.npy", 9)


def _pilotnet_sdnn_golden(traces: NetxTraces) -> list[Golden]:
    """test_hdf5 test_pilotnet_sdnn: the output layer's payloads at global steps 0..8 (one per
    layer), exactly."""
    gt = np.load(GTS / "pilotnet_sdnn" / "output.npy")
    return [_compare("output payloads", traces.outputs[max(traces.outputs)][:, :9], gt)]


def _square(folder: Path) -> tuple[Path, np.ndarray]:
    return GTS / "pilotnet_sdnn" / "square_network.net", _sdnn_input("input.npy", 20, slice(33))


def _square_golden(traces: NetxTraces) -> list[Golden]:
    """test_hdf5_nx test_pilotnet_sdnn_square (Loihi 2 only) feeds act0[:33, :33], the input
    layer's output, and compares the sigma state of layers 1-4 after 5 steps; here the input
    layer makes act0 from the frame, and sigma is compared at every step."""
    g = GTS / "pilotnet_sdnn"
    act0 = _flat(_lava_order(np.load(g / "act0.npy")[:33, :33]))
    found = [_compare("input payloads (act0)", traces.outputs[0][:, :20], act0)]
    for k in range(1, 5):
        golden = _flat(_lava_order(np.load(g / f"sigma{k}_square.npy")))
        found.append(_compare(f"layer {k} sigma", traces.states[k, "sigma"][:, :20], golden))
    return found


def _ntidigits(folder: Path) -> tuple[Path, np.ndarray]:
    """N-TIDIGITS as it ships, its last layer an ``average`` block (netx cannot load it, and
    lava-dl's test builds the first five file layers only; the toolkit reads it as the readout
    over 11 groups of 22 output neurons), on the first NTIDIGITS_STEPS of its 3000 input steps
    (Lava runs its delayed synapses at about 14 steps/s here)."""
    x = np.load(GTS / "ntidigits" / "input.npy")  # (64, 3000) spikes
    return GTS / "ntidigits" / "ntidigits.net", x[None, :, :NTIDIGITS_STEPS]


def _ntidigits_golden(traces: NetxTraces) -> list[Golden]:
    """test_hdf5 test_axonal_delay_ntidigits compares the last step of its 3000-step run with
    step 1 of the trace (both silent). Here every step: the trace's step t + 1 is Lava's global
    step t (the trace begins with a silent step 0)."""
    gt = np.load(GTS / "ntidigits" / "output.npy")[:, :NTIDIGITS_STEPS]
    ours = traces.outputs[max(traces.outputs)]
    return [
        _compare("output spikes", ours[:, : NTIDIGITS_STEPS - 1], gt[:, 1:]),
        _silent("output spikes, step 0 of the trace", gt[:, :1]),
    ]


def _dense(folder: Path) -> tuple[Path, np.ndarray]:
    """test_blocks TestLIFBlocks.test_dense: a Dense block of LIF neurons (du 4095, dv 415,
    vth 6)."""
    g = GTS / "dense"
    weight = np.load(g / "weight.npy").astype(np.float32)
    neuron = {"type": "CUBA", "iDecay": 4096, "vDecay": 415, "vThMant": 6, "refDelay": 1}
    layer = {"type": "dense", "shape": [weight.shape[0]], "weight": weight, "neuron": neuron}
    return _write_netx(folder / "dense.net", [layer]), np.load(g / "in.npy")[None]


def _dense_golden(traces: NetxTraces) -> list[Golden]:
    """test_blocks test_dense: every output spike of its 2000-step run."""
    gt = np.load(GTS / "dense" / "out.npy")
    return [_compare("output spikes", traces.outputs[0][:, : gt.shape[1]], gt)]


def _complex_dense(folder: Path) -> tuple[Path, np.ndarray]:
    """test_blocks TestRFBlocks.test_dense: a ComplexDense block of RF neurons (vth 25, period
    11, alpha 0.05); the file's decays are the ones Lava's RF derives from those (of 4096)."""
    g = GTS / "complex_dense"
    real, imag = (np.load(g / f"{w}.npy").astype(np.float32) for w in ("weight_r", "weight_img"))
    sin, cos = (int(4096 * 0.95 * f(2 * np.pi / 11)) for f in (np.sin, np.cos))
    neuron = {"type": "RF_PHASE", "sinDecay": sin, "cosDecay": cos, "vThMant": 25}
    layer = {"type": "dense", "shape": [real.shape[0]], "weight": {"real": real, "imag": imag},
             "neuron": neuron}
    return _write_netx(folder / "complex_dense.net", [layer]), np.load(g / "in.npy")[None]


def _complex_dense_golden(traces: NetxTraces) -> list[Golden]:
    """test_blocks TestRFBlocks.test_dense: every output spike of its 2000-step run."""
    gt = np.load(GTS / "complex_dense" / "out.npy")
    return [_compare("output spikes", traces.outputs[0][:, : gt.shape[1]], gt)]


def _sdnn_neuron(vth: int) -> dict:
    return {"type": "SDNN", "activation": "relu", "vThMant": vth}


def _tiny_sdnn(folder: Path) -> tuple[Path, np.ndarray]:
    """test_blocks TestSDNBlocks test_input and test_conv: a Delta input block (vth 20) and a
    SigmaDelta conv block (vth 20, stride 2), as one network; the input is the block test's:
    input_bias times a sine over 15 steps, cut to integers."""
    g = GTS / "tinynet_sdnn"
    bias = np.load(g / "input_bias.npy")
    steps = 15
    wave = np.sin(2 * np.pi * np.arange(steps) / steps)
    x = (np.repeat(bias[..., None], steps, -1) * wave).astype(int)
    kernel = np.load(g / "layer1_kernel.npy")
    layers = [
        {"type": "input", "shape": list(bias.shape[::-1]), "neuron": _sdnn_neuron(20)},
        {"type": "conv", "shape": [kernel.shape[0], 6, 6], "weight": _conv_weight(kernel),
         "bias": np.load(g / "layer1_bias.npy").astype(np.float32), "stride": [2, 2],
         "padding": [0, 0], "dilation": [1, 1], "groups": 1, "neuron": _sdnn_neuron(20)},
    ]
    return _write_netx(folder / "tinynet_sdnn.net", layers), _lava_order(x)[None]


def _tiny_sdnn_golden(traces: NetxTraces) -> list[Golden]:
    """test_input: the Delta block's payloads over its 15 steps. test_conv runs the conv block
    one step, with nothing arrived yet (its bias alone), and compares the 16 steps of its sink:
    that step is the conv layer's global step 0 here; the 15 steps it did not run are zeros."""
    g = GTS / "tinynet_sdnn"
    conv = _flat(_lava_order(np.load(g / "layer1.npy")))
    return [
        _compare("input payloads", traces.outputs[0][:, :15], _flat(_lava_order(np.load(
            g / "input.npy")))),
        _compare("conv payloads, step 0", traces.outputs[1][:, :1], conv[:, :1]),
        _silent("conv payloads, steps 1-15 (not run)", conv[:, 1:]),
    ]


def _tiny_sigma(folder: Path) -> tuple[Path, np.ndarray]:
    """test_blocks TestSDNBlocks test_dense: a Dense block of Sigma neurons fed the conv block's
    golden output; its Dense has 0 message bits, so it takes that output as unary spikes, and so
    does this run."""
    g = GTS / "tinynet_sdnn"
    weight = np.load(g / "layer2_weight.npy").astype(np.float32)
    neuron = {**_sdnn_neuron(0), "sigma_output": True}
    layers = [
        {"type": "input", "shape": [weight.shape[1]]},
        {"type": "dense", "shape": [weight.shape[0]], "weight": weight, "neuron": neuron},
    ]
    spikes = (np.load(g / "layer1.npy").reshape(-1, 16) != 0).astype(np.int8)
    return _write_netx(folder / "tinynet_sigma.net", layers), spikes[None]


def _tiny_sigma_golden(traces: NetxTraces) -> list[Golden]:
    """test_dense: the Sigma block's payloads over its 16 steps."""
    gt = np.load(GTS / "tinynet_sdnn" / "layer2.npy")
    return [_compare("output payloads", traces.outputs[0][:, :16], gt)]


CASES = [
    Case("mnist", "mnist.net", 16, _mnist),
    Case("tinynet", "tiny.net", 16, _tiny, _tiny_golden,
         "spikes of all 3 layers, conv u; as test_hdf5 tinynet, test_blocks Input, Conv"),
    Case("pilotnet_lif", "gts/pilotnet_lif/network.net", 16, _pilotnet_lif, _pilotnet_lif_golden,
         "spikes of all 10 layers, u of 8, v of 8 where no spike, each layer's first window"),
    Case("pilotnet_sdnn", "gts/pilotnet_sdnn/network.net", 9, _pilotnet_sdnn,
         _pilotnet_sdnn_golden, "output payloads of steps 0-8; as test_hdf5 pilotnet_sdnn"),
    Case("pilotnet_sdnn_square", "gts/pilotnet_sdnn/square_network.net", 20, _square,
         _square_golden, "input payloads = act0, sigma of layers 1-4 at every step; test_hdf5_nx "
         "square (Loihi 2 only) compares sigma after 5 steps"),
    Case("ntidigits", "gts/ntidigits/ntidigits.net", NTIDIGITS_STEPS, _ntidigits,
         _ntidigits_golden,
         f"output spikes of the first {NTIDIGITS_STEPS} steps; test_hdf5 ntidigits compares one"),
    Case("dense", "dense(CUBA) block written from gts/dense", 2000, _dense, _dense_golden,
         "output spikes of all 2000 steps; as test_blocks LIF Dense", record_states=False),
    Case("complex_dense", "dense(RF_PHASE) block written from gts/complex_dense", 2000,
         _complex_dense, _complex_dense_golden,
         "output spikes of all 2000 steps; as test_blocks RF Dense"),
    Case("tinynet_sdnn", "input + conv (SDNN) blocks written from gts/tinynet_sdnn", 15,
         _tiny_sdnn, _tiny_sdnn_golden,
         "input payloads of 15 steps, conv payloads of the one step run; as test_blocks SDN "
         "Input, Conv"),
    Case("tinynet_sigma", "dense (SDNN sigma) block written from gts/tinynet_sdnn", 16,
         _tiny_sigma, _tiny_sigma_golden, "output payloads of 16 steps; as test_blocks SDN Dense"),
]


# -- running and comparing ----------------------------------------------------------------------


@dataclass
class Run:
    """A case's one Lava run: the network as the toolkit read it, the inputs, the run's
    traces (:class:`loihi_snn.backends.lava.NetxTraces`) and its per-sample windows."""

    path: Path
    graph: Graph
    inputs: np.ndarray
    traces: NetxTraces
    lava: SimResult


def run_case(case: Case, folder: Path) -> Run:
    """Read the case's file with the toolkit's reader and run it once in Lava (fixed_pt)."""
    path, inputs = case.make(folder)
    return _run(case, path, read_network(path), inputs)


def _run(case: Case, path: Path, graph: Graph, inputs: np.ndarray) -> Run:
    from .backends.lava import netx_traces

    traces = netx_traces(graph, inputs, case.steps, record_states=case.record_states)
    return Run(path, graph, inputs, traces, traces.result())


def fast_mismatches(run: Run, steps: int) -> int:
    """The entries in which the fast backend's run differs from Lava's: spikes, graded payloads,
    u, v and readout. A network the fast backend does not implement is refused (LoihiSnnError)
    by its runner, which is built before any input is looked at."""
    from .backends.fast import FastRunner, run_fast

    runner = FastRunner(run.graph)
    fast = run_fast(run.graph, run.inputs, steps, record_states=run.lava.u is not None,
                    runner=runner)
    return result_mismatches(run.lava, fast)


def result_mismatches(a: SimResult, b: SimResult) -> int:
    """Entries in which two SimResults differ: every recorded trace (spikes, outputs, u, v) and
    the readout; a trace one of them lacks, or of another shape, counts whole."""
    total = _differ(a.readout, b.readout)
    for field in ("spikes", "outputs", "u", "v"):
        left, right = getattr(a, field) or [], getattr(b, field) or []
        for k in range(max(len(left), len(right))):
            x = left[k] if k < len(left) else None
            y = right[k] if k < len(right) else None
            total += _differ(x, y)
    return total


def _differ(x: np.ndarray | None, y: np.ndarray | None) -> int:
    if x is None or y is None:
        return 0 if x is None and y is None else (x if y is None else y).size
    if x.shape != y.shape:
        return max(x.size, y.size)
    return int((x != y).sum())


def describe(path: Path) -> str:
    """A file's layers as 'input(SDNN) conv(SDNN) x4 dense(SDNN) x4': type and neuron type."""
    names = []
    with h5py.File(path, "r") as f:
        for i in range(len(f["layer"])):
            g = f["layer"][str(i)]
            kind = _string(g["type"])
            if "neuron" in g and "type" in g["neuron"]:
                kind += f"({_string(g['neuron/type'])})"
            if kind != "flatten":
                names.append(kind)
    groups: list[list] = []
    for name in names:
        if groups and groups[-1][0] == name:
            groups[-1][1] += 1
        else:
            groups.append([name, 1])
    return " ".join(name if count == 1 else f"{name} x{count}" for name, count in groups)


def _string(ds: h5py.Dataset) -> str:
    raw = ds[()]
    return (raw.reshape(-1)[0] if isinstance(raw, np.ndarray) else raw).decode()


# -- the table ----------------------------------------------------------------------------------


@dataclass
class Row:
    """A table row: the file, its layers, whether Lava runs it (or why not), the golden traces
    compared (None: none), and the fast backend's mismatches against Lava (None: why not, in
    ``fast``)."""

    source: str
    layers: str
    lava: str
    goldens: list[Golden] | None
    fast: str
    fast_mismatches: int | None = None
    compared: str = ""

    @property
    def ok(self) -> bool:
        """Lava ran or the file was refused, and 0 mismatches everywhere a backend ran."""
        exact = not self.fast_mismatches and all(g.mismatches == 0 for g in self.goldens or [])
        return exact and not self.lava.startswith("fails")

    def cells(self) -> list[str]:
        if self.goldens is None:
            golden = "no golden trace" if self.lava.startswith("runs") else "-"
        else:
            mismatches = sum(g.mismatches for g in self.goldens)
            compared = sum(g.compared for g in self.goldens)
            golden = f"{mismatches} of {compared:,}: {self.compared}"
        fast = self.fast if self.fast_mismatches is None else f"{self.fast_mismatches} mismatches"
        return [self.source, self.layers, self.lava, golden, fast]


def table_rows(cases: list[Case], folder: Path) -> list[Row]:
    """One row per case; files written for a case go to ``folder``."""
    rows = []
    for case in cases:
        path, inputs = case.make(folder)
        layers = describe(path)
        try:
            graph = read_network(path)
        except LoihiSnnError as err:
            why = f"refused by the reader: {_reason(err, path)}"
            rows.append(Row(case.source, layers, why, None, why))
            continue
        try:
            run = _run(case, path, graph, inputs)
        except LoihiSnnError as err:
            rows.append(Row(case.source, layers, f"fails: {_reason(err, path)}", None, "-"))
            continue
        row = Row(case.source, layers, f"runs ({len(inputs)} x {case.steps} steps)",
                  case.golden(run.traces) if case.golden else None, "runs",
                  compared=case.compared)
        try:
            row.fast_mismatches = fast_mismatches(run, case.steps)
        except LoihiSnnError as err:
            row.fast = f"refused: {_reason(err, path)}"
        rows.append(row)
    return rows


def _reason(err: LoihiSnnError, path: Path) -> str:
    """An error's message without the file it names first."""
    text = str(err)
    for prefix in (f"{path}: ", f"{path.name}: "):
        text = text.removeprefix(prefix)
    return text


def format_table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    header = ["file", "layers (neuron type)", "Lava fixed_pt", "Lava vs golden traces: "
              "mismatches of entries (what)", "fast backend vs Lava: mismatches"]
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in row.cells()]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loihi_snn.reference",
        description="lava-dl's reference networks and golden traces on both backends",
    )
    names = [c.name for c in CASES]
    parser.add_argument("cases", nargs="*", help=f"cases to run (default: all of "
                        f"{', '.join(names)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(names))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}")
    cases = [c for c in CASES if not args.cases or c.name in args.cases]
    with tempfile.TemporaryDirectory() as folder:
        rows = table_rows(cases, Path(folder))
    print(format_table(rows))
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
