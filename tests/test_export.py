"""Exported files load in lava-dl's own netx unchanged, hold the trained integers, and are
written atomically."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from lava.lib.dl import netx

from loihi_snn.models.sequential import SpikingNet
from loihi_snn.recipe import LayerSpec, NeuronSpec

CNN = [
    LayerSpec("conv", out=4, kernel=3, stride=2, padding=1, threshold=4.0),
    LayerSpec("conv", out=6, kernel=3, stride=2, padding=1),
    LayerSpec("flatten"),
    LayerSpec("dense", out=10),
]


@pytest.mark.lava
def test_vanilla_netx_loads_the_digits_export(digits_run):
    net = netx.hdf5.Network(net_config=str(digits_run / "model.net"))
    assert len(net) == 2  # dense 128, dense 10: the shape-only input and the flatten add no process
    assert net.inp.shape == (64,) and net.out.shape == (10,)


def test_vanilla_netx_loads_a_strided_cnn_and_infers_its_input_shape(tmp_path):
    model = SpikingNet(CNN, NeuronSpec(), (1, 12, 12))
    path = model.export_hdf5(tmp_path / "cnn.net", {"time_steps": 4})
    net = netx.hdf5.Network(net_config=str(path))
    assert len(net) == 3
    assert net.inp.shape == (12, 12, 1)  # netx's (x, y, c) from the input layer's shape
    assert net.layers[0].out.shape == (6, 6, 4) and net.layers[1].out.shape == (3, 3, 6)


@pytest.mark.lava
def test_file_holds_the_quantised_weights_and_neuron_integers(digits_run):
    from loihi_snn.train import load_checkpoint

    trained, _ = load_checkpoint(digits_run)
    with h5py.File(digits_run / "model.net", "r") as f:
        meta = json.loads(f.attrs["loihi_snn"])
        assert f.attrs["loihi_snn_format"] == 1 and meta["encoder"] == "direct"
        for index, block in zip((2, 3), trained.model.spiking_blocks, strict=True):
            stored = f[f"layer/{index}/weight"][()]
            w = block.synapse.pre_hook_fx(block.synapse.weight, descale=True)
            expected = w.detach().reshape(stored.shape).numpy()
            assert np.array_equal(stored, expected)
            assert (
                np.array_equal(stored, np.round(stored))
                and -256 <= stored.min() <= stored.max() <= 254
            )
        assert f["layer/2/neuron/vThMant"][()] == 256  # threshold 4.0 x 64
        assert f["layer/3/neuron/vThMant"][()] == 80  # threshold 1.25 x 64
        assert f["layer/2/neuron/iDecay"][()] == 1024 and f["layer/2/neuron/vDecay"][()] == 123


def test_failed_export_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    model = SpikingNet(CNN, NeuronSpec(), (1, 12, 12))
    target = tmp_path / "cnn.net"
    target.write_bytes(b"previous contents")

    def broken(handle):
        raise RuntimeError("disk full")

    monkeypatch.setattr(model.blocks[1], "export_hdf5", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        model.export_hdf5(target, {"time_steps": 4})
    assert target.read_bytes() == b"previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.net"]


def test_model_is_deterministic_in_eval_mode():
    torch.manual_seed(0)
    model = SpikingNet(CNN, NeuronSpec(), (1, 12, 12)).eval()
    x = torch.randint(0, 16, (2, 1, 12, 12, 5)).float()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
