"""Training writes metrics and checkpoints every epoch and resumes exactly."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch

from loihi_snn.distributed import Ranks
from loihi_snn.errors import LoihiSnnError
from loihi_snn.recipe import load_recipe
from loihi_snn.train import CHECKPOINT, train

# loihi_snn.train is the API's function; the module is reached through the import system
loihi_train = importlib.import_module("loihi_snn.train")


def _recipe(repo, epochs, shift=0, flip=False):
    recipe = load_recipe(repo / "train" / "digits_mlp.toml")
    recipe.train.epochs, recipe.train.shift, recipe.train.flip = epochs, shift, flip
    return recipe


@pytest.mark.lava
def test_resume_continues_exactly_where_training_stopped(repo, tmp_path, monkeypatch):
    """Augmented inputs included: they are drawn per sample and epoch."""
    straight = train(_recipe(repo, 2, 1, True), tmp_path / "a", progress=False)

    calls = []

    def interrupted_evaluate(*args):
        calls.append(1)
        if len(calls) == 2:  # killed during epoch 2, before its checkpoint
            raise KeyboardInterrupt
        return real_evaluate(*args)

    real_evaluate = loihi_train.evaluate
    monkeypatch.setattr(loihi_train, "evaluate", interrupted_evaluate)
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(repo, 2, 1, True), tmp_path / "b", progress=False)
    monkeypatch.setattr(loihi_train, "evaluate", real_evaluate)
    assert torch.load(tmp_path / "b" / CHECKPOINT)["epoch"] == 1
    resumed = train(_recipe(repo, 2, 1, True), tmp_path / "b", resume=True, progress=False)
    a = torch.load(tmp_path / "a" / CHECKPOINT)
    b = torch.load(tmp_path / "b" / CHECKPOINT)
    assert a["epoch"] == b["epoch"] == 2
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert straight["test_accuracy"] == resumed["test_accuracy"]
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics] == [1, 2]
    assert metrics[1]["train_loss"] == straight["train_loss"]


@pytest.mark.lava
def test_training_feeds_the_augmented_inputs(repo, tmp_path, monkeypatch):
    fed = []
    real_augment = loihi_train.augment

    def recorded(x, *args):
        out = real_augment(x, *args)
        fed.append((x, out))
        return out

    monkeypatch.setattr(loihi_train, "augment", recorded)
    recipe = _recipe(repo, 1, shift=1, flip=True)
    recipe.train.samples_per_epoch = 64
    plain = _recipe(repo, 1)
    plain.train.samples_per_epoch = 64
    moved = train(recipe, tmp_path / "moved", progress=False)
    assert len(fed) == 2 and all(not np.array_equal(x, out) for x, out in fed)
    assert moved["train_loss"] != train(plain, tmp_path / "plain", progress=False)["train_loss"]


@pytest.mark.lava
def test_label_smoothing_shapes_the_training_loss(repo, tmp_path, monkeypatch):
    """One batch: the epoch's loss is (1 - s) x the label's -log p + s x the mean -log p."""
    seen = []
    real_cross_entropy = loihi_train.F.cross_entropy

    def recorded(logits, y, **kwargs):
        seen.append((logits.detach(), y, kwargs))
        return real_cross_entropy(logits, y, **kwargs)

    monkeypatch.setattr(loihi_train.F, "cross_entropy", recorded)
    recipe = _recipe(repo, 1)
    recipe.train.samples_per_epoch = recipe.train.batch_size
    recipe.train.label_smoothing = 0.2
    loss = train(recipe, tmp_path / "run", progress=False)["train_loss"]
    assert len(seen) == 1
    logits, y, kwargs = seen[0]
    assert kwargs == {"label_smoothing": 0.2}
    log_p = logits.log_softmax(1)
    label_term = log_p.gather(1, y[:, None]).squeeze(1)
    assert loss == pytest.approx(float(-(0.8 * label_term + 0.2 * log_p.mean(1)).mean()), rel=1e-5)


@pytest.mark.lava
def test_a_run_folder_is_never_overwritten(repo, tmp_path):
    train(_recipe(repo, 1), tmp_path / "run", progress=False)
    with pytest.raises(LoihiSnnError, match="already holds a run"):
        train(_recipe(repo, 1), tmp_path / "run", progress=False)


@pytest.mark.lava
def test_resume_refuses_a_different_recipe(repo, tmp_path):
    train(_recipe(repo, 1), tmp_path / "run", progress=False)
    other = _recipe(repo, 1)
    other.train.lr = 0.001
    with pytest.raises(LoihiSnnError, match=r"recipe differs .*train\.lr: 0\.003 -> 0\.001"):
        train(other, tmp_path / "run", resume=True, progress=False)


def test_devices_that_are_not_there_are_refused():
    ranks = Ranks()
    assert ranks.device("cpu") == torch.device("cpu")
    for name in ("tpu", "cuda:x", ""):
        with pytest.raises(LoihiSnnError, match="give cpu, cuda, cuda:N or auto"):
            ranks.device(name)
    if torch.cuda.is_available():
        assert ranks.device("auto").type == "cuda"
    else:
        assert ranks.device("auto") == torch.device("cpu")
        with pytest.raises(LoihiSnnError, match="no CUDA device on this machine"):
            ranks.device("cuda")


@pytest.mark.lava
def test_the_cpu_copy_evaluated_for_another_device_is_the_same_model(repo, tmp_path):
    """A model trained on a GPU is evaluated and saved through a CPU copy: same predictions, same
    state, and the training's random stream untouched."""
    train(_recipe(repo, 1), tmp_path / "run", progress=False)
    trained, _ = loihi_train.load_checkpoint(tmp_path / "run" / CHECKPOINT)
    model = trained.model
    rng = torch.get_rng_state()
    copy = loihi_train._on_cpu(model)
    assert torch.equal(torch.get_rng_state(), rng)
    assert copy is not model
    state = loihi_train.model_state(model)
    for key, value in loihi_train.model_state(copy).items():
        assert torch.equal(value, state[key]), key
    inputs = loihi_train.encode_split(trained.data, trained.recipe, "test", np.arange(50), 1)
    np.testing.assert_array_equal(
        loihi_train.predict(copy, inputs)[0], loihi_train.predict(model, inputs)[0]
    )


@pytest.mark.lava
@pytest.mark.parametrize("readout", ["spikes", "voltage"])
def test_the_epoch_evaluations_predict_what_the_model_predicts(repo, tmp_path, readout):
    """The per-epoch accuracies run a sequential net's exported file in the fast backend: the
    same predictions as lava-dl's integer forward pass of the model in eval mode."""
    recipe = _recipe(repo, 1)
    recipe.train.readout, recipe.train.logit_scale = readout, 1.0
    row = train(recipe, tmp_path / "run", progress=False)
    trained, _ = loihi_train.load_checkpoint(tmp_path / "run" / CHECKPOINT)
    index = np.arange(len(trained.data.y_test))
    inputs = loihi_train.encode_split(trained.data, trained.recipe, "test", index, 1)
    expected = loihi_train.predict(trained.model, inputs)[1]
    twin = loihi_train.twin_predictions(trained.model, recipe.data.time_steps)
    np.testing.assert_array_equal(twin(inputs), expected)
    assert len(np.unique(expected)) == 10  # a trained model, not a constant answer
    assert row["test_accuracy"] == (expected == trained.data.y_test).mean()
