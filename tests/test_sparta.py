"""The SPARTA model end to end on digits (8 x 8 images, 2 x 2 patches = 16 tokens, T = 4): the
recipe builds it, training runs, the eval forward is the exported graph's integer twin, the file
reads back, ``verify`` reports 0 mismatches per layer against the fast backend and against Lava
fixed_pt (dynamic and fixed K), the synaptic-operation count, and ``plot-sparta`` writes a PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loihi_snn.cli import main
from loihi_snn.errors import LoihiSnnError
from loihi_snn.evaluation import verify
from loihi_snn.export import export
from loihi_snn.ir.hdf5 import read_graph
from loihi_snn.mechanisms.token_select.report import analyse
from loihi_snn.mechanisms.token_select.rules import fixed_k
from loihi_snn.models.sparta import SpartaNet
from loihi_snn.recipe import parse_recipe
from loihi_snn.train import build_model, load_checkpoint, train

RECIPE = """
name = "digits_sparta"
seed = 0
[data]
dataset = "digits"
encoder = "direct"
levels = 16
time_steps = 4
[neuron]
threshold = 1.0
current_decay = 1.0
voltage_decay = 0.1
[[layers]]
type = "hilif"
out = 4
kernel = 2
stride = 2
weight_scale = 0.3
[[layers]]
type = "token_select"
[[layers]]
type = "dense"
out = 10
[sparta]
dv_step = 512
mode = "{mode}"
sparsity = {sparsity}
k_min = 3
sparsity_weight = 0.2
[train]
epochs = 1
samples_per_epoch = 320
batch_size = 32
lr = 0.005
logit_scale = 2.0
"""


def recipe(mode: str = "dynamic", sparsity: float = 0.5):
    return parse_recipe(RECIPE.format(mode=mode, sparsity=sparsity), "test")


@pytest.fixture(scope="module", params=["dynamic", "fixed"])
def run(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"sparta_{request.param}") / "run"
    train(recipe(request.param, 0.75), path, progress=False)
    export(path, path / "model.net")
    return path


def test_recipe_builds_the_model_and_refuses_bad_layouts() -> None:
    from loihi_snn.data import load_dataset

    data = load_dataset("digits", "", 0.2, 0)
    model = build_model(recipe(), data)
    assert isinstance(model, SpartaNet) and model.token_shape == (4, 4, 4)
    bad = RECIPE.format(mode="dynamic", sparsity=0.5).replace(
        'type = "token_select"', 'type = "dense"\nout = 8'
    )
    with pytest.raises(LoihiSnnError, match="hilif, token_select"):
        build_model(parse_recipe(bad, "bad"), data)
    with pytest.raises(LoihiSnnError, match="mode"):
        build_model(recipe("sometimes"), data)


@pytest.mark.lava
def test_training_forward_backward_reaches_every_part() -> None:
    from loihi_snn.data import load_dataset

    data = load_dataset("digits", "", 0.2, 0)
    model = build_model(recipe(), data)
    model.train()
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 17, (8, 1, 8, 8, 4))).float()
    loss = model(x).sum() + model.aux_loss()
    loss.backward()
    for name in ("hilif.w", "hilif.vth", "hilif.conv.weight", "select.alpha", "select.gate_on",
                 "select.fc1.weight"):
        param = dict(model.named_parameters())[name]
        assert param.grad is not None, name


@pytest.mark.lava
def test_eval_is_the_file_and_verify_is_bit_exact(run) -> None:
    graph = read_graph(run / "model.net")
    kinds = [layer.kind for layer in graph.layers]
    assert kinds[0] == "input" and kinds[-1] == "population"
    assert "token_select" in kinds and "concat" in kinds
    for backend in ("fast", "lava"):
        checks = verify(run / "model.net", n=8, backend=backend)
        assert len(checks) == len(graph.populations)
        assert all(c.mismatches == 0 for c in checks), (backend, checks)
        assert sum(c.model_spikes for c in checks) > 0


@pytest.mark.lava
def test_selection_and_synaptic_ops(run) -> None:
    trained, _ = load_checkpoint(run)
    graph = read_graph(run / "model.net")
    rng = np.random.default_rng(1)
    x = rng.integers(0, 17, (6, 1, 8, 8, 4))
    info = analyse(graph, x)
    sel = info["select"]
    assert (sel.mask.reshape(6, -1).sum(1) == sel.k).all()
    if trained.recipe.sparta.mode == "fixed":
        assert (sel.k == fixed_k(0.75, 16)).all()
    else:
        assert (sel.k >= 3).all()
    # the token selection's output projection: non-zero payloads x non-zero weights per source
    index = next(i for i, layer in enumerate(graph.layers) if layer.kind == "token_select")
    dense = graph.layers[index + 1].inputs[0]
    fan = (dense.weight != 0).sum(0)
    events = (sel.y != 0).reshape(6, -1, 4).sum(-1)
    key = f"layer {index + 1} (population) <- layer {index} (token_select) via dense"
    assert info["sops"][key] == pytest.approx(float((events * fan).sum()) / 6)
    assert all(v >= 0 for v in info["sops"].values()) and sum(info["sops"].values()) > 0


@pytest.mark.lava
def test_plot_command_writes_a_png(run, tmp_path) -> None:
    out = tmp_path / "sparta.png"
    assert main(["plot-sparta", str(run / "model.net"), "-n", "2", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot-sparta", str(run / "model.net"), "-n", "0", "-o", str(out)]) == 2


@pytest.mark.lava
def test_stats_command_matches_the_trained_model(run, capsys) -> None:
    from loihi_snn.mechanisms.token_select.report import selection_stats
    from loihi_snn.train import evaluate

    trained, _ = load_checkpoint(run)
    stats = selection_stats(run / "model.net", 60, batch=25)
    assert stats["samples"] == 60
    assert stats["accuracy"] == pytest.approx(evaluate(trained.model, trained.data,
                                                       trained.recipe, limit=60))
    assert 0 <= stats["sparsity"] < 1 and stats["sops"] > 0
    assert main(["sparta-stats", str(run / "model.net"), "-n", "10", "-v"]) == 0
    assert "SOPs / sample" in capsys.readouterr().out


@pytest.mark.lava
def test_training_layer_spikes_follow_the_file_layout() -> None:
    from loihi_snn.data import load_dataset

    data = load_dataset("digits", "", 0.2, 0)
    model = build_model(recipe("fixed", 0.5), data)
    model.train()
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 17, (3, 1, 8, 8, 4))).float()
    with torch.no_grad():
        train_layers = model.layer_spikes(x)
    model.eval()
    with torch.no_grad():
        eval_layers = model.layer_spikes(x)
    assert [t.shape for t in train_layers] == [t.shape for t in eval_layers]
    rec = train_layers[-2].reshape(3, 4, 4, 4, 4)  # (n, C, H, W, T): s M, K = 8 tokens of 16
    assert ((rec.sum((1, 4)) > 0).reshape(3, -1).sum(1) <= fixed_k(0.5, 16)).all()
