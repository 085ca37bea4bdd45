"""Resonate-and-fire neurons (netx's RF and RF_IZ, fed by a dense layer's complex weight) on the
fast backend: one stream of samples (netx never resets them), batches carrying the state, each
compared with Lava ``fixed_pt`` through lava-dl's own netx loader; the integer rule on one neuron;
what netx cannot build refused when read; inspect, energy counts and NIR export on such files."""

from __future__ import annotations

import numpy as np
import pytest

from loihi_snn.backends.fast import FastRunner, run_fast
from loihi_snn.energy.counting import count_network
from loihi_snn.errors import LoihiSnnError
from loihi_snn.inspection import format_inspection, inspect
from loihi_snn.interchange.to_nir import to_nir
from loihi_snn.ir.graph import Resonator
from loihi_snn.ir.hdf5 import read_network, rf_decays, write_graph
from loihi_snn.loihi.fixed_point import resonator_run
from loihi_snn.reference import _write_netx, result_mismatches

STEPS = 12


def _rf(kind: str, sin: int, cos: int, vth) -> dict:
    return {"type": kind, "sinDecay": sin, "cosDecay": cos, "vThMant": vth}


def _complex(rng: np.random.Generator, out: int, inputs: int, top: int) -> dict:
    return {part: rng.integers(-top, top + 1, (out, inputs)).astype(np.float32)
            for part in ("real", "imag")}


def _network(path, kind: str, rng: np.random.Generator):
    """input 8 -> dense 12 (complex weight, RF) -> dense 6 (complex weight, RF); the decays are
    ones netx turns into others (sinDecay 3000 runs as 2999; 1500 as 1499, or as 1500 where
    numpy's vectorised sin rounds up, on AVX-512; cosDecay -2500 with a period under 4 steps)."""
    return _write_netx(path, [
        {"type": "input", "shape": [8]},
        {"type": "dense", "shape": [12], "weight": _complex(rng, 12, 8, 60),
         "neuron": _rf(kind, 1500, 3600, 8)},
        {"type": "dense", "shape": [6], "weight": _complex(rng, 6, 12, 80),
         "neuron": _rf(kind, 3000, -2500, 10)},
    ])


@pytest.mark.lava
@pytest.mark.parametrize("kind", ["RF_PHASE", "RF_IZ"])
def test_a_stream_of_samples_in_batches_equals_lava(tmp_path, kind):
    from lava.lib.dl import netx

    from loihi_snn.backends.lava import run_lava

    rng = np.random.default_rng(3)
    path = _network(tmp_path / "rf.net", kind, rng)
    graph = read_network(path)
    assert [layer.neuron.iz for layer in graph.layers[1:]] == [kind == "RF_IZ"] * 2
    # the decays Lava runs, not the file's: netx's conversion in float64 with numpy's sin and cos
    # on this machine (1500 becomes 1499, or stays 1500 on AVX-512)
    built = [layer.neuron for layer in netx.hdf5.Network(net_config=str(path)).layers]
    ours = [layer.neuron for layer in graph.layers[1:]]
    assert [(n.sin_decay, n.cos_decay) for n in ours] == [
        (int(n.sin_decay.init), int(n.cos_decay.init)) for n in built
    ]
    spikes = (rng.random((5, 8, STEPS)) < 0.3).astype(np.int8)
    lava = run_lava(graph, spikes, STEPS, record_states=True)
    assert all(s.sum(axis=(1, 2)).all() for s in lava.spikes), "a layer is silent in a sample"
    assert all(u is not None and np.any(u) for u in lava.u)  # the real parts, compared too
    for batch_size in (2, 5):  # batches carry the state; one batch holds the whole stream
        fast = run_fast(graph, spikes, STEPS, record_states=True, batch_size=batch_size)
        assert result_mismatches(lava, fast) == 0
        np.testing.assert_array_equal(fast.readout, lava.readout)
    # the stream carries state: the last sample alone gives another answer
    alone = run_fast(graph, spikes[-1:], STEPS, record_states=True)
    assert not np.array_equal(alone.v[-1][0], lava.v[-1][-1])


@pytest.mark.lava
def test_rf_between_sigma_delta_layers_equals_lava(tmp_path):
    """Delta input -> RF (graded payloads into its two synapses) -> Sigma output (its spikes in):
    every layer streams, so they run together."""
    from loihi_snn.backends.lava import run_lava

    rng = np.random.default_rng(2)
    sdnn = {"type": "SDNN", "activation": "relu", "vThMant": 1}
    graph = read_network(_write_netx(tmp_path / "sd_rf.net", [
        {"type": "input", "shape": [8], "neuron": sdnn},
        {"type": "dense", "shape": [6], "weight": _complex(rng, 6, 8, 40),
         "neuron": _rf("RF_PHASE", 1500, 3600, 20)},
        {"type": "dense", "shape": [4], "weight": rng.integers(-50, 51, (4, 6)),
         "neuron": {**sdnn, "sigma_output": True}},
    ]))
    frames = rng.integers(0, 20, (4, 8, 1)) + rng.integers(-3, 4, (4, 8, 10)).cumsum(-1)
    lava = run_lava(graph, frames, 10, record_states=True)
    assert all(s.sum(axis=(1, 2)).all() for s in lava.spikes), "a layer is silent in a sample"
    fast = run_fast(graph, frames, 10, record_states=True, batch_size=3)
    assert result_mismatches(lava, fast) == 0


def test_the_rf_rules_on_one_neuron():
    """sin 2048, cos 3547 (a turn of 30 degrees per step, no shrinking to speak of), vThMant 1
    (threshold 64). Input (10, -2) once: real = 10 << 6 = 640, imag = -128. Next step, no input:
    real = trunc(3547 * 640 / 4096) - trunc(2048 * -128 / 4096) = 554 + 64 = 618,
    imag = trunc(2048 * 640 / 4096) + trunc(3547 * -128 / 4096) = 320 - 110 = 210 (toward zero,
    not -111): imag turned non-negative with real >= 64, so RF spikes. Then real =
    trunc(3547 * 618 / 4096) - trunc(2048 * 210 / 4096) = 535 - 105 = 430, imag = 309 + 181 =
    490, no spike (imag was not negative). RF_IZ spikes at imag >= 64 instead, then sets real 0
    and imag 63: real = -trunc(2048 * 63 / 4096) = -31, imag = trunc(3547 * 63 / 4096) = 54."""
    a_real = np.array([[10], [0], [0]])
    a_imag = np.array([[-2], [0], [0]])
    expected = {False: ([640, 618, 430], [-128, 210, 490], [0, 1, 0]),
                True: ([640, 0, -31], [-128, 63, 54], [0, 1, 0])}
    for iz, (real, imag, spikes) in expected.items():
        state = np.zeros(1, np.int64), np.zeros(1, np.int64)
        out, reals, imags = np.empty((3, 1), np.int8), *(np.empty((3, 1), np.int64) for _ in "ri")
        resonator_run(a_real, a_imag, 2048, 3547, 1, iz, *state, out, reals, imags, True)
        assert (reals[:, 0].tolist(), imags[:, 0].tolist(), out[:, 0].tolist()) == (
            real, imag, spikes)
    # the input is an int32 << 6 and the state clips to 24 bits
    out, none = np.empty((1, 1), np.int8), np.empty((0, 0), np.int64)
    state = np.zeros(1, np.int64), np.zeros(1, np.int64)
    resonator_run(np.array([[200_000]]), np.array([[-200_000]]), 0, 4096, 1, False, *state, out,
                  none, none, False)
    assert state[0].tolist() == [(1 << 23) - 1] and state[1].tolist() == [1 - (1 << 23)]


@pytest.mark.lava
@pytest.mark.filterwarnings("ignore:divide by zero")  # lava-dl's period of sinDecay 0
def test_the_decays_are_the_ones_lavas_rf_gets_from_netx():
    from lava.lib.dl.netx.hdf5 import Network
    from lava.proc.rf.process import RF

    differ = 0
    for sin, cos in [(1500, 3600), (3000, -2500), (2103, 3273), (900, 3900), (0, 4000)]:
        for dtype in (np.int64, np.float32):  # netx computes in the file's dtype
            params = Network.get_neuron_params(
                {"type": "RF_PHASE", "sinDecay": dtype(sin), "cosDecay": dtype(cos),
                 "vThMant": dtype(5)})
            params.pop("neuron_proc")
            rf = RF(shape=(1,), **params)
            lava = tuple(int(np.asarray(v.init).reshape(-1)[0]) for v in (rf.sin_decay,
                                                                          rf.cos_decay))
            assert rf_decays(dtype(sin), dtype(cos)) == lava
            differ += lava != (sin, cos)
    assert differ  # the file's decays are not always the ones Lava runs


@pytest.mark.parametrize("change, message", [
    ({"weight": np.ones((4, 8))}, r"layer 1 \(dense\): RF neurons without a complex weight"),
    ({"neuron": {"type": "CUBA", "iDecay": 4096, "vDecay": 0, "vThMant": 10}},
     r"layer 1 \(dense\): a complex weight without RF neurons"),
    ({"bias": np.ones(4)}, r"a complex weight with a bias, which netx's ComplexDense would"),
    ({"type": "dense_comp"}, r"layer 1 is of type 'dense_comp', which lava-dl 0.6's netx"),
    ({"neuron": _rf("RF_PHASE", 100, 4000, np.ones(4))}, r"vThMant must be one number"),
    ({"weight": {"real": np.ones((4, 8))}}, r"weight/imag as a 1-D or 2-D dataset"),
])
def test_what_netx_cannot_build_is_refused_when_read(tmp_path, change, message):
    layer = {"type": "dense", "shape": [4], "weight": _complex(np.random.default_rng(0), 4, 8, 9),
             "neuron": _rf("RF_PHASE", 100, 4000, 3), **change}
    path = _write_netx(tmp_path / "bad.net", [{"type": "input", "shape": [8]}, layer])
    with pytest.raises(LoihiSnnError, match=message):
        read_network(path)


def test_rf_input_neurons_are_refused_when_read(tmp_path):
    path = _write_netx(tmp_path / "rf_input.net", [
        {"type": "input", "shape": [8], "neuron": _rf("RF_IZ", 100, 4000, 3)},
        {"type": "dense", "shape": [4], "weight": np.ones((4, 8)),
         "neuron": {"type": "CUBA", "iDecay": 4096, "vDecay": 0, "vThMant": 10}},
    ])
    with pytest.raises(LoihiSnnError, match=r"layer 0 \(input\) has RF neurons"):
        read_network(path)


def test_rf_beside_lif_layers_is_refused_by_the_fast_backend(tmp_path):
    rng = np.random.default_rng(1)
    path = _write_netx(tmp_path / "mixed.net", [
        {"type": "input", "shape": [8]},
        {"type": "dense", "shape": [6], "weight": _complex(rng, 6, 8, 50),
         "neuron": _rf("RF_PHASE", 1000, 3800, 4)},
        {"type": "dense", "shape": [3], "weight": rng.integers(-50, 51, (3, 6)),
         "neuron": {"type": "CUBA", "iDecay": 4096, "vDecay": 128, "vThMant": 10}},
    ])
    graph = read_network(path)
    assert isinstance(graph.layers[1].neuron, Resonator)
    with pytest.raises(LoihiSnnError, match=r"layer 1 \(population\) uses RF neurons beside LIF"):
        FastRunner(graph)


def test_inspect_energy_and_nir_on_an_rf_file(tmp_path):
    rng = np.random.default_rng(3)
    path = _network(tmp_path / "rf.net", "RF_IZ", rng)
    info = inspect(path)
    neuron = info["layers"][2]["neuron"]
    assert neuron["type"] == "RF_IZ" and neuron["vth_mant"] == 10 and neuron["du"] == "-"
    assert 2 < neuron["period_steps"] < 4 and 0 < neuron["alpha"] < 0.1
    assert info["backends"]["fast"] == "yes"
    assert "dense<0+dense<0" in format_inspection(info)
    graph = read_network(path)
    spikes = (rng.random((3, 8, STEPS)) < 0.3).astype(np.int8)
    result = run_fast(graph, spikes, STEPS, record_states=True)
    counts = count_network(graph, spikes, result)
    assert [c.synops > 0 for c in counts.layers] == [True, True]
    assert all(0 < c.active_updates <= c.neuron_updates for c in counts.layers)
    assert "RF neurons" in counts.layers[0].note
    with pytest.raises(LoihiSnnError, match=r"layer 1 \(population\) uses RF neurons"):
        to_nir(graph)
    with pytest.raises(LoihiSnnError, match="format 2 cannot hold Resonator neurons"):
        write_graph(graph, tmp_path / "rf_graph.net", {})


def test_inspect_describes_sigma_delta_neurons(tmp_path):
    sdnn = {"type": "SDNN", "activation": "relu", "vThMant": 3}
    path = _write_netx(tmp_path / "sdnn.net", [
        {"type": "input", "shape": [6], "neuron": sdnn},
        {"type": "dense", "shape": [4], "weight": np.ones((4, 6)), "neuron": sdnn},
        {"type": "dense", "shape": [2], "weight": np.ones((2, 4)),
         "neuron": {**sdnn, "sigma_output": True}},
    ])
    info = inspect(path)
    kinds = [layer["neuron"]["type"] for layer in info["layers"]]
    assert kinds == ["sigma-delta (delta)", "sigma-delta (sigma_delta)", "sigma-delta (sigma)"]
    assert info["layers"][1]["neuron"]["threshold_v"] == 3 << 12
    assert "format 1" in format_inspection(info)
