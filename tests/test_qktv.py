"""SpiLiFormer's attention product Q (K^T V) (the ``qktv`` layer type): the integer rule against a
naive loop, the torch block against the rule, the parameters through a graph file and their
refusals, the fast backend's refusal of X outside 0..7, the Lava process (fixed_pt and
floating_pt) against the rule, and a hand-built graph Q, K, V -> qktv -> LIF run by the fast
backend and in Lava fixed_pt. The layer type's contract is tests/test_mechanisms.py's.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from loihi_snn.errors import LoihiSnnError
from loihi_snn.evaluation import run_backend
from loihi_snn.ir.graph import Graph, Layer, Neuron, Projection
from loihi_snn.ir.hdf5 import read_graph, write_graph
from loihi_snn.ir.validation import validate
from loihi_snn.mechanisms.qktv.block import QKTV
from loihi_snn.mechanisms.qktv.layer import QktvType
from loihi_snn.mechanisms.qktv.rules import QktvParams, attention, decode, float_attention

STEPS = 4
SHAPE = (4, 4, 4)  # D, H, W of Q, K, V and the qktv layer: 16 tokens
IN = (2, 4, 4)
AT = 4  # the qktv layer's index in graph()


def naive(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int) -> np.ndarray:
    """Attn[j, n] = sum_i q[i, n] sum_m k[i, m] v[j, m], i and j in the same head: q, k, v
    (D, N) 0/1 -> (D, N), plain Python."""
    channels, tokens = q.shape
    d = channels // heads
    out = np.zeros((channels, tokens), np.int64)
    for j in range(channels):
        head = range(j // d * d, j // d * d + d)
        for n in range(tokens):
            out[j, n] = sum(
                int(q[i, n]) * sum(int(k[i, m]) * int(v[j, m]) for m in range(tokens))
                for i in head
            )
    return out


def spikes(rng: np.random.Generator, shape: tuple, p: float = 0.4) -> np.ndarray:
    return (rng.random(shape) < p).astype(np.int64)


# -- the rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("heads", [1, 2, 3, 6])
def test_rule_matches_a_naive_loop(heads: int) -> None:
    rng = np.random.default_rng(heads)
    q, k, v = (spikes(rng, (3, 6, 10), p) for p in (0.3, 0.5, 0.7))  # 3 steps, D 6, N 10
    x = q + 2 * k + 4 * v
    assert all(np.array_equal(a, b) for a, b in zip(decode(x), (q, k, v), strict=True))
    attn = attention(x, heads)
    assert attn.dtype == np.int64 and attn.any()
    for t in range(len(x)):
        np.testing.assert_array_equal(attn[t], naive(q[t], k[t], v[t], heads))
    np.testing.assert_array_equal(float_attention(x.astype(np.float64), heads), attn)
    full = attention(np.full((6, 10), 7), heads)  # every spike present: the largest value N d
    assert (full == 10 * 6 // heads).all()


def test_block_equals_the_rule_and_has_gradients() -> None:
    rng = np.random.default_rng(1)
    b, (c, h, w) = 3, SHAPE
    q, k, v = (spikes(rng, (b, c, h, w, STEPS), p) for p in (0.3, 0.5, 0.6))
    x = q + 2 * k + 4 * v
    rule = np.moveaxis(attention(np.moveaxis(x, -1, 1).reshape(b, STEPS, c, h * w), 2), 1, -1)
    tq, tk, tv = (torch.from_numpy(a).float().requires_grad_() for a in (q, k, v))
    out = QKTV(2)(tq, tk, tv)
    np.testing.assert_array_equal(out.detach().numpy().astype(np.int64), rule.reshape(out.shape))
    (out * torch.randn_like(out)).sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (tq, tk, tv))
    small = [torch.rand(1, 4, 2, 2, 2, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(QKTV(2), small)
    with pytest.raises(LoihiSnnError, match="divide"):
        QKTV(3)(tq, tk, tv)


# -- the layer type -----------------------------------------------------------------------------


def graph(heads: int = 2, seed: int = 0) -> Graph:
    """input (2, 4, 4) -> three LIF populations Q, K, V (4, 4, 4) by 1x1 convs -> qktv by
    identity projections of weights 1, 2, 4 -> a LIF population reading Attn by an identity
    projection."""
    rng = np.random.default_rng(seed)
    lif = Neuron(4096, 2048, 40)

    def conv() -> Projection:
        return Projection(0, "conv", rng.integers(0, 60, (SHAPE[0], IN[0], 1, 1)).astype(float))

    qkv = [Layer("population", SHAPE, lif, None, [conv()]) for _ in range(3)]
    feed = [Projection(1 + b, "identity", np.array([float(1 << b)])) for b in range(3)]
    layers = [
        Layer("input", IN),
        *qkv,
        Layer("qktv", SHAPE, None, None, feed, params=QktvParams(heads)),
        Layer("population", SHAPE, Neuron(4096, 2048, 40), None,
              [Projection(AT, "identity", np.array([8.0]))]),
    ]
    return validate(Graph(layers, STEPS), "the qktv test graph")


def test_params_round_trip_through_a_graph_file(tmp_path) -> None:
    for heads in (1, 2, 4):
        back = read_graph(write_graph(graph(heads), tmp_path / f"g{heads}.net", {}))
        assert back.layers[AT].kind == "qktv"
        assert back.layers[AT].params == QktvParams(heads)


@pytest.mark.parametrize(
    "value",
    [np.int64(3), np.int64(0), np.int64(-2), 2.0, np.array([1, 2]), None],
    ids=["not-dividing", "zero", "negative", "float", "array", "missing"],
)
def test_bad_params_in_a_file_are_refused_naming_the_layer(tmp_path, value) -> None:
    path = write_graph(graph(), tmp_path / "g.net", {})
    with h5py.File(path, "r+") as f:
        params = f[f"layer/{AT}/params"]
        del params["heads"]
        if value is not None:
            params["heads"] = value
    with pytest.raises(LoihiSnnError, match=rf"layer[ /]{AT}\b.*heads"):
        read_graph(path)


@pytest.mark.parametrize("params", [QktvParams(3), QktvParams(0), QktvParams(True), None])
def test_bad_params_in_memory_are_refused_naming_the_layer(params) -> None:
    layers = graph().layers
    layers[AT].params = params
    with pytest.raises(LoihiSnnError, match=rf"layer {AT} \(qktv\).*(heads|parameters)"):
        validate(Graph(layers, STEPS), "test")


def test_run_fast_refuses_x_outside_0_to_7() -> None:
    layer = graph().layers[AT]
    kind = QktvType()
    x = np.random.default_rng(2).integers(0, 8, (2, *SHAPE, STEPS))
    out, rec = kind.run_fast(layer, x)
    assert out.shape == rec.shape == x.shape and rec.dtype == np.int8
    np.testing.assert_array_equal(rec, out > 0)
    for bad in (-1, 8):
        x[1, 0, 0, 0, 0] = bad
        with pytest.raises(LoihiSnnError, match=r"qktv layer .* fed by layers 1, 2, 3.*0\.\.7"):
            kind.run_fast(layer, x)


def test_ops_placement_and_timing() -> None:
    kind = QktvType()
    layer = graph(heads=2).layers[AT]
    tokens, d = SHAPE[1] * SHAPE[2], SHAPE[0] // 2
    ops = kind.ops(layer, STEPS)
    assert ops["mults"] == 0 and ops["neuron_updates"] == 0
    assert ops["adds"] == STEPS * 2 * (2 * tokens * d * d) and "K^T V" in ops["note"]
    layer.bias = np.zeros(layer.neurons)
    assert kind.ops(layer, STEPS)["adds"] - ops["adds"] == STEPS * layer.neurons
    assert kind.placement(layer)[0] == "embedded CPU"
    assert kind.graded and kind.latency(layer, STEPS) == 0


# -- Lava -----------------------------------------------------------------------------------------


@pytest.mark.lava
@pytest.mark.parametrize("tag", ["fixed_pt", "floating_pt"])
def test_lava_process_equals_the_rule(lava_run, tag: str) -> None:
    """X of every value 0..7 through an identity Conv hop (fixed_pt) or directly."""
    heads, (c, h, w) = 2, SHAPE
    x = np.random.default_rng(3).integers(0, 8, (3, *SHAPE, STEPS))
    layer = graph(heads).layers[AT]
    run = lava_run(lambda offset: QktvType().lava(layer, STEPS, offset), x, STEPS, tag=tag,
                   hop=tag == "fixed_pt")
    rule = attention(np.moveaxis(x, -1, 1).reshape(3, STEPS, c, h * w), heads)
    want = np.moveaxis(rule.reshape(3, STEPS, *SHAPE), 1, -1)
    np.testing.assert_array_equal(run.y, want)
    np.testing.assert_array_equal(run.s, want > 0)


@pytest.mark.lava
def test_graph_fast_equals_lava_fixed_pt() -> None:
    g = graph(heads=2)
    x = spikes(np.random.default_rng(4), (4, *IN, STEPS))
    fast = run_backend("fast", g, x, record_states=True, progress=False)
    lava = run_backend("lava", g, x, record_states=True)
    for index, a, b in zip(g.populations, fast.spikes, lava.spikes, strict=True):
        assert a.any() and not a.all(), f"layer {index}: the test would prove little"
        assert (a != b).sum() == 0, f"layer {index}: fast vs Lava fixed_pt"
    k = g.populations.index(AT)
    np.testing.assert_array_equal(fast.outputs[k], lava.outputs[k])
    # Attn from the fast run's Q, K, V spikes (file order (n, D N, T)) by the naive loop
    q, kk, v = (fast.spikes[g.populations.index(i)].astype(np.int64) for i in (1, 2, 3))
    for j in range(len(x)):
        for t in range(STEPS):
            one = [a[j, :, t].reshape(SHAPE[0], -1) for a in (q, kk, v)]
            np.testing.assert_array_equal(
                fast.outputs[k][j, :, t], naive(*one, heads=2).reshape(-1)
            )
