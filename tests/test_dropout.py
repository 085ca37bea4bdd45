"""``neuron.dropout``: lava-dl's neuron dropout in training, on every family's hidden LIF
populations and never on the classes; evaluation (the integer twin, what is exported) ignores it."""

from __future__ import annotations

import torch

from loihi_snn.models.resnet import GraphNet
from loihi_snn.models.sequential import SpikingNet
from loihi_snn.models.sparta import SpartaNet
from loihi_snn.recipe import LayerSpec, NeuronSpec, load_recipe

from .conftest import REPO

P = 0.5  # survivors' spikes are 1 / (1 - P) = 2 in training


def _input() -> torch.Tensor:
    torch.manual_seed(0)  # the dropout masks
    return torch.randint(0, 16, (6, 1, 8, 8, 5), generator=torch.Generator().manual_seed(0)).float()


def _values(spikes: torch.Tensor) -> set[float]:
    return set(torch.unique(spikes).tolist())


def _hidden_dropped_classes_kept(layers: list[torch.Tensor]) -> None:
    for spikes in layers[:-1]:
        assert _values(spikes) == {0.0, 1 / (1 - P)}
        fired = spikes.sum(-1) > 0  # (sample, neuron): a dropped neuron is silent at every step
        assert 0 < fired.float().mean() < 1
    assert _values(layers[-1]) <= {0.0, 1.0}


def _same_in_eval(model: torch.nn.Module, plain: torch.nn.Module, x: torch.Tensor) -> None:
    plain.load_state_dict(model.state_dict())
    scores = [m.eval().scores(x) for m in (model, plain)]
    assert torch.equal(scores[0], scores[1])
    assert scores[0].abs().sum() > 0


def test_sequential_hidden_layers_drop_in_training_only() -> None:
    torch.manual_seed(0)  # the weights
    layers = [LayerSpec("conv", 4, 3, 2, 1), LayerSpec("flatten"), LayerSpec("dense", 16),
              LayerSpec("dense", 3)]
    model, plain = (SpikingNet(layers, NeuronSpec(threshold=0.5, dropout=p), (1, 8, 8))
                    for p in (P, 0.0))
    x = _input()
    _hidden_dropped_classes_kept(model.train().layer_spikes(x))
    _same_in_eval(model, plain, x)


def test_residual_populations_drop_in_training_only() -> None:
    torch.manual_seed(0)
    layers = [LayerSpec("conv", 4, 3, 1, 1), LayerSpec("resblock", 4), LayerSpec("dense", 3)]
    model, plain = (GraphNet(layers, NeuronSpec(0.5, 1.0, 0.75, dropout=p), (1, 8, 8))
                    for p in (P, 0.0))
    for m in (model, plain):
        m.check_ready()
    x = _input()
    _hidden_dropped_classes_kept(model.train()._float_layers(x)[0])
    _same_in_eval(model, plain, x)


def test_sparta_dense_layers_drop_but_not_the_classes() -> None:
    recipe = load_recipe(REPO / "train" / "fmnist_sparta.toml")
    recipe.neuron.dropout = P
    model = SpartaNet.from_recipe(recipe, (1, 28, 28))
    drops = [neuron.drop for neuron in model.neurons]
    assert [d.p for d in drops[:-1]] == [P] * (len(drops) - 1) and drops[-1] is None
