"""Graph networks (format 2): file round trip, refusal of malformed graphs, time alignment in
Lava, bit-exactness of Lava against the fast backend and of the trained residual model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from loihi_snn import evaluation
from loihi_snn.backends.fast import run_fast
from loihi_snn.backends.lava import run_lava
from loihi_snn.errors import LoihiSnnError
from loihi_snn.evaluation import run_backend, verify
from loihi_snn.ir.graph import Graph, Layer, Neuron, Projection
from loihi_snn.ir.hdf5 import read_graph, read_network, write_graph
from loihi_snn.ir.validation import validate
from loihi_snn.models.resnet import GraphNet
from loihi_snn.models.terms import Term
from loihi_snn.recipe import LayerSpec, NeuronSpec

CLI = str(Path(sys.executable).parent / "loihi-snn")


def random_graph(rng: np.random.Generator, steps: int = 6) -> Graph:
    """Every feature at once: a residual merge with a 2-hop path, an identity shortcut and a
    direct projection from the input (delays 0, 1 and 2), a concat read by a dense projection,
    sum pooling, per-neuron biases, random decays and thresholds."""

    def w(*shape, hi=40):
        return rng.integers(-hi, hi + 1, shape).astype(np.float64)

    def neuron():
        vth = int(rng.integers(20, 200))
        return Neuron(int(rng.integers(0, 4097)), int(rng.integers(0, 4097)), vth)

    layers = [
        Layer("input", (2, 6, 6)),
        Layer(
            "population",
            (4, 6, 6),
            neuron(),
            rng.integers(-50, 50, 144),
            [Projection(0, "conv", w(4, 2, 3, 3), padding=(1, 1))],
        ),
        Layer(
            "population",
            (4, 6, 6),
            neuron(),
            None,
            [Projection(1, "conv", w(4, 4, 3, 3, hi=80), padding=(1, 1))],
        ),
        Layer(
            "population",
            (4, 6, 6),
            neuron(),
            None,
            [
                Projection(2, "conv", w(4, 4, 3, 3, hi=80), padding=(1, 1)),
                Projection(1, "identity", np.array([60.0])),
                Projection(0, "conv", w(4, 2, 1, 1)),
            ],
        ),
        Layer("concat", (8, 6, 6), sources=[1, 3]),
        Layer(
            "population",
            (4, 3, 3),
            neuron(),
            None,
            [Projection(3, "pool", np.array([30.0]), kernel=(2, 2), stride=(2, 2))],
        ),
        Layer(
            "population",
            (10,),
            neuron(),
            rng.integers(-20, 20, 10),
            [Projection(4, "dense", w(10, 288, hi=120)), Projection(5, "dense", w(10, 36, hi=254))],
        ),
    ]
    return validate(Graph(layers, steps), "random graph")


@pytest.mark.lava
def test_lava_equals_fast_backend_in_spikes_u_and_v():
    rng = np.random.default_rng(1)
    graph = random_graph(rng)
    assert graph.depth == [0, 1, 2, 3, 3, 4, 5]
    x = rng.integers(0, 6, (4, 2, 6, 6, 6))
    fast = run_fast(graph, x, record_states=True)
    lava = run_lava(graph, x, 6, record_states=True)
    for k in range(len(graph.populations)):
        assert fast.spikes[k].any(), f"population {k} is silent: the test would prove little"
        np.testing.assert_array_equal(fast.spikes[k], lava.spikes[k])
        np.testing.assert_array_equal(fast.u[k], lava.u[k])
        np.testing.assert_array_equal(fast.v[k], lava.v[k])


@pytest.mark.lava
def test_paths_of_unequal_length_meet_at_the_same_step_in_lava():
    """Memoryless relays (vth 0 fires on any input): P1 and P2 copy the input spikes, one and two
    hops deep; P3 (threshold: both inputs needed) reads the input directly and P2. Zero latency
    means P3 == input; a misalignment by one step would give input[t] & input[t - 1]."""
    copy = Neuron(4096, 4096, 0)
    both = Neuron(4096, 4096, 1)  # v = 64 * inputs > 64 needs both
    one = np.array([1.0])
    layers = [
        Layer("input", (3, 1, 1)),
        Layer("population", (3, 1, 1), copy, None, [Projection(0, "identity", one)]),
        Layer("population", (3, 1, 1), copy, None, [Projection(1, "identity", one)]),
        Layer(
            "population",
            (3, 1, 1),
            both,
            None,
            [Projection(0, "identity", one), Projection(2, "identity", one)],
        ),
    ]
    graph = validate(Graph(layers, 8), "relay test")
    rng = np.random.default_rng(3)
    x = (rng.random((3, 3, 1, 1, 8)) < 0.5).astype(np.int64)
    result = run_lava(graph, x, 8)
    np.testing.assert_array_equal(result.spikes[2], x.reshape(3, 3, 8))
    misaligned = x[..., 1:] & x[..., :-1]
    assert (result.spikes[2][..., 1:] != misaligned.reshape(3, 3, 7)).any()


def test_file_round_trip(tmp_path):
    graph = random_graph(np.random.default_rng(2))
    path = write_graph(graph, tmp_path / "g.net", {"time_steps": 6})
    back = read_graph(path)
    assert back.meta["graph"] is True and back.time_steps == 6
    for a, b in zip(graph.layers, back.layers, strict=True):
        assert (a.kind, a.shape, a.neuron, a.sources) == (b.kind, b.shape, b.neuron, b.sources)
        assert (a.bias is None) == (b.bias is None)
        if a.bias is not None:
            np.testing.assert_array_equal(a.bias, b.bias)
        for p, q in zip(a.inputs, b.inputs, strict=True):
            np.testing.assert_array_equal(p.weight, q.weight)
            assert (p.source, p.kind, p.stride, p.padding, p.kernel) == (
                q.source,
                q.kind,
                q.stride,
                q.padding,
                q.kernel,
            )


def _edited(tmp_path: Path, edit) -> Path:
    path = write_graph(random_graph(np.random.default_rng(2)), tmp_path / "g.net", {})
    with h5py.File(path, "r+") as f:
        edit(f["layer"])
    return path


def _set(group: h5py.Group, key: str, value) -> None:
    del group[key]
    group.create_dataset(key, data=value)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda g: _set(g["1/inputs/0"], "source", 3), ["cycle without delay", "1 -> 3 -> 2 -> 1"]),
        (lambda g: _set(g["2/inputs/0"], "source", 9), ["layer 2", "layer 9", "does not exist"]),
        (lambda g: _set(g["3/inputs/1"], "source", 0), ["layer 3", "mismatched shapes"]),
        (lambda g: _set(g["4"], "inputs", np.array([1, 5])), ["layer 4", "concat", "mismatched"]),
        (lambda g: _set(g["6/inputs/1"], "weight", np.full((10, 36), 300.0)), ["layer 6", "8-bit"]),
    ],
    ids=["cycle", "missing-input", "merge-shapes", "concat-shapes", "weight-range"],
)
def test_malformed_graph_is_refused_naming_the_layer(tmp_path, edit, words):
    path = _edited(tmp_path, edit)
    with pytest.raises(LoihiSnnError) as err:
        read_graph(path)
    for word in words:
        assert word in str(err.value)
    proc = subprocess.run(
        [CLI, "sim", str(path), "--input", str(tmp_path / "none.npy")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("loihi-snn: error:") and words[0] in proc.stderr


def test_batchnorm_folds_into_weight_and_bias():
    term = Term(0, "conv", (3, 5, 5), 4, 3, 2, 1)
    with torch.no_grad():
        term.norm.running_mean.uniform_(-1, 1)
        term.norm.running_var.uniform_(0.5, 2)
        term.norm.weight.uniform_(0.5, 1.5)
        term.norm.bias.uniform_(-1, 1)
    term.eval()
    x = torch.rand(2, 3, 5, 5, 3)
    weight, bias, projection = term.effective()
    folded = torch.nn.functional.conv2d(
        x.permute(0, 4, 1, 2, 3).reshape(6, 3, 5, 5).double(),
        torch.from_numpy(weight),
        torch.from_numpy(bias),
        stride=2,
        padding=1,
    )
    expected = term(x).permute(0, 4, 1, 2, 3).reshape(6, 4, 3, 3).double()
    torch.testing.assert_close(folded, expected, atol=1e-5, rtol=1e-5)
    assert projection.out_shape((3, 5, 5)) == term.out_shape() == (4, 3, 3)


def test_resblock_exports_membrane_and_projection_shortcuts():
    layers = [
        LayerSpec("conv", 4, 3, 1, 1),
        LayerSpec("resblock", 4, stride=1),
        LayerSpec("resblock", 8, stride=2),
        LayerSpec("dense", 3),
    ]
    model = GraphNet(layers, NeuronSpec(0.5, 1.0, 0.75), (1, 6, 6))
    model.check_ready()
    graph = model.to_graph(4)
    sources = [[(p.source, p.kind) for p in layer.inputs] for layer in graph.layers]
    assert sources[3] == [(0, "conv"), (2, "conv")]  # stem currents + conv2: membrane shortcut
    assert sources[5] == [(4, "conv"), (3, "conv")]  # conv2 + 1x1 strided projection of A
    assert graph.layers[5].inputs[1].weight.shape[2:] == (1, 1)
    assert graph.layers[5].inputs[1].stride == (2, 2)


@pytest.mark.lava
def test_trained_resnet_is_bit_exact_in_lava_and_fast_backend(resnet_run):
    for backend in ("lava", "fast"):
        checks = verify(resnet_run / "model.net", n=8, backend=backend)
        assert len(checks) == 7
        assert sum(c.model_spikes for c in checks) > 0
        assert [c.mismatches for c in checks] == [0] * 7, backend


@pytest.mark.lava
def test_trained_resnet_states_agree_between_lava_and_fast_backend(resnet_run):
    graph = read_network(resnet_run / "model.net")
    x = evaluation.test_inputs(graph, 4).x
    lava = run_backend("lava", graph, x, record_states=True)
    fast = run_backend("fast", graph, x, record_states=True)
    for k in range(len(graph.populations)):
        np.testing.assert_array_equal(lava.spikes[k], fast.spikes[k])
        np.testing.assert_array_equal(lava.u[k], fast.u[k])
        np.testing.assert_array_equal(lava.v[k], fast.v[k])


@pytest.mark.lava
def test_netx_refuses_graph_files_but_reads_format_1(resnet_run, digits_run):
    """Format-2 files are loihi_snn's extension; sequential exports stay plain NetX."""
    from lava.lib.dl import netx

    netx.hdf5.Network(net_config=str(digits_run / "model.net"))
    with pytest.raises(Exception):  # noqa: B017 - netx raises whatever it meets first
        netx.hdf5.Network(net_config=str(resnet_run / "model.net"))
