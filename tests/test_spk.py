"""SpikeAtConv's SPK blocks (SL, RL, MBPL) in the residual models: one stock LIF population per
branch, every reader of the block reading each branch, exact in Lava."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loihi_snn.errors import LoihiSnnError
from loihi_snn.evaluation import verify
from loihi_snn.export import export
from loihi_snn.models.resnet import GraphNet
from loihi_snn.recipe import apply_overrides, load_recipe
from loihi_snn.train import train

from .conftest import REPO


def _recipe(kind: str, thresholds: str):
    recipe = load_recipe(REPO / "train" / "digits_resnet.toml")
    return apply_overrides(recipe, [f"neuron.spk={kind}", f"neuron.spk_thresholds={thresholds}"])


def test_mbpl_exports_one_population_per_branch_and_its_readers_read_every_branch():
    recipe = _recipe("mbpl", "0.5,1,2")
    model = GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))
    model.check_ready()
    graph = model.to_graph(8)
    # stem, and the two populations of each of the two residual blocks: 3 branches each
    stem = graph.layers[1:4]
    vths = [layer.neuron.vth for layer in stem]
    assert vths[0] < vths[1] < vths[2]
    assert vths[2] == pytest.approx(4 * vths[0], abs=2)  # thresholds 0.5, 1, 2 x one scale
    for branch in stem:  # the same synapses from the input into every branch
        np.testing.assert_array_equal(branch.inputs[0].weight, stem[0].inputs[0].weight)
    reader = graph.layers[4]  # block 1's middle neurons read the stem's three branches
    assert [p.source for p in reader.inputs] == [1, 2, 3]
    for p in reader.inputs[1:]:
        np.testing.assert_array_equal(p.weight, reader.inputs[0].weight)
    # the float forward's layers are the exported populations, in file order
    x = torch.randint(0, 17, (2, 1, 8, 8, 8)).float()
    assert len(model.train()._float_layers(x)[0]) == len(graph.populations) == 3 * 5 + 2


def test_rl_exports_its_second_lif_reading_the_first():
    recipe = _recipe("rl", "1,1.5")
    model = GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))
    model.check_ready()
    graph = model.to_graph(8)
    second = graph.layers[2]
    assert [(p.source, p.kind) for p in second.inputs] == [(1, "identity")]
    assert [p.source for p in graph.layers[3].inputs] == [1, 2]  # Y = S1 + S2


@pytest.mark.parametrize("kind, thresholds", [("rl", "1"), ("mbpl", "1"), ("sl", "1,2"),
                                              ("mbpl", "0,1"), ("max", "1")])
def test_wrong_spk_thresholds_are_refused(kind, thresholds):
    with pytest.raises(LoihiSnnError, match="neuron.spk: SPK block"):
        _recipe(kind, thresholds)


@pytest.mark.lava
@pytest.mark.parametrize("kind, thresholds", [("mbpl", "0.4,1,2"), ("rl", "1,1.2")])
def test_trained_spk_models_are_bit_exact_in_lava_and_the_fast_backend(tmp_path, kind,
                                                                        thresholds):
    recipe = apply_overrides(_recipe(kind, thresholds), ["train.epochs=1"])
    run = tmp_path / kind
    train(recipe, run, progress=False)
    export(run, run / "model.net")
    for backend in ("lava", "fast"):
        checks = verify(run / "model.net", n=4, backend=backend)
        assert [c.mismatches for c in checks] == [0] * len(checks), backend
        assert sum(c.model_spikes > 0 for c in checks) >= len(checks) - 1


def test_plot_spk_finds_every_block_in_the_file_and_draws_its_branches(tmp_path, capsys):
    import json

    from loihi_snn.cli import main

    torch.manual_seed(0)
    rates = {}
    for kind, thresholds in (("mbpl", "0.5,1,2"), ("rl", "1,2.4"), ("sl", "1")):
        recipe = _recipe(kind, thresholds)
        model = GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))
        path = model.export_hdf5(tmp_path / f"{kind}.net", {"time_steps": 8})
        x = np.random.default_rng(0).integers(0, 17, (3, 1, 8, 8, 8))
        np.save(tmp_path / "x.npy", x)
        args = ["plot-spk", str(path), "--input", str(tmp_path / "x.npy"), "-n", "3",
                "-o", str(tmp_path / f"{kind}.png")]
        if kind == "sl":  # one LIF per population: no block to draw
            assert main(args) == 2
            assert "has no SPK block" in capsys.readouterr().err
            continue
        assert main(args) == 0
        assert (tmp_path / f"{kind}.png").stat().st_size > 0
        blocks = json.loads((tmp_path / f"{kind}.json").read_text())["blocks"]
        assert len(blocks) == 5  # the stem and two populations in each of the two blocks
        assert {len(b["rates"]) for b in blocks} == {3 if kind == "mbpl" else 2}
        assert all(b["vth"] == sorted(b["vth"]) for b in blocks)
        rates[kind] = blocks
    # MBPL's branches read the same current: a higher threshold never fires more
    assert all(b["rates"] == sorted(b["rates"], reverse=True) for b in rates["mbpl"])
