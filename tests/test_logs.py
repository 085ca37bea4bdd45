"""Training logs (steps.csv, metrics.csv, TensorBoard), the validation split and best.pt, on
short digits runs (64 samples per epoch in batches of 16: 4 steps an epoch)."""

from __future__ import annotations

import importlib
import sys
import time

import numpy as np
import pytest
import torch

from loihi_snn.errors import LoihiSnnError
from loihi_snn.export import export
from loihi_snn.ir.hdf5 import read_network
from loihi_snn.recipe import load_recipe
from loihi_snn.runlog import read_csv
from loihi_snn.train import BEST, CHECKPOINT, load_checkpoint, train, validation_split

# loihi_snn.train is the API's function; the module is reached through the import system
loihi_train = importlib.import_module("loihi_snn.train")


def _recipe(repo, epochs: int = 2, **train_keys):
    recipe = load_recipe(repo / "train" / "digits_mlp.toml")
    recipe.train.epochs, recipe.train.samples_per_epoch, recipe.train.batch_size = epochs, 64, 16
    for key, value in train_keys.items():
        setattr(recipe.train, key, value)
    return recipe


def _interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    """Make the test evaluation of ``epoch`` raise KeyboardInterrupt (before its checkpoint)."""
    real, calls = loihi_train.evaluate, []

    def evaluate(*args):
        calls.append(1)
        if len(calls) == epoch:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(loihi_train, "evaluate", evaluate)


@pytest.fixture(scope="module")
def straight(repo, tmp_path_factory):
    """An uninterrupted 2-epoch run."""
    run = tmp_path_factory.mktemp("logs") / "straight"
    train(_recipe(repo), run, progress=False)
    return run


def test_validation_split_is_seeded_stratified_and_disjoint():
    labels = np.repeat(np.arange(10), 50)
    train_index, val_index = validation_split(labels, 0.1, seed=3)
    assert np.intersect1d(train_index, val_index).size == 0
    assert np.array_equal(np.union1d(train_index, val_index), np.arange(500))
    assert (np.bincount(labels[val_index]) == 5).all()  # a tenth of every class
    again, _ = validation_split(labels, 0.1, seed=3)
    other, _ = validation_split(labels, 0.1, seed=4)
    assert np.array_equal(again, train_index) and not np.array_equal(other, train_index)
    assert validation_split(labels, 0.0, seed=3)[1].size == 0


def test_steps_and_epochs_are_logged(straight):
    steps = read_csv(straight / "steps.csv")
    assert [int(r["step"]) for r in steps] == list(range(1, 9))
    assert [int(r["epoch"]) for r in steps] == [1] * 4 + [2] * 4
    assert all(float(r["loss"]) > 0 for r in steps)
    assert [float(r["lr"]) for r in steps] == [0.003] * 4 + [0.0015] * 4  # cosine over 2 epochs
    epochs = read_csv(straight / "metrics.csv")
    assert [int(r["epoch"]) for r in epochs] == [1, 2]
    assert {"train_loss", "val_accuracy", "test_accuracy", "lr"} <= set(epochs[0])
    mean = np.mean([float(r["loss"]) for r in steps[:4]])  # 4 full batches of 16
    assert float(epochs[0]["train_loss"]) == pytest.approx(mean)


def test_resume_appends_to_the_logs_without_duplicates(repo, straight, tmp_path, monkeypatch):
    run = tmp_path / "run"
    _interrupt_in_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(repo), run, progress=False)
    monkeypatch.undo()
    assert torch.load(run / CHECKPOINT)["epoch"] == 1
    # as if epoch 2 had written its logs and been killed before its checkpoint
    steps = (run / "steps.csv").read_text()
    (run / "steps.csv").write_text(steps + "5,2,9.9,0.0015\n6,2,9.9,0.0015\n")
    train(_recipe(repo), run, resume=True, progress=False)
    assert (run / "steps.csv").read_text() == (straight / "steps.csv").read_text()
    ours, theirs = read_csv(run / "metrics.csv"), read_csv(straight / "metrics.csv")
    for row in (*ours, *theirs):
        row.pop("seconds"), row.pop("train_seconds")
    assert ours == theirs


def test_best_checkpoint_is_chosen_on_the_validation_split(repo, tmp_path, monkeypatch):
    """Validation accuracies 0.9 then 0.5 (patched): best.pt is epoch 1; the samples fed in
    training, validation and test are recorded to check the splits."""
    fed: list[tuple[str, int, np.ndarray]] = []
    real_encode, real_accuracy = loihi_train.encode_split, loihi_train.accuracy
    val_results = iter([0.9, 0.5])

    def encode_split(data, recipe, split, index, seed):
        fed.append((split, seed - recipe.seed, np.array(index)))
        return real_encode(data, recipe, split, index, seed)

    def accuracy(model, data, recipe, split, index, seed):
        measured = real_accuracy(model, data, recipe, split, index, seed)
        return next(val_results) if split == "train" else measured

    monkeypatch.setattr(loihi_train, "encode_split", encode_split)
    monkeypatch.setattr(loihi_train, "accuracy", accuracy)
    recipe = _recipe(repo)
    run = tmp_path / "run"
    train(recipe, run, progress=False)
    monkeypatch.undo()

    best, last = torch.load(run / BEST), torch.load(run / CHECKPOINT)
    assert (best["epoch"], last["epoch"], last["best"]["epoch"]) == (1, 2, 1)
    assert any(not torch.equal(v, last["model"][k]) for k, v in best["model"].items())
    trained, _ = load_checkpoint(run / BEST)
    train_index, val_index = validation_split(trained.data.y_train, 0.1, recipe.seed)
    fed_train = np.concatenate([i for split, s, i in fed if split == "train" and s >= 10])
    fed_val = [i for split, s, i in fed if split == "train" and s < 10]
    assert len(fed_train) == 128 and np.isin(fed_train, train_index).all()  # 2 epochs of 64
    assert not np.isin(fed_train, val_index).any()
    assert all(np.array_equal(np.sort(i), val_index) for i in fed_val) and len(fed_val) == 2
    assert {split for split, s, _ in fed if s == 1} == {"test"}  # the test split only reports
    assert {s for split, s, _ in fed if split == "test"} == {1}

    assert read_network(export(run, tmp_path / "best.net", checkpoint="best")).meta["epoch"] == 1
    assert read_network(export(run, tmp_path / "last.net")).meta["epoch"] == 2
    with pytest.raises(LoihiSnnError, match="give the folder"):
        export(run / CHECKPOINT, tmp_path / "x.net", checkpoint="best")


def test_no_validation_split_means_no_best_checkpoint(repo, tmp_path):
    run = tmp_path / "run"
    row = train(_recipe(repo, epochs=1, val_fraction=0.0), run, progress=False)
    assert "val_accuracy" not in row and not (run / BEST).exists()
    with pytest.raises(LoihiSnnError, match="no best.pt"):
        export(run, tmp_path / "m.net", checkpoint="best")


def test_progress_lines_and_one_tensorboard_note_when_not_a_terminal(
    repo, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    train(_recipe(repo, epochs=1), tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("epoch 1/1: ")]
    assert [line.split()[2] for line in lines] == [f"{16 * k}/64" for k in range(1, 5)], err
    assert all("samples/s" in line and ", loss " in line for line in lines)
    assert err.count("tensorboard is not installed") == 1 and "\r" not in err
    assert not (tmp_path / "run" / "tb").exists()


def test_tensorboard_events_hold_each_step_once_after_a_resume(repo, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    _interrupt_in_epoch(monkeypatch, 2)  # epoch 2's steps reach the events, not the checkpoint
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(repo), run, progress=False)
    monkeypatch.undo()
    # TensorBoard reads event files in name order, the name starting with the time in seconds
    # (then a per-process writer count, compared as text): resume in a later second, as a new
    # process always does, not in the same one as the interrupted writer
    time.sleep(1.1)
    train(_recipe(repo), run, resume=True, progress=False)
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 9))
    assert [e.step for e in events.Scalars("epoch/val_accuracy")] == [4, 8]
    logged = [float(r["loss"]) for r in read_csv(run / "steps.csv")]
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(logged, rel=1e-6)
