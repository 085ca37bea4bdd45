"""Sigma-delta networks (netx's SDNN neurons) on the fast backend: samples form one stream (no
reset), layers send before their first window, and batches carry the state; each compared with
Lava ``fixed_pt`` through lava-dl's own netx loader."""

from __future__ import annotations

import numpy as np
import pytest

from loihi_snn.backends.fast import FastRunner, run_fast
from loihi_snn.errors import LoihiSnnError
from loihi_snn.ir.graph import SigmaDelta
from loihi_snn.ir.hdf5 import read_network
from loihi_snn.loihi.fixed_point import SD_SIGMA_DELTA, sigma_delta_run
from loihi_snn.reference import _conv_weight, _write_netx, result_mismatches


def _neuron(vth: int, **extra) -> dict:
    return {"type": "SDNN", "activation": "relu", "vThMant": vth, **extra}


def _network(path, rng: np.random.Generator, sigma_output: bool) -> None:
    """input (2, 6, 6) Delta -> conv 3x3 (4 channels) -> flatten -> dense 12 -> dense 5, with
    biases that make every layer send before the input reaches it (netx builds a Sigma output
    without one)."""
    kernel = rng.integers(-40, 41, (4, 3, 3, 2))
    out = _neuron(3, sigma_output=True) if sigma_output else _neuron(2)
    _write_netx(path, [
        {"type": "input", "shape": [2, 6, 6], "neuron": _neuron(1)},
        {"type": "conv", "shape": [4, 4, 4], "weight": _conv_weight(kernel),
         "bias": rng.integers(-3, 6, 4).astype(np.float32), "stride": [1, 1],
         "padding": [0, 0], "dilation": [1, 1], "groups": 1, "neuron": _neuron(2)},
        {"type": "flatten", "shape": [64, 1, 1]},
        {"type": "dense", "shape": [12], "weight": rng.integers(-90, 91, (12, 64)),
         "bias": rng.integers(-2, 9, 12).astype(np.float32), "neuron": _neuron(4)},
        {"type": "dense", "shape": [5], "weight": rng.integers(-120, 121, (5, 12)),
         "neuron": out, **({} if sigma_output else {"bias": np.arange(5.0)})},
    ])


@pytest.mark.lava
@pytest.mark.parametrize("sigma_output", [False, True])
def test_a_stream_of_samples_in_batches_equals_lava(tmp_path, sigma_output):
    from loihi_snn.backends.lava import run_lava

    rng = np.random.default_rng(7)
    path = tmp_path / "sdnn.net"
    _network(path, rng, sigma_output)
    graph = read_network(path)
    assert graph.sigma_delta and not graph.bias_input
    # 5 samples of 6 steps: slowly varying graded frames (delta coding sends their changes)
    frames = rng.integers(0, 60, (5, 2, 6, 6, 1)) + rng.integers(-4, 5, (5, 2, 6, 6, 6)).cumsum(-1)
    lava = run_lava(graph, frames, 6, record_states=True)
    assert all(int(s.sum()) for s in lava.spikes), "a layer never sent: the test proves nothing"
    for batch_size in (2, 5):  # batches carry state across; one batch holds the whole stream
        fast = run_fast(graph, frames, 6, record_states=True, batch_size=batch_size)
        assert result_mismatches(lava, fast) == 0
        np.testing.assert_array_equal(fast.readout, lava.readout)
    # the stream carries state: the last sample alone gives another answer
    alone = run_fast(graph, frames[-1:], 6, record_states=True)
    assert not np.array_equal(alone.outputs[-1][0], lava.outputs[-1][-1])


def test_sigma_delta_rules_on_one_neuron():
    """A SigmaDelta neuron, vth 2 (<< 12) and bias 1 (<< 12): act = ReLU(sigma + bias) and it
    sends a change once |act - sent so far| reaches the threshold, as change >> 6; the rest
    stays as residue."""
    a_in = np.array([[0], [4096], [4096], [4096], [-16384]], np.int64)
    state = [np.zeros(1, np.int64) for _ in range(3)]
    out = np.empty(a_in.shape, np.int32)
    sigma_delta_run(a_in, SD_SIGMA_DELTA, np.array([4096]), 2 << 12, *state, out)
    # act: 4096, 8192, 12288, 16384, 0; deltas: 4096 (kept), 8192 (sent), 4096 (kept),
    # 8192 (sent), -16384 (sent)
    assert out[:, 0].tolist() == [0, 8192 >> 6, 0, 8192 >> 6, -16384 >> 6]
    assert state[0].tolist() == [-4096] and state[2].tolist() == [0]


def test_a_network_mixing_sigma_delta_and_lif_layers_is_refused_by_the_fast_backend(tmp_path):
    rng = np.random.default_rng(1)
    lif = {"type": "CUBA", "iDecay": 4096, "vDecay": 128, "vThMant": 10}
    path = _write_netx(tmp_path / "mixed.net", [
        {"type": "input", "shape": [8], "neuron": _neuron(1)},
        {"type": "dense", "shape": [4], "weight": rng.integers(-50, 51, (4, 8)), "neuron": lif},
    ])
    graph = read_network(path)
    assert isinstance(graph.layers[0].neuron, SigmaDelta)
    with pytest.raises(LoihiSnnError, match=r"layer 0 \(input\) uses sigma-delta neurons beside"):
        FastRunner(graph)


def test_a_sigma_output_with_a_bias_is_refused_when_read(tmp_path):
    path = _write_netx(tmp_path / "sigma_bias.net", [
        {"type": "input", "shape": [3]},
        {"type": "dense", "shape": [2], "weight": np.ones((2, 3)), "bias": np.ones(2),
         "neuron": _neuron(0, sigma_output=True)},
    ])
    with pytest.raises(LoihiSnnError, match=r"layer 1 \(dense\): a bias on a Sigma output"):
        read_network(path)
