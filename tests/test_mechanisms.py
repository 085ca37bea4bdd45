"""The contract every custom layer type of ``loihi_snn.mechanisms.registry.LAYER_TYPES`` keeps,
checked on the random parameters of its ``example``, in a tiny graph

    input -> [conv 3x3 | identity] -> the custom layer (+ bias) -> dense LIF population

(1) the HDF5 round trip gives equal parameters and equal runs; (2) the type's integer twin
(``run_fast`` on X) equals the fast backend and Lava ``fixed_pt`` on every recorded layer's spikes,
with the conv hop and without; (3) Lava's ``floating_pt`` model stays close to the float reference
of the mechanism (:data:`FLOAT_REFERENCES`, one per type); and ``ops`` is a count or None.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from loihi_snn.evaluation import run_backend
from loihi_snn.ir.graph import Graph, Layer, Neuron, Projection
from loihi_snn.ir.hdf5 import read_graph, write_graph
from loihi_snn.ir.validation import validate
from loihi_snn.mechanisms.alif_mask.rules import float_step
from loihi_snn.mechanisms.qktv.rules import float_attention
from loihi_snn.mechanisms.registry import LAYER_TYPES
from loihi_snn.mechanisms.token_select.rules import float_select

STEPS = 5
SHAPE = (4, 5, 6)  # C, H, W of the custom layer
IN_CONV = (2, 5, 6)  # input of the conv hop (3x3, padding 1)
SAMPLES = 3
SEEDS = {"alif_mask": 3, "qktv": 5, "token_select": 4}  # one fixed draw per type (any seed passes)


# -- the float references of the floating_pt models -------------------------------------------


def alif_mask_float(record, x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """The ALIF mask's float rules (:func:`float_step`), samples one after another in the record's
    threshold-state mode: x (n, C, H, W, T) float -> (y, s)."""
    p, mode = record.params, record.mode
    y, s = np.zeros_like(x, np.float64), np.zeros_like(x, np.float64)
    a = p.a_init.astype(np.float64)
    for j in range(len(x)):
        u = np.zeros(p.shape)
        if mode == "reset":
            a = p.a_init.astype(np.float64)
        for t in range(x.shape[-1]):
            y[j, ..., t], s[j, ..., t], _ = float_step(x[j, ..., t], p, eps, mode != "frozen",
                                                       u, a)
    return y, s


def token_select_float(params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The token selection's float rules (:func:`float_select`) per window: x (n, C, H, W, T)
    -> (y = s g, s M), each in the sample's replay window."""
    n, c = x.shape[:2]
    y, rec = np.zeros_like(x, np.float64), np.zeros_like(x, np.float64)
    for j in range(n):
        s = (x[j].reshape(c, -1, x.shape[-1]) > 0).astype(np.int64)
        gate, mask, _ = float_select(s, params)
        y[j] = (s * gate[None, :, None]).reshape(x.shape[1:])
        rec[j] = (s * mask[None, :, None]).reshape(x.shape[1:])
    return y, rec


def qktv_float(params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, c, h, w, t = x.shape
    y = float_attention(np.moveaxis(x, -1, 1).reshape(n, t, c, h * w), params.heads)
    y = np.moveaxis(y.reshape(n, t, c, h, w), 1, -1)
    return y, (y > 0).astype(np.float64)


FLOAT_REFERENCES = {"alif_mask": alif_mask_float, "qktv": qktv_float,
                    "token_select": token_select_float}


# -- the graph -----------------------------------------------------------------------------------


def build(kind: str, hop: bool) -> tuple[Graph, np.ndarray, np.ndarray]:
    """The tiny graph around a ``kind`` layer with the type's example parameters; also the inputs
    x (n, *input, T) and X, the custom layer's input without its bias (n, C, H, W, T)."""
    rng = np.random.default_rng(SEEDS[kind] + 10 * hop)
    params = LAYER_TYPES[kind].example(rng, SHAPE, STEPS)
    in_shape = IN_CONV if hop else SHAPE
    x = rng.integers(0, 4, (SAMPLES, *in_shape, STEPS)) * (rng.random((SAMPLES, *in_shape,
                                                                       STEPS)) < 0.6)
    bits = LAYER_TYPES[kind].spike_inputs == 3  # X = a + 2 b + 4 c of spikes: 0..7 only
    if bits:
        x = rng.integers(0, 2 if hop else 8, (SAMPLES, *in_shape, STEPS))
    if hop and bits:
        weight = np.zeros((SHAPE[0], IN_CONV[0], 3, 3))
        weight[:, 0, 1, 1], weight[:, 1, 1, 1], weight[:, 0, 0, 1] = 1, 2, 4
        weight[1::2, 0, 0, 1], weight[1::2, 1, 2, 1] = 0, 4  # two patterns of channels
        projection = Projection(0, "conv", weight, padding=(1, 1))
        frames = torch.from_numpy(np.moveaxis(x, -1, 1).reshape(-1, *in_shape).astype(float))
        z = F.conv2d(frames, torch.from_numpy(weight), padding=1).numpy()
        big_x = np.moveaxis(z.reshape(SAMPLES, STEPS, *SHAPE), 1, -1).astype(np.int64)
    elif hop:
        weight = rng.integers(-20, 21, (SHAPE[0], IN_CONV[0], 3, 3)).astype(np.float64)
        projection = Projection(0, "conv", weight, padding=(1, 1))
        frames = torch.from_numpy(np.moveaxis(x, -1, 1).reshape(-1, *in_shape).astype(float))
        z = F.conv2d(frames, torch.from_numpy(weight), padding=1).numpy()  # exact: small ints
        big_x = np.moveaxis(z.reshape(SAMPLES, STEPS, *SHAPE), 1, -1).astype(np.int64)
    else:
        weight = 1.0 if bits else float(rng.integers(2, 6))
        projection = Projection(0, "identity", np.array([weight]))
        big_x = x * int(weight)
    neurons = int(np.prod(SHAPE))
    bias = rng.integers(-2, 3, neurons) * (not bits)
    custom = Layer(kind, SHAPE, None, bias, [projection], params=params)
    # a dense population reading the custom layer's output, its threshold set from the twin's
    # output so that it fires sometimes
    out, _ = LAYER_TYPES[kind]().run_fast(custom, with_bias(big_x, custom))
    dense = rng.integers(-60, 61, (8, neurons)).astype(np.float64)
    currents = np.einsum("oi,nit->not", dense, out.reshape(SAMPLES, neurons, STEPS))
    vth = max(1, int(np.percentile(np.abs(currents), 75)))
    layers = [
        Layer("input", in_shape),
        custom,
        Layer("population", (8,), Neuron(4096, 1024, vth), None,
              [Projection(1, "dense", dense)]),
    ]
    return validate(Graph(layers, STEPS), f"{kind} contract graph"), x, big_x


def with_bias(big_x: np.ndarray, layer: Layer) -> np.ndarray:
    return big_x + layer.bias.reshape(layer.shape)[None, ..., None]


def assert_same_record(a, b, where: str = "params") -> None:
    """Two parameter records (dataclasses of arrays, numbers, strings, nested records) equal."""
    assert type(a) is type(b), where
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same_record(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=where)


def custom_index(graph: Graph) -> int:
    return next(k for k, i in enumerate(graph.populations) if graph.layers[i].custom)


# -- the contract ----------------------------------------------------------------------------------


@pytest.mark.lava
@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_file_round_trip(kind: str, tmp_path) -> None:
    graph, x, _ = build(kind, hop=True)
    back = read_graph(write_graph(graph, tmp_path / "g.net", {"time_steps": STEPS}))
    assert [layer.kind for layer in back.layers] == [layer.kind for layer in graph.layers]
    assert_same_record(graph.layers[1].params, back.layers[1].params)
    np.testing.assert_array_equal(graph.layers[1].bias, back.layers[1].bias)
    before, after = run_backend("fast", graph, x), run_backend("fast", back, x)
    for a, b in zip(before.spikes, after.spikes, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.lava
@pytest.mark.parametrize("hop", [True, False], ids=["conv", "identity"])
@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_twin_equals_fast_equals_lava(kind: str, hop: bool) -> None:
    graph, x, big_x = build(kind, hop)
    custom = graph.layers[1]
    _, recorded = LAYER_TYPES[kind]().run_fast(custom, with_bias(big_x, custom))
    fast = run_backend("fast", graph, x)
    lava = run_backend("lava", graph, x)
    k = custom_index(graph)
    twin = recorded.reshape(SAMPLES, -1, STEPS)
    np.testing.assert_array_equal(fast.spikes[k], twin, err_msg="fast vs the type's twin")
    for index, a, b in zip(graph.populations, fast.spikes, lava.spikes, strict=True):
        assert a.any() and not a.all(), f"layer {index}: the test would prove little"
        np.testing.assert_array_equal(a, b, err_msg=f"layer {index}: fast vs Lava fixed_pt")


@pytest.mark.lava
@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_floating_pt_follows_the_float_reference(kind: str, lava_run) -> None:
    assert kind in FLOAT_REFERENCES, f"give {kind} a float reference in FLOAT_REFERENCES"
    graph, _, big_x = build(kind, hop=False)
    layer = graph.layers[1]
    kind_type = LAYER_TYPES[kind]()
    run = lava_run(
        lambda offset: kind_type.lava(layer, STEPS, offset), big_x.astype(np.float64), STEPS,
        latency=kind_type.latency(layer, STEPS), tag="floating_pt",
    )
    y, s = FLOAT_REFERENCES[kind](layer.params, with_bias(big_x, layer).astype(np.float64))
    assert s.any() and not s.all()
    np.testing.assert_allclose(run.s, s, rtol=0, atol=1e-9)
    np.testing.assert_allclose(run.y, y, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_ops_is_a_count_or_not_priced(kind: str) -> None:
    graph, _, _ = build(kind, hop=True)
    ops = LAYER_TYPES[kind]().ops(graph.layers[1], STEPS)
    if ops is None:
        return
    assert set(ops) == {"mults", "adds", "neuron_updates", "note"}
    assert all(isinstance(ops[key], int) and ops[key] >= 0
               for key in ("mults", "adds", "neuron_updates"))
    assert ops["mults"] + ops["adds"] > 0 and ops["note"]
