"""SpiLiFormer's attention in the graph models: FF-LiDiff (and QKFormer's token attention) as
fixed synapses and stock LIF populations, the coincidence population an exact AND; FB-LiDiff as
two passes sharing their weights, the Q (K^T V) product in a qktv layer; the trained model
bit-exact in Lava and the fast backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loihi_snn.backends.fast import FastRunner
from loihi_snn.errors import LoihiSnnError
from loihi_snn.evaluation import verify
from loihi_snn.export import export
from loihi_snn.mechanisms.lidiff.rules import coincidence, fan_out, token_weights
from loihi_snn.models.resnet import GraphNet
from loihi_snn.recipe import apply_overrides, load_recipe
from loihi_snn.train import train

from .conftest import REPO


def _recipe(*overrides: str):
    return apply_overrides(load_recipe(REPO / "train" / "digits_spiliformer.toml"), list(overrides))


def test_token_weights_excite_with_one_half_of_a_heads_queries_and_inhibit_with_the_other():
    w = token_weights("lidiff", 8, 2)[:, :, 0, 0]
    np.testing.assert_array_equal(w, [[1, 1, -1, -1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, -1, -1]])
    np.testing.assert_array_equal(token_weights("qkta", 8, 2)[:, :, 0, 0], np.abs(w))
    np.testing.assert_array_equal(fan_out(8, 2)[:, :, 0, 0], np.abs(w).T)
    with pytest.raises(LoihiSnnError, match="multiple of 4 channels"):
        token_weights("lidiff", 6, 2)


def test_heads_that_do_not_split_the_channels_are_refused_naming_the_layer():
    recipe = _recipe("layers.1.heads=3")
    with pytest.raises(LoihiSnnError, match=r"layer #1 \(lidiff\).*multiple of 6 channels"):
        GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))


def test_the_coincidence_population_is_the_and_of_its_heads_attention_and_its_keys():
    torch.manual_seed(0)
    recipe = _recipe()
    model = GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))
    model.check_ready()
    graph = model.to_graph(4)
    k, a, m = 3, 4, 5  # the first block's K, attention and coincidence populations
    assert graph.layers[a].shape == (2, 8, 8)  # one attention neuron per token and head
    assert (graph.layers[m].neuron.i_decay, graph.layers[m].neuron.v_decay) == (4096, 4096)
    x = np.random.default_rng(0).integers(0, 17, (6, 1, 8, 8, 4))
    traces = FastRunner(graph).run_file_order(x, 4)
    spikes = {i: traces[i][0].transpose(0, 2, 1).reshape(6, *graph.layers[i].shape, 4)
              for i in (k, a, m)}
    assert spikes[a].any() and spikes[k].any()  # neither side silent: the AND is tested
    np.testing.assert_array_equal(spikes[m], coincidence(spikes[a], spikes[k], heads=2))
    # the float forward has the exported populations, in file order
    xt = torch.from_numpy(x).float()
    assert len(model.train()._float_layers(xt)[0]) == len(graph.populations)


def test_the_fb_lidiff_stage_runs_its_blocks_twice_with_the_same_weights_and_the_feedback():
    torch.manual_seed(0)
    recipe = _recipe("layers.3.type=fblidiff")
    model = GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))
    model.check_ready()
    for term in model.terms:
        if term.prompts is not None:  # some prompts closed, one inhibiting: folded at export
            with torch.no_grad():
                term.prompts[0, :3] = 0.0
                term.prompts[1, 3] = 0.5
    graph = model.to_graph(4)
    qktv = [i for i, layer in enumerate(graph.layers) if layer.kind == "qktv"]
    assert len(qktv) == 2 and all(graph.layers[i].params.heads == 2 for i in qktv)
    for i in qktv:  # X = Q + 2 K + 4 V
        assert [float(p.weight[0]) for p in graph.layers[i].inputs] == [1.0, 2.0, 4.0]
    (q1, k1, v1), (q2, k2, v2) = ([p.source for p in graph.layers[i].inputs] for i in qktv)
    stage_input = graph.layers[q1].inputs[0].source
    assert [p.source for p in graph.layers[q2].inputs] == [stage_input]  # pass 2: same input
    feedback = graph.layers[k2].inputs[1].source  # K of pass 2 also reads X_FB
    pass1_y = qktv[0] + 4  # after the qktv layer: its attention LIF, O, the MLP's U and Y
    assert [p.source for p in graph.layers[feedback].inputs] == [pass1_y]
    gains = graph.layers[feedback].inputs[0].weight[0, :, 0, 0]
    assert (gains[:3] == 0).all() and gains[3:].any()
    # the same synapses in both passes: pass 2's Terms share pass 1's parameters
    twins = [t for t in model.terms if t.kind == "conv"]
    shared = {id(t.synapse.weight) for t in twins}
    assert len(shared) < len(twins)
    x = torch.randint(0, 17, (3, 1, 8, 8, 4)).float()
    assert len(model.train()._float_layers(x)[0]) == len(graph.populations)
    traces = FastRunner(graph).run_file_order(x.numpy().astype(np.int64), 4)
    assert all(traces[i][0].any() for i in qktv)


@pytest.mark.lava
def test_a_trained_transformer_is_bit_exact_in_lava_and_the_fast_backend(tmp_path):
    """FF-LiDiff in stage 1 and an FB-LiDiff stage 2: every kind of attention layer at once."""
    recipe = _recipe("train.epochs=1", "train.samples_per_epoch=256", "layers.3.type=fblidiff")
    run = tmp_path / "run"
    train(recipe, run, progress=False)
    export(run, run / "model.net")
    for backend in ("lava", "fast"):
        checks = verify(run / "model.net", n=4, backend=backend)
        assert [c.mismatches for c in checks] == [0] * len(checks), backend
        spiking = {c.index for c in checks if c.model_spikes > 0}
        # stage 1's attention and coincidence populations, both passes' qktv and attention LIFs
        assert {4, 5, 13, 14, 22, 23} <= spiking, checks


def test_plot_attention_finds_every_attention_layer_in_the_file_and_maps_its_tokens(tmp_path):
    import json

    from loihi_snn.cli import main
    from loihi_snn.ir.hdf5 import write_graph

    torch.manual_seed(0)
    recipe = _recipe("layers.1.type=qkta", "layers.3.type=fblidiff")
    model = GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))
    model.check_ready()
    net = write_graph(model.to_graph(4), tmp_path / "model.net", {})
    x = np.random.default_rng(1).integers(0, 17, (3, 1, 8, 8, 4))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "att.png"
    assert main(["plot-attention", str(net), "--input", str(tmp_path / "x.npy"), "-n", "3",
                 "-o", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert [layer["kind"] for layer in report["layers"]] == ["qkta", "qktv", "qktv"]
    assert [layer["number"] for layer in report["layers"]] == [4, 13, 22]
    maps = np.array(report["layers"][0]["maps"])
    assert maps.shape == (3, 8, 8) and 0 < maps.max() <= 1
    assert out.stat().st_size > 0
