"""The voltage readout (``train.readout = "voltage"``): a non-spiking output layer whose voltage at
the last step sums its input over the sample; trained in float, exported with a scale that keeps
that sum inside the 24-bit voltage, compared by ``verify`` value for value."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from loihi_snn.data import load_dataset
from loihi_snn.errors import LoihiSnnError
from loihi_snn.evaluation import verify
from loihi_snn.export import export
from loihi_snn.ir.hdf5 import read_network
from loihi_snn.loihi.limits import NON_SPIKING_VTH, VTH_MAX
from loihi_snn.recipe import apply_overrides, load_recipe
from loihi_snn.train import build_model, train


def _recipe(repo, *sets: str):
    return apply_overrides(load_recipe(repo / "train" / "digits_resnet.toml"), list(sets))


@pytest.fixture(scope="module")
def voltage_run(repo, tmp_path_factory):
    """digits_resnet with a voltage readout, one short epoch, exported to <run>/model.net."""
    run = tmp_path_factory.mktemp("readout") / "run"
    recipe = _recipe(
        repo, "train.readout=voltage", "train.epochs=1", "train.samples_per_epoch=400"
    )
    train(recipe, run, progress=False)
    export(run, run / "model.net")
    return run


def test_unknown_readouts_and_sequential_networks_are_refused(repo):
    with pytest.raises(LoihiSnnError, match="train.readout must be one of spikes, voltage"):
        _recipe(repo, "train.readout=current")
    mlp = load_recipe(repo / "train" / "digits_mlp.toml")
    mlp = apply_overrides(mlp, ["train.readout=voltage"])
    with pytest.raises(LoihiSnnError, match="residual and attention networks"):
        build_model(mlp, load_dataset("digits"))


@pytest.mark.lava
def test_the_output_never_spikes_and_its_voltage_stays_inside_24_bits(voltage_run):
    graph = read_network(voltage_run / "model.net")
    assert graph.voltage_readout
    out = graph.layers[graph.populations[-1]]
    assert out.neuron.vth == NON_SPIKING_VTH
    (projection,) = out.inputs
    reach = graph.time_steps * np.abs(projection.weight).sum(1).max()  # spikes in, every step
    assert 0 < reach <= VTH_MAX


@pytest.mark.lava
def test_verify_compares_the_readout_voltage_and_catches_a_changed_weight(voltage_run, tmp_path):
    checks = verify(voltage_run / "model.net", n=6, backend="fast")
    assert [c.mismatches for c in checks] == [0] * len(checks)
    assert checks[-1].voltage and checks[-1].model_spikes == checks[-1].lava_spikes == 0
    assert all(not c.voltage for c in checks[:-1])
    # one readout weight off by 2: no spike anywhere changes, the voltages do
    shutil.copy(voltage_run / "checkpoint.pt", tmp_path / "checkpoint.pt")
    changed = tmp_path / "model.net"
    shutil.copy(voltage_run / "model.net", changed)
    with h5py.File(changed, "r+") as f:
        last = max(f["layer"], key=int)
        weight = f[f"layer/{last}/inputs/0/weight"]
        w = weight[...]
        w[np.unravel_index(np.argmin(np.abs(w)), w.shape)] += 2
        weight[...] = w
    checks = verify(changed, n=6, backend="fast")
    assert [c.mismatches for c in checks[:-1]] == [0] * (len(checks) - 1)
    assert checks[-1].mismatches > 0


@pytest.mark.lava
def test_lava_reads_the_same_voltages(voltage_run):
    checks = verify(voltage_run / "model.net", n=3, backend="lava")
    assert [c.mismatches for c in checks] == [0] * len(checks)
    assert checks[-1].voltage
