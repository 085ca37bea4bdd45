"""lava-dl's reference networks and golden traces (:mod:`loihi_snn.reference`) through the
toolkit's loader: each golden trace against the toolkit's Lava run as lava-dl's own test compares
it, and the fast backend against that Lava run, or refusing the file before it runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from loihi_snn import reference
from loihi_snn.cli import main
from loihi_snn.errors import LoihiSnnError
from loihi_snn.ir.hdf5 import read_network

CASES = {case.name: case for case in reference.CASES}
# What the fast backend does with each case: "runs" (exactly as Lava, compared below) or
# "refused" (before running, naming layer and feature). Update it as the fast backend grows.
FAST = {
    "mnist": "runs",
    "tinynet": "runs",
    "pilotnet_lif": "runs",
    "pilotnet_sdnn": "runs",
    "pilotnet_sdnn_square": "runs",
    "ntidigits": "runs",
    "dense": "runs",
    "complex_dense": "runs",
    "tinynet_sdnn": "runs",
    "tinynet_sigma": "runs",
}
# the feature a refusal names, per case
REFUSED_FOR: dict[str, str] = {}


@pytest.fixture(scope="module")
def lava_run(tmp_path_factory) -> Callable[[str], reference.Run]:
    """A case's Lava run by name, run once for the whole module (whatever the test order)."""
    runs: dict[str, reference.Run] = {}

    def get(name: str) -> reference.Run:
        if name not in runs:
            runs[name] = reference.run_case(CASES[name], tmp_path_factory.mktemp(name))
        return runs[name]

    return get


def test_the_support_table_names_every_case():
    assert set(FAST) == set(CASES)
    assert {name for name, what in FAST.items() if what == "refused"} == set(REFUSED_FOR)


@pytest.mark.lava
@pytest.mark.parametrize("name", [c.name for c in reference.CASES if c.golden])
def test_lava_reproduces_the_golden_traces(lava_run, name):
    goldens = CASES[name].golden(lava_run(name).traces)
    assert goldens
    wrong = {g.what: f"{g.mismatches} of {g.compared}" for g in goldens if g.mismatches}
    assert not wrong, f"{name}: mismatches against lava-dl's golden traces: {wrong}"
    assert sum(g.events for g in goldens) > 0  # the traces hold activity, not only silence


@pytest.mark.lava
@pytest.mark.parametrize("name", list(FAST))
def test_fast_backend_equals_lava_or_refuses_before_running(lava_run, name):
    from loihi_snn.backends.fast import FastRunner

    run = lava_run(name)
    if FAST[name] == "refused":
        # the runner is built from the network alone, before any input is looked at
        with pytest.raises(LoihiSnnError) as refusal:
            FastRunner(run.graph)
        message = str(refusal.value)
        assert "layer " in message and REFUSED_FOR[name] in message, message
        return
    mismatches = reference.fast_mismatches(run, CASES[name].steps)
    assert mismatches == 0, f"{name}: the fast backend differs from Lava in {mismatches} entries"
    assert sum(int(s.sum()) for s in run.lava.spikes) > 0


@pytest.mark.lava
def test_sigma_delta_outputs_are_graded_payloads(lava_run):
    """Sigma-delta layers send graded payloads, kept whole (not cast to 0/1 spikes); the readout
    of PilotNet-SDNN's Sigma output is its value at the sample's last step."""
    result = lava_run("pilotnet_sdnn").lava
    assert result.outputs is not None and all(o is not None for o in result.outputs)
    assert max(int(np.abs(o).max()) for o in result.outputs) > 1 << 8
    for spikes, payloads in zip(result.spikes, result.outputs, strict=True):
        np.testing.assert_array_equal(spikes, payloads != 0)
    np.testing.assert_array_equal(result.readout, result.outputs[-1][:, :, -1])


def test_an_average_last_layer_is_the_readout_over_groups_of_output_neurons():
    """N-TIDIGITS ends in lava-dl's ``average`` block (11 classes over 242 neurons): the fast
    backend's readout is the output layer's spike counts summed per group of 22 neurons."""
    from loihi_snn.backends.fast import run_fast

    path, inputs = CASES["ntidigits"].make(None)
    graph = read_network(path)
    assert graph.readout_groups == 11 and graph.layers[-1].neurons == 242
    result = run_fast(graph, inputs, CASES["ntidigits"].steps)
    counts = result.spikes[-1].sum(-1)
    assert counts.sum() > 0
    np.testing.assert_array_equal(result.readout, counts.reshape(1, 11, 22).sum(2))


@pytest.mark.parametrize("where, message", [
    ("middle", r"layer 2 is of type 'average'"),
    ("uneven", r"layer 3 \(average\) makes 7 groups of the 12 neurons"),
])
def test_an_average_layer_the_toolkit_cannot_read_is_refused(tmp_path, where, message):
    dense = {"type": "dense", "shape": [12], "weight": np.ones((12, 4)),
             "neuron": {"type": "CUBA", "iDecay": 4096, "vDecay": 0, "vThMant": 10}}
    average = {"type": "average", "shape": [7 if where == "uneven" else 3, 1, 1]}
    second = {**dense, "weight": np.ones((12, 12))}
    layers = [{"type": "input", "shape": [4]}, dense, average, second]
    if where == "uneven":
        layers = [*layers[:2], second, average]
    path = reference._write_netx(tmp_path / "avg.net", layers)
    with pytest.raises(LoihiSnnError, match=message):
        read_network(path)


@pytest.mark.lava
def test_cli_sim_runs_a_sigma_delta_file_on_both_backends(tmp_path, capsys):
    path, inputs = CASES["pilotnet_sdnn"].make(tmp_path)  # one sample of 9 steps
    np.save(tmp_path / "x.npy", inputs)
    args = ["sim", str(path), "--input", str(tmp_path / "x.npy"), "--steps", "9"]
    assert main(args) == 0
    assert "Lava Loihi2SimCfg fixed_pt: 1 samples" in capsys.readouterr().out
    assert main([*args, "--backend", "fast"]) == 0
    out, err = capsys.readouterr()
    assert "1 samples" in out and "Traceback" not in err
