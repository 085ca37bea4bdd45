"""The voltage readout (``train.readout = "voltage"``): a non-spiking output layer whose voltage at
the last step sums its input over the sample; trained in float, compared by ``verify`` value for
value. A residual network exports it with a scale that keeps that sum inside the 24-bit voltage; a
sequential one as a plain netx dense layer without neurons."""

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


@pytest.fixture(scope="module")
def sequential_run(repo, tmp_path_factory):
    """digits_mlp with a voltage readout, one short epoch, exported to <run>/model.net."""
    run = tmp_path_factory.mktemp("readout_mlp") / "run"
    recipe = apply_overrides(
        load_recipe(repo / "train" / "digits_mlp.toml"),
        ["train.readout=voltage", "train.epochs=1", "train.samples_per_epoch=600"],
    )
    train(recipe, run, progress=False)
    export(run, run / "model.net")
    return run


def test_unknown_readouts_and_sparta_networks_are_refused(repo):
    with pytest.raises(LoihiSnnError, match="train.readout must be one of spikes, voltage"):
        _recipe(repo, "train.readout=current")
    sparta = load_recipe(repo / "train" / "fmnist_sparta.toml")
    sparta = apply_overrides(sparta, ["train.readout=voltage"])
    with pytest.raises(LoihiSnnError, match="not built for SPARTA networks"):
        build_model(sparta, load_dataset("digits"))


def _change_a_readout_weight(run, tmp_path, group: str):
    """A copy of <run>/model.net (and its checkpoint) in ``tmp_path`` with the smallest weight of
    the last layer (``group`` of it: the weight dataset) raised by 2: no spike changes."""
    shutil.copy(run / "checkpoint.pt", tmp_path / "checkpoint.pt")
    changed = tmp_path / "model.net"
    shutil.copy(run / "model.net", changed)
    with h5py.File(changed, "r+") as f:
        last = max(f["layer"], key=int)
        weight = f[f"layer/{last}/{group}"]
        w = weight[...]
        w[np.unravel_index(np.argmin(np.abs(w)), w.shape)] += 2
        weight[...] = w
    return changed


def test_a_sequential_readout_is_plain_netx_and_verify_compares_its_voltage(
    sequential_run, tmp_path
):
    """The output layer has no neuron group (netx's silent fallback neuron reads it) and the
    model's eval voltages equal the fast backend's value for value."""
    from lava.lib.dl import netx

    path = sequential_run / "model.net"
    with h5py.File(path) as f:
        assert "neuron" not in f[f"layer/{max(f['layer'], key=int)}"]
    assert len(netx.hdf5.Network(net_config=str(path))) == 2
    graph = read_network(path)
    assert graph.voltage_readout
    checks = verify(path, n=40, backend="fast")
    assert [c.mismatches for c in checks] == [0] * len(checks)
    assert checks[-1].voltage and checks[0].model_spikes > 0
    changed = _change_a_readout_weight(sequential_run, tmp_path, "weight")
    checks = verify(changed, n=40, backend="fast")
    assert checks[0].mismatches == 0 and checks[-1].mismatches > 0


@pytest.mark.lava
def test_lava_reads_the_same_sequential_voltages(sequential_run):
    checks = verify(sequential_run / "model.net", n=3, backend="lava")
    assert [c.mismatches for c in checks] == [0] * len(checks)
    assert checks[-1].voltage


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
    changed = _change_a_readout_weight(voltage_run, tmp_path, "inputs/0/weight")
    checks = verify(changed, n=6, backend="fast")
    assert [c.mismatches for c in checks[:-1]] == [0] * (len(checks) - 1)
    assert checks[-1].mismatches > 0


@pytest.mark.lava
def test_lava_reads_the_same_voltages(voltage_run):
    checks = verify(voltage_run / "model.net", n=3, backend="lava")
    assert [c.mismatches for c in checks] == [0] * len(checks)
    assert checks[-1].voltage
