"""lava-dl's own trained networks, run through loihi_snn's loading path."""

from __future__ import annotations

import numpy as np
import pytest

from loihi_snn.backends.lava import run_lava
from loihi_snn.ir.hdf5 import read_netx

PILOTNET_LAYERS = ["input"] + [f"conv-{i}" for i in range(5)] + [f"fc-{i}" for i in range(4)]


def _golden_spikes(folder, name: str) -> np.ndarray:
    path = folder / f"{name}.npy"
    if not path.exists():
        path = folder / f"{name}-s.npy"
    return np.load(path)


@pytest.mark.lava
def test_pilotnet_lif_reproduces_golden_spikes_layer_by_layer(netx_assets):
    """The golden traces are one continuous run from zero state, layer k recorded from step 0;
    layer k's first sample window therefore starts at step k (fc-3's file has the 25 steps it
    needs). Every spike of every layer must match."""
    pilotnet = netx_assets / "gts" / "pilotnet_lif"
    image = np.load(pilotnet / "image.npy")  # (x, y, c) = (200, 66, 3): the input layer's bias
    result = run_lava(pilotnet / "network.net", image.transpose(2, 1, 0)[None], time_steps=16)
    assert len(result.spikes) == len(PILOTNET_LAYERS)
    total = 0
    for k, (name, ours) in enumerate(zip(PILOTNET_LAYERS, result.spikes, strict=True)):
        golden = _golden_spikes(pilotnet, name)
        if golden.ndim == 4:  # (x, y, c, t) -> (c, y, x, t) as loihi_snn orders neurons
            golden = golden.transpose(2, 1, 0, 3)
        golden = golden.reshape(-1, golden.shape[-1])[:, k : k + 16].astype(np.int8)
        assert ours[0].shape == golden.shape, name
        assert np.array_equal(ours[0], golden), f"{name}: {(ours[0] != golden).sum()} mismatches"
        total += int(golden.sum())
    assert total > 100_000  # the comparison covers real activity, not silence


def test_pilotnet_lif_readout_is_the_voltage_of_its_non_spiking_output(netx_assets):
    info = read_netx(netx_assets / "gts" / "pilotnet_lif" / "network.net")
    assert info.input_neuron and info.voltage_readout
    assert info.input_shape == (3, 66, 200)


@pytest.mark.lava
def test_mnist_net_pipelined_run_equals_one_network_per_sample(netx_assets):
    """loihi_snn runs all samples in one compiled network with per-layer reset offsets and feeds
    the input layer through its bias; the reference builds a fresh netx network per sample, as
    lava-dl's own test does, and reads the output layer's voltage after the pipeline has filled."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    path = netx_assets / "mnist.net"
    rng = np.random.default_rng(0)
    images = (rng.random((3, 784)) < 0.2) * rng.random((3, 784))  # sparse strokes in [0, 1)
    bias = np.rint(76 * (images * 2 - 1) + 64).astype(np.int32)  # the file's input transform
    ours = run_lava(path, bias, time_steps=16, record_all=False)
    assert ours.voltage_readout

    reference = []
    for sample in bias:
        net = netx.hdf5.Network(net_config=str(path))
        net.in_layer.neuron.bias_mant.init = sample
        try:
            net.run(
                condition=RunSteps(num_steps=16 + len(net.layers) - 1),
                run_cfg=Loihi2SimCfg(select_tag="fixed_pt"),
            )
            reference.append(net.out_layer.neuron.v.get().astype(np.int64))
        finally:
            net.stop()
    reference = np.stack(reference)
    assert np.abs(reference).max() > 0
    np.testing.assert_array_equal(ours.readout, reference)
