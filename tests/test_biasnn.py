"""BIASNN in graph files: the ``alif_mask`` layer type (file round trip, refusals), the loaders
(Lava = fast backend on a graph whose gated stream is read at two delays, with the per-step and
the frozen normalisation), the graded delay line, and the trained digits_biasnn verified layer by
layer on both backends."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from loihi_snn import evaluation
from loihi_snn.backends.fast import run_fast
from loihi_snn.backends.lava import run_lava
from loihi_snn.errors import LoihiSnnError
from loihi_snn.evaluation import verify
from loihi_snn.ir.graph import Graph, Layer, Neuron, Projection
from loihi_snn.ir.hdf5 import read_graph, read_network, write_graph
from loihi_snn.ir.validation import validate
from loihi_snn.mechanisms.alif_mask.block import AlifMask
from loihi_snn.mechanisms.alif_mask.layer import MaskLayer
from loihi_snn.mechanisms.alif_mask.rules import MaskParams

STEPS = 4


def mask_params(rng: np.random.Generator, shape: tuple[int, int, int], frozen: bool) -> MaskParams:
    c = shape[0]

    def w(*s):
        return rng.integers(-127, 128, s)

    norm = ()
    if frozen:
        norm = (rng.integers(-3000, 0, c), rng.integers(500, 6000, c))
    return MaskParams(
        w(2, 5, 5), w(2, 2), 9, w(2, 7, 7), w(c, 2), 9, 1024, 2485, 4096, 4096,
        rng.integers(0, 4097, shape), *norm,
    )


def mask_graph(rng: np.random.Generator, mode: str = "reset", frozen: bool = False) -> Graph:
    """input -> P1 -> mask (X = conv(P1) + conv(input) + bias) -> P3 = LIF(Y) -> P4 ->
    P5 = LIF(Y + conv(P4)): P3 reads Y at once, P5 two steps later (a graded delay line);
    then a dense output."""
    shape = (4, 6, 6)

    def w(*s, hi=60):
        return rng.integers(-hi, hi + 1, s).astype(np.float64)

    one = np.array([1.0])
    layers = [
        Layer("input", (2, 6, 6)),
        Layer("population", shape, Neuron(4096, 1024, 60), None,
              [Projection(0, "conv", w(4, 2, 3, 3), padding=(1, 1))]),
        Layer("alif_mask", shape, None, rng.integers(-40, 40, 144),
              [Projection(1, "conv", w(4, 4, 3, 3), padding=(1, 1)),
               Projection(0, "conv", w(4, 2, 1, 1))],
              params=MaskLayer(mask_params(rng, shape, frozen), mode)),
        Layer("population", shape, Neuron(4096, 1024, 40), None, [Projection(2, "identity", one)]),
        Layer("population", shape, Neuron(4096, 1024, 60), None,
              [Projection(3, "conv", w(4, 4, 3, 3), padding=(1, 1))]),
        Layer("population", shape, Neuron(4096, 1024, 50), None,
              [Projection(2, "identity", one), Projection(4, "conv", w(4, 4, 3, 3),
                                                           padding=(1, 1))]),
        Layer("population", (10,), Neuron(4096, 0, 100), None,
              [Projection(5, "dense", w(10, 144, hi=120))]),
    ]
    return validate(Graph(layers, STEPS), "mask graph")


@pytest.mark.lava
@pytest.mark.parametrize(("mode", "frozen"), [("reset", False), ("persist", False),
                                              ("reset", True)])
def test_lava_equals_fast_backend_through_the_mask(mode: str, frozen: bool) -> None:
    rng = np.random.default_rng(5)
    graph = mask_graph(rng, mode, frozen)
    assert graph.depth == [0, 1, 2, 3, 4, 5, 6]
    x = rng.integers(0, 8, (3, 2, 6, 6, STEPS))
    fast = run_fast(graph, x, record_states=True, batch_size=2)  # state crosses batches
    lava = run_lava(graph, x, record_states=True)
    for k, i in enumerate(graph.populations):
        spikes = fast.spikes[k]
        assert spikes.any() and not spikes.all(), f"layer {i}: the test would prove little"
        np.testing.assert_array_equal(spikes, lava.spikes[k], err_msg=f"layer {i}")
        if graph.layers[i].custom:
            assert fast.u[k] is None and lava.u[k] is None
        else:
            np.testing.assert_array_equal(fast.u[k], lava.u[k], err_msg=f"u of layer {i}")
            np.testing.assert_array_equal(fast.v[k], lava.v[k], err_msg=f"v of layer {i}")


def test_mask_layer_round_trip(tmp_path) -> None:
    graph = mask_graph(np.random.default_rng(6), "persist", frozen=True)
    back = read_graph(write_graph(graph, tmp_path / "m.net", {"time_steps": STEPS}))
    a, b = graph.layers[2], back.layers[2]
    assert b.kind == "alif_mask" and b.params.mode == "persist" and b.shape == a.shape
    np.testing.assert_array_equal(a.bias, b.bias)
    for key in ("dw1", "pw1", "dw2", "pw2", "a_init", "norm_lo", "norm_span", "shift1", "lam",
                "rho", "gamma", "theta0"):
        np.testing.assert_array_equal(getattr(a.params.params, key), getattr(b.params.params, key))
    assert back.layer_kinds[1] == "alif_mask(conv+conv)"
    x = np.random.default_rng(0).integers(0, 8, (2, 2, 6, 6, STEPS))
    for p, q in zip(run_fast(graph, x).spikes, run_fast(back, x).spikes, strict=True):
        np.testing.assert_array_equal(p, q)


def test_bad_mask_layers_are_refused(tmp_path) -> None:
    graph = mask_graph(np.random.default_rng(7))
    path = write_graph(graph, tmp_path / "m.net", {"time_steps": STEPS})
    with h5py.File(path, "a") as f:
        f["layer/2/params"].attrs["mode"] = "sometimes"
    with pytest.raises(LoihiSnnError, match="mode must be one of"):
        read_graph(path)
    with h5py.File(path, "a") as f:
        f["layer/2/params"].attrs["mode"] = "reset"
        del f["layer/2/params/pw2"]
        f["layer/2/params"].create_dataset("pw2", data=np.zeros((3, 2), np.int32))
    with pytest.raises(LoihiSnnError, match=r"/layer/2 \(alif_mask\): ALIF mask: a_init"):
        read_graph(path)
    small = mask_graph(np.random.default_rng(7))
    small.layers[2].params.params.a_init = np.zeros((4, 5, 5), np.int64)
    with pytest.raises(LoihiSnnError, match=r"layer 2 \(alif_mask\): mask parameters are for"):
        validate(small, "model")


@pytest.mark.lava
def test_graded_delay_line_is_exact() -> None:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    from loihi_snn.backends.graded_delay.process import GradedDelay

    data = np.random.default_rng(8).integers(-(2**22), 2**22, (3, 2, 10)).astype(np.int32)
    source = io.source.RingBuffer(data=data)
    line = GradedDelay(shape=(3, 2), delay=3)
    sink = io.sink.RingBuffer(shape=(3, 2), buffer=10)
    source.s_out.connect(line.s_in)
    line.s_out.connect(sink.a_in)
    try:
        line.run(condition=RunSteps(num_steps=10), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get()
    finally:
        line.stop()
    np.testing.assert_array_equal(out[..., 3:], data[..., :7])
    assert not out[..., :3].any()


@pytest.mark.lava
def test_trained_biasnn_is_bit_exact_on_both_backends(biasnn_run) -> None:
    graph = read_network(biasnn_run / "model.net")
    kinds = graph.layer_kinds
    assert kinds[2].startswith("alif_mask(") and "identity+conv" in kinds
    masks = [i for i in graph.populations if graph.layers[i].custom]
    readers = [p for i in graph.populations for p in graph.layers[i].inputs
               if p.kind == "identity" and p.source in masks]
    assert len(readers) == 2 and all(float(p.weight[0]) == 1.0 for p in readers)
    for backend in ("lava", "fast"):
        checks = verify(biasnn_run / "model.net", n=8, backend=backend)
        assert len(checks) == len(graph.populations)
        assert sum(c.model_spikes for c in checks) > 0
        assert [c.mismatches for c in checks] == [0] * len(checks), backend


def test_frozen_statistics_follow_training() -> None:
    """The neurocore-only variant normalises with running statistics, which training updates
    and the integer parameters carry (in integer units of X)."""
    torch.manual_seed(0)
    block = AlifMask(4, 6, 6, reduction=2, minmax="frozen")
    before = block.norm_lo.clone()
    block(torch.rand(3, 4, 6, 6, STEPS) * 5)
    assert not torch.equal(before, block.norm_lo)
    params = block.integer_params(x_scale=100.0)
    assert params.frozen_norm
    np.testing.assert_array_equal(params.norm_lo, np.round(block.norm_lo.double() * 100).long())
    assert (params.norm_span >= 1).all()
    assert not AlifMask(4, 6, 6, reduction=2).integer_params().frozen_norm


@pytest.mark.lava
def test_plot_and_stats_commands(biasnn_run, tmp_path, capsys) -> None:
    from loihi_snn.cli import main

    net = str(biasnn_run / "model.net")
    assert main(["plot-biasnn", net, "-o", str(tmp_path / "plots"), "-n", "40"]) == 0
    for name in ("mask_heatmaps.png", "eliminated_per_step.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stats = json.loads((tmp_path / "plots" / "stats.json").read_text())
    graph = read_network(net)
    mask = next(i for i in graph.populations if graph.layers[i].custom)
    assert stats["samples"] == 40 and len(stats["eliminated"][graph.tag(mask)]) == STEPS
    fast = run_fast(graph, evaluation.test_inputs(graph, 40).x)
    lif = [s for i, s in zip(graph.populations, fast.spikes, strict=True) if i != mask]
    assert stats["lif_rate"] == pytest.approx(sum(s.sum() for s in lif) / sum(s.size for s in lif))
    capsys.readouterr()
    assert main(["biasnn-stats", net, "-n", "40"]) == 0
    assert f"| {net} | 40 |" in capsys.readouterr().out
    assert main(["plot-biasnn", str(tmp_path / "missing.net"), "-o", str(tmp_path)]) == 2
