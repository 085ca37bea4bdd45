"""Both backends read a file the same way: the oddities netx accepts (a 1-D dense weight, a
per-channel bias, a per-neuron bias in Lava's (W, H, C) order, no tSample, input samples of
another shape with as many values) give the same spikes, states and readout in the fast backend
as in Lava, which runs the file through netx itself."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from loihi_snn.backends.fast import run_fast
from loihi_snn.backends.lava import run_lava
from loihi_snn.ir.hdf5 import read_network

STEPS = 8


def _odd_file(path) -> None:
    """input (2, 4, 5) -> conv 3x3 (per-channel bias) -> conv 1x1 (per-neuron bias stored
    (W, H, C)) -> flatten -> dense with a 1-D weight -> dense; no simulation group."""
    rng = np.random.default_rng(7)
    geometry = {"stride": [1, 1], "dilation": [1, 1], "groups": 1}
    layers = [
        ("input", [2, 4, 5], {}),
        ("conv", [3, 4, 5], {"weight": rng.integers(-50, 70, (3, 2, 3, 3, 1)),
                             "bias": np.array([40, -20, 10]), "padding": [1, 1], **geometry}),
        ("conv", [2, 4, 5], {"weight": rng.integers(-60, 90, (2, 3, 1, 1, 1)),
                             "bias": rng.integers(-60, 60, (5, 4, 2)), "padding": [0, 0],
                             **geometry}),
        ("flatten", [40, 1, 1], {}),
        ("dense", [6], {"weight": rng.integers(-60, 60, 6 * 40)}),
        ("dense", [4], {"weight": rng.integers(-60, 120, (4, 6))}),
    ]
    with h5py.File(path, "w") as f:
        for i, (kind, shape, entries) in enumerate(layers):
            g = f.create_group(f"layer/{i}")
            g.create_dataset("type", (1,), "S10", [kind.encode()])
            g.create_dataset("shape", data=np.array(shape))
            for key, value in entries.items():
                g.create_dataset(key, data=np.asarray(value, np.float32 if key in (
                    "weight", "bias") else np.int64))
            if kind in ("conv", "dense"):
                for key, value in (("type", b"CUBA"), ("iDecay", 2048), ("vDecay", 1024),
                                   ("vThMant", 70), ("refDelay", 1), ("gradedSpike", False)):
                    g.create_dataset(f"neuron/{key}", data=value)


@pytest.mark.lava
def test_netx_oddities_run_the_same_in_both_backends(tmp_path):
    path = tmp_path / "odd.net"
    _odd_file(path)
    graph = read_network(path)
    assert graph.time_steps is None and graph.input_shape == (2, 4, 5)
    assert graph.layers[3].inputs[0].weight.shape == (6, 40)
    spikes = (np.random.default_rng(1).random((3, 40, STEPS)) < 0.4).astype(np.int32)  # flat
    fast = run_fast(graph, spikes, STEPS, record_states=True)
    lava = run_lava(graph, spikes, STEPS, record_states=True)
    for name in ("spikes", "u", "v"):
        for k, (a, b) in enumerate(zip(getattr(fast, name), getattr(lava, name), strict=True)):
            assert np.array_equal(a, b), f"{name} of population {k}: {(a != b).sum()} differ"
    for k, s in enumerate(fast.spikes):
        assert 0 < s.mean() < 1, f"population {k} is silent or saturated: the test proves little"
    np.testing.assert_array_equal(fast.readout, lava.readout)
