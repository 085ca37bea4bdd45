"""The model's integer forward pass and Lava fixed_pt agree spike for spike in every layer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from loihi_snn.backends.lava import run_lava
from loihi_snn.data import encode
from loihi_snn.models.sequential import SpikingNet
from loihi_snn.recipe import LayerSpec, NeuronSpec

T = 12
NETWORKS = {
    "strided-cnn": (
        (1, 10, 10),
        [
            LayerSpec("conv", out=4, kernel=3, stride=2, padding=1, threshold=2.0, weight_scale=4),
            LayerSpec("conv", out=8, kernel=3, stride=1, padding=1, weight_scale=4),
            LayerSpec("flatten"),
            LayerSpec("dense", out=16, weight_scale=2),
            LayerSpec("dense", out=5, weight_scale=4),
        ],
    ),
    "mlp": (
        (1, 6, 6),
        [
            LayerSpec("flatten"),
            LayerSpec("dense", out=20, threshold=2.0, weight_scale=4),
            LayerSpec("dense", out=7, weight_scale=4),
        ],
    ),
}


def _model_and_inputs(name: str, encoder: str):
    shape, layers = NETWORKS[name]
    torch.manual_seed(1)
    model = SpikingNet(layers, NeuronSpec(current_decay=0.5, voltage_decay=0.1), shape).eval()
    raw = np.random.default_rng(2).integers(0, 256, (4, *shape))
    return model, encode(raw, encoder, 255, 15, T)


def _model_spikes(model: SpikingNet, x: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        return [s.numpy().astype(np.int8) for s in model.layer_spikes(torch.from_numpy(x).float())]


@pytest.mark.lava
@pytest.mark.parametrize("encoder", ["direct", "rate"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_layer_matches_lava(tmp_path, name, encoder):
    model, x = _model_and_inputs(name, encoder)
    path = model.export_hdf5(tmp_path / "net.net", {"time_steps": T})
    ours = _model_spikes(model, x)
    lava = run_lava(path, x).spikes
    assert [s.shape for s in lava] == [s.shape for s in ours]
    for k, (a, b) in enumerate(zip(ours, lava, strict=True)):
        assert 0 < a.sum() < a.size, f"layer {k} is silent or saturated: the check would be weak"
        assert np.array_equal(a, b), f"layer {k}: {(a != b).sum()} mismatches"


@pytest.mark.lava
def test_a_changed_weight_is_caught(tmp_path):
    """The comparison can fail: raising the weights into one output neuron changes its spikes."""
    model, x = _model_and_inputs("mlp", "direct")
    path = model.export_hdf5(tmp_path / "net.net", {"time_steps": T})
    with h5py.File(path, "r+") as f:
        w = f["layer/3/weight"]
        changed = w[()]
        changed[0] = np.minimum(changed[0] + 8, 254)
        w[...] = changed
    ours, lava = _model_spikes(model, x), run_lava(path, x).spikes
    assert np.array_equal(ours[0], lava[0])
    assert (ours[1] != lava[1]).sum() > 0
