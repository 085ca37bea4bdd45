"""verify and sim on a trained digits network: the trained model and Lava agree exactly."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from loihi_snn.cli import main
from loihi_snn.evaluation import simulate, verify


@pytest.mark.lava
def test_verify_finds_zero_mismatches_in_every_layer(digits_run):
    checks = verify(digits_run / "model.net", n=6)
    assert [c.neurons for c in checks] == [128, 10]
    for c in checks:
        assert c.model_spikes > 0 and c.model_spikes == c.lava_spikes
        assert c.mismatches == 0


@pytest.mark.lava
def test_sim_agrees_with_the_trained_model_on_every_prediction(digits_run):
    report = simulate(digits_run / "model.net", n=40)
    assert report.samples == 40
    assert report.agreement == 1.0
    assert report.accuracy > 0.7  # three epochs of training


@pytest.mark.lava
def test_verify_cli_fails_on_a_file_that_differs_from_its_checkpoint(digits_run, capsys):
    tampered = digits_run / "tampered.net"  # same folder: its checkpoint path still resolves
    shutil.copy(digits_run / "model.net", tampered)
    with h5py.File(tampered, "r+") as f:
        w = f["layer/3/weight"]
        changed = w[()]
        changed[np.arange(10), np.arange(10)] = np.clip(
            changed[np.arange(10), np.arange(10)] + 60, -256, 254
        )
        w[...] = changed
    assert main(["verify", str(tampered), "-n", "4"]) == 1
    out = capsys.readouterr().out
    assert "NOT bit-exact" in out
    assert main(["verify", str(digits_run / "model.net"), "-n", "4"]) == 0
    assert "bit-exact: 0 mismatches" in capsys.readouterr().out
