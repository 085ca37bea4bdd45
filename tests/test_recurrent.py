"""Recurrent dense layers (netx's ``dense_rec``: RecurrentDense, the layer's own spikes fed back
through ``weight_rec`` one step later) on the fast backend, compared with Lava ``fixed_pt``
through lava-dl's own netx loader over several samples in batches (netx resets the LIFs every
sample, never the recurrent synapse), and what netx cannot build refused when read."""

from __future__ import annotations

import numpy as np
import pytest

from loihi_snn.backends.fast import FastRunner, run_fast
from loihi_snn.backends.kernels import dense_weight
from loihi_snn.errors import LoihiSnnError
from loihi_snn.inspection import inspect
from loihi_snn.interchange.to_nir import to_nir
from loihi_snn.ir.hdf5 import read_network, write_graph
from loihi_snn.reference import _write_netx, result_mismatches

STEPS = 10


def _lif(vth: int) -> dict:
    return {"type": "CUBA", "iDecay": 1024, "vDecay": 300, "vThMant": vth}


def _layers(rng: np.random.Generator, weight_rec: np.ndarray) -> list[dict]:
    """input 10 -> dense 12 -> dense_rec 10 -> dense 4, LIFs with biases that make the first two
    spike before the input reaches them."""
    return [
        {"type": "input", "shape": [10]},
        {"type": "dense", "shape": [12], "weight": rng.integers(-60, 61, (12, 10)),
         "bias": rng.integers(0, 30, 12).astype(np.float32), "neuron": _lif(60)},
        {"type": "dense_rec", "shape": [10], "weight": rng.integers(-50, 51, (10, 12)),
         "weight_rec": weight_rec, "bias": rng.integers(0, 40, 10).astype(np.float32),
         "neuron": _lif(50)},
        {"type": "dense", "shape": [4], "weight": rng.integers(-60, 61, (4, 10)),
         "neuron": _lif(8)},
    ]


def _weight_rec(rng: np.random.Generator, kind: str) -> np.ndarray:
    """``mixed``: mixed-sign recurrent weights, which netx packs as they are. ``excitatory``:
    sparse ones up to 255, which netx packs with the mixed-sign feed-forward weights into 9
    weight bits; their own (excitatory) Dense then truncates them by -1 bits, to 0."""
    if kind == "mixed":
        return rng.integers(-40, 61, (10, 10))
    weight = rng.integers(0, 30, (10, 10)) * (rng.random((10, 10)) < 0.3)
    weight[2, 5] = 255
    return weight


@pytest.mark.lava
@pytest.mark.parametrize("kind", ["mixed", "excitatory"])
def test_samples_in_batches_equal_lava(tmp_path, kind):
    from loihi_snn.backends.lava import run_lava

    rng = np.random.default_rng({"mixed": 8, "excitatory": 5}[kind])  # every layer active
    weight_rec = _weight_rec(rng, kind)
    graph = read_network(_write_netx(tmp_path / "rec.net", _layers(rng, weight_rec)))
    assert [p.source for p in graph.layers[2].inputs] == [1, 2] and graph.depth[2] == 2
    # netx packs the two weights together: other weights than the recurrent ones packed alone
    rows, exponent = FastRunner(graph).recurrent[2]
    alone, alone_exponent = dense_weight(weight_rec.astype(np.float64))
    packed_alone = np.array_equal(rows.T * 2.0**exponent, alone * 2.0**alone_exponent)
    assert packed_alone == (kind == "mixed") and np.any(rows) == (kind == "mixed")
    spikes = (rng.random((5, 10, STEPS)) < 0.3).astype(np.int8)
    lava = run_lava(graph, spikes, STEPS, record_states=True)
    assert all(s.sum(axis=(1, 2)).all() for s in lava.spikes), "a layer is silent in a sample"
    # spikes at a sample's last step reach the next sample's first step (and the first sample's
    # first step, those before its window): the LIFs are reset, the recurrent synapse is not
    assert lava.spikes[1][:, :, -1].any()
    for batch_size in (2, 5):  # the recurrent input crosses samples and batches
        fast = run_fast(graph, spikes, STEPS, record_states=True, batch_size=batch_size)
        assert result_mismatches(lava, fast) == 0
        np.testing.assert_array_equal(fast.readout, lava.readout)


@pytest.mark.parametrize("change, message", [
    ({"delay": np.full((10, 12), 2)}, r"synaptic delays on a dense_rec layer"),
    ({"weight_rec": np.ones((10, 12))}, r"weight_rec of shape \(10, 12\)"),
    ({"weight": {"real": np.ones((10, 12)), "imag": np.ones((10, 12))},
      "neuron": {"type": "RF_PHASE", "sinDecay": 100, "cosDecay": 4000, "vThMant": 3}},
     r"a complex weight with weight_rec, which netx's ComplexDense would ignore"),
])
def test_what_netx_cannot_build_is_refused_when_read(tmp_path, change, message):
    layers = _layers(np.random.default_rng(0), np.ones((10, 10), np.int64))
    layers[2] = {**layers[2], **change}
    if "imag" in str(change):
        del layers[2]["bias"]
    with pytest.raises(LoihiSnnError, match=r"layer 2 \(dense_rec\): " + message):
        read_network(_write_netx(tmp_path / "bad.net", layers))


def test_a_recurrent_sigma_delta_layer_is_refused_by_the_fast_backend(tmp_path):
    sdnn = {"type": "SDNN", "activation": "relu", "vThMant": 2}
    path = _write_netx(tmp_path / "sd_rec.net", [
        {"type": "input", "shape": [6], "neuron": sdnn},
        {"type": "dense_rec", "shape": [4], "weight": np.ones((4, 6)),
         "weight_rec": np.ones((4, 4)), "neuron": sdnn},
    ])
    with pytest.raises(LoihiSnnError, match=r"layer 1 \(population\) uses a recurrent synapse"):
        FastRunner(read_network(path))


def test_inspect_nir_and_format_2_on_a_recurrent_file(tmp_path):
    graph_path = _write_netx(tmp_path / "rec.net", _layers(np.random.default_rng(0),
                                                           np.ones((10, 10))))
    info = inspect(graph_path)
    assert [p["source"] for p in info["layers"][2]["inputs"]] == [1, 2]
    assert info["backends"]["fast"] == "yes"
    graph = read_network(graph_path)
    with pytest.raises(LoihiSnnError, match=r"layer 2 \(population\) uses a recurrent synapse"):
        to_nir(graph)
    with pytest.raises(LoihiSnnError, match=r"format 2 cannot hold recurrent synapses"):
        write_graph(graph, tmp_path / "rec_graph.net", {})
