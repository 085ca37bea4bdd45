"""Synaptic delays (netx's DelayDense): the fast backend equals Lava fixed_pt in spikes, u and v;
the reader refuses the delays netx would drop or clip."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from loihi_snn.backends.fast import run_fast
from loihi_snn.errors import LoihiSnnError
from loihi_snn.ir.hdf5 import read_network

STEPS = 5


def _write_delayed(path, delays: bool = True) -> None:
    """input 12 -> dense 20 (per-synapse delays up to 62; some neurons' bias alone crosses the
    threshold, so they fire before the layer's first window) -> dense 16 (one delay per output
    neuron, as SLAYER's axonal delays) -> dense 6 (one per input, and a bias)."""
    rng = np.random.default_rng(3)
    layers = [
        (20, rng.integers(-60, 120, (20, 12)), rng.integers(0, 63, (20, 12)), 300),
        (16, rng.integers(-50, 110, (16, 20)), rng.integers(0, 63, 16), 40),
        (6, rng.integers(-60, 110, (6, 16)), rng.integers(0, 40, 16), 20),
    ]
    with h5py.File(path, "w") as f:
        f.create_dataset("simulation/Ts", data=1)
        f.create_dataset("simulation/tSample", data=STEPS)
        g = f.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array([12]))
        for index, (size, weight, delay, bias_top) in enumerate(layers, 1):
            g = f.create_group(f"layer/{index}")
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([size]))
            g.create_dataset("weight", data=weight.astype(np.float32))
            g.create_dataset("bias", data=rng.integers(-20, bias_top, size).astype(np.float32))
            if delays:
                g.create_dataset("delay", data=delay.astype(np.float32))
            for key, value in (("iDecay", 1024), ("vDecay", 256), ("vThMant", 80)):
                g.create_dataset(f"neuron/{key}", data=value)
            g.create_dataset("neuron/type", data=b"CUBA")


@pytest.mark.lava
def test_delays_up_to_62_steps_across_samples_and_batches(tmp_path):
    """Delays of up to 62 steps with 5 steps per sample: a spike reaches up to 12 samples later,
    across the fast backend's batches, and the first layers' spikes before their windows reach
    the first samples; spikes, u and v equal Lava's at every step."""
    from loihi_snn.backends.lava import run_lava

    path = tmp_path / "delayed.net"
    _write_delayed(path)
    inputs = (np.random.default_rng(8).random((24, 12, STEPS)) < 0.3).astype(np.int32)
    lava = run_lava(path, inputs, record_states=True)
    fast = run_fast(path, inputs, record_states=True, batch_size=5)
    for name in ("spikes", "u", "v"):
        for k, (a, b) in enumerate(zip(getattr(fast, name), getattr(lava, name), strict=True)):
            assert np.array_equal(a, b), f"{name} of layer {k}: {(a != b).sum()} mismatches"
    assert all(0 < s.mean() < 1 for s in lava.spikes)
    plain = tmp_path / "plain.net"
    _write_delayed(plain, delays=False)
    undelayed = run_fast(plain, inputs)
    assert not all(np.array_equal(a, b) for a, b in zip(undelayed.spikes, lava.spikes, strict=True))


def test_a_second_run_starts_afresh(tmp_path):
    """Delayed synapses carry their sources' last steps from batch to batch within a run, never
    into the next run."""
    path = tmp_path / "delayed.net"
    _write_delayed(path)
    graph = read_network(path)
    inputs = (np.random.default_rng(2).random((6, 12, STEPS)) < 0.3).astype(np.int32)
    whole = run_fast(graph, inputs, batch_size=6)
    from loihi_snn.backends.fast import FastRunner

    runner = FastRunner(graph)
    run_fast(graph, inputs[::-1], runner=runner)
    again = run_fast(graph, inputs, batch_size=2, runner=runner)
    for a, b in zip(whole.spikes, again.spikes, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("delay", "message"),
    [
        (np.full((512, 784), 70.0), r"span \[70, 70\] steps; Loihi 2 and netx take 0 to 62"),
        (np.full(512, -1.0), r"span \[-1, -1\]"),
        (np.full(784, 2.5), "whole numbers of steps"),
        (np.full(513, 2.0), r"\(513,\) synaptic delays fit neither"),
    ],
)
def test_delays_netx_would_clip_or_misread_are_refused(netx_assets, tmp_path, delay, message):
    net = tmp_path / "mnist.net"
    shutil.copy(netx_assets / "mnist.net", net)
    with h5py.File(net, "r+") as f:
        f["layer/1"].create_dataset("delay", data=delay)
    with pytest.raises(LoihiSnnError, match=r"layer 1 \(dense\): .*" + message):
        read_network(net)


def test_delays_on_a_conv_layer_are_refused(netx_assets, tmp_path):
    """netx builds conv layers without delays: running such a file would drop them."""
    net = tmp_path / "pilotnet.net"
    shutil.copy(netx_assets / "gts" / "pilotnet_lif" / "network.net", net)
    with h5py.File(net, "r+") as f:
        f["layer/1"].create_dataset("delay", data=np.array(2.0))
    with pytest.raises(LoihiSnnError, match=r"layer 1 \(conv\): synaptic delays on a conv layer"):
        read_network(net)


def test_delays_outside_a_netx_file_are_refused():
    """Only netx builds delayed synapses: the graph builder would run them without their delays,
    so a graph of another origin holding them is refused when validated."""
    from loihi_snn.ir.graph import Graph, Layer, Neuron, Projection
    from loihi_snn.ir.validation import validate

    dense = Projection(0, "dense", np.ones((2, 3)), delay=np.ones((2, 3), np.int64))
    layers = [Layer("input", (3,)), Layer("population", (2,), Neuron(4096, 0, 10), None, [dense])]
    with pytest.raises(LoihiSnnError, match=r"layer 1 \(population\), input 0: synaptic delays"):
        validate(Graph(layers, 4), "code")
    validate(Graph(layers, 4, origin="netx"), "code")
