"""Quantisation-aware training of a recipe's SpikingNet, with progress bars, per-epoch metrics,
a checkpoint every epoch and exact resume."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import Dataset, encode, load_dataset
from .errors import LoihiSnnError
from .fileio import atomic_path, write_json
from .models.resnet import GraphNet
from .models.sequential import SpikingNet
from .recipe import (
    GRAPH_LAYERS,
    SPARTA_LAYERS,
    Recipe,
    check_recipe,
    parse_recipe,
    recipe_differences,
    recipe_toml,
)

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


@dataclass
class Trained:
    """A trained network with the recipe and data it belongs to."""

    recipe: Recipe
    model: SpikingNet | GraphNet
    data: Dataset
    epoch: int


def encode_split(
    data: Dataset, recipe: Recipe, split: str, index: np.ndarray, seed: int
) -> np.ndarray:
    """Encoded inputs (N, C, H, W, T) of samples ``index`` of ``split`` ('train' or 'test')."""
    x = data.x_train if split == "train" else data.x_test
    d = recipe.data
    return encode(x[index], d.encoder, data.max_value, d.levels, d.time_steps, index, seed)


def predict(
    model: SpikingNet, inputs: np.ndarray, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode spike counts (N, classes) and predictions (argmax, lowest index on ties)."""
    model.eval()
    counts = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            x = torch.from_numpy(inputs[start : start + batch_size]).float()
            counts.append(model(x).sum(-1).numpy())
    counts = np.concatenate(counts).astype(np.int64)
    return counts, counts.argmax(1)


def evaluate(model: SpikingNet, data: Dataset, recipe: Recipe, limit: int | None = None) -> float:
    """Test accuracy of the quantised model in eval mode."""
    n = len(data.y_test) if limit is None else min(limit, len(data.y_test))
    correct = 0
    bs = recipe.train.eval_batch_size
    for start in range(0, n, bs):
        index = np.arange(start, min(start + bs, n))
        _, pred = predict(model, encode_split(data, recipe, "test", index, recipe.seed + 1), bs)
        correct += int((pred == data.y_test[index]).sum())
    return correct / n


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(recipe: Recipe, data: Dataset) -> SpikingNet | GraphNet:
    """A sequential SpikingNet, or a residual GraphNet when the recipe has resblock or avgpool
    layers."""
    torch.manual_seed(recipe.seed)
    if any(spec.type in SPARTA_LAYERS for spec in recipe.layers):
        from .models.sparta import SpartaNet

        model = SpartaNet.from_recipe(recipe, data.input_shape)
    else:
        kind = GraphNet if any(spec.type in GRAPH_LAYERS for spec in recipe.layers) else SpikingNet
        model = kind(recipe.layers, recipe.neuron, data.input_shape)
    model.check_ready()
    if model.num_classes != len(data.classes):
        raise LoihiSnnError(
            f"recipe {recipe.name}: last layer has {model.num_classes} neurons but "
            f"{data.name} has {len(data.classes)} classes"
        )
    return model


def model_state(model: SpikingNet) -> dict:
    """Parameters and buffers without the neurons' batch-sized run-time state."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith(("_state",))}


def load_checkpoint(path: str | Path, data_path: str | None = None) -> tuple[Trained, dict]:
    """Rebuild the trained model from a checkpoint file (or a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise LoihiSnnError(
            f"checkpoint {path} not found: train first (loihi_snn.train, 'loihi-snn train')"
        )
    try:
        ckpt = torch.load(path, map_location="cpu")
        recipe = parse_recipe(ckpt["recipe"], str(path))
    except LoihiSnnError:
        raise
    except Exception as err:  # torch raises many types for a damaged file
        raise LoihiSnnError(
            f"{path} is not a loihi_snn checkpoint ({type(err).__name__}): retrain or pick "
            f"another file"
        ) from None
    if data_path is not None:
        recipe.data.path = data_path
    d = recipe.data
    data = load_dataset(d.dataset, d.path, d.test_fraction, recipe.seed)
    model = build_model(recipe, data)
    model.load_state_dict(ckpt["model"], strict=False)
    model.eval()
    return Trained(recipe, model, data, ckpt["epoch"]), ckpt


def train(
    recipe: Recipe,
    run_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    force: bool = False,
) -> dict:
    """Train ``recipe`` into ``run_dir``; return the final metrics row. The run folder records
    the effective recipe (``recipe.toml``, every key written out). ``resume`` continues the run's
    last checkpoint and refuses a recipe that differs from the run's unless ``force`` (then the
    new recipe applies from the next epoch, its learning-rate schedule included)."""
    check_recipe(recipe, f"recipe {recipe.name or '(unnamed)'}")
    run_dir = Path(run_dir)
    effective = recipe_toml(recipe)
    ckpt_path = run_dir / CHECKPOINT
    d, t = recipe.data, recipe.train
    data = load_dataset(d.dataset, d.path, d.test_fraction, recipe.seed)
    seed_everything(recipe.seed)
    model = build_model(recipe, data)
    opt = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t.epochs)
    history: list[dict] = []
    start_epoch = 0
    if resume:
        if not ckpt_path.exists():
            raise LoihiSnnError(f"resume: no checkpoint in {run_dir}; start a new run instead")
        ckpt = torch.load(ckpt_path, map_location="cpu")
        changes = recipe_differences(parse_recipe(ckpt["recipe"], str(ckpt_path)), recipe)
        if changes and not force:
            raise LoihiSnnError(
                f"resume: the effective recipe differs from the one {run_dir} was trained with "
                f"({'; '.join(changes)}): give the same recipe and overrides, or force the "
                f"change (force / --force)"
            )
        model.load_state_dict(ckpt["model"], strict=False)
        opt.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["schedule"])
        schedule.T_max = t.epochs
        torch.set_rng_state(ckpt["torch_rng"])
        history = ckpt["history"]
        start_epoch = ckpt["epoch"]
    elif ckpt_path.exists():
        raise LoihiSnnError(
            f"{run_dir} already holds a run: resume it or train into another folder"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(run_dir / "recipe.toml") as tmp:
        tmp.write_text(effective)

    n = len(data.y_train)
    for epoch in range(start_epoch, t.epochs):
        began = time.time()
        model.train()
        if hasattr(model, "start_epoch"):
            model.start_epoch()
        order = np.random.default_rng((recipe.seed, epoch)).permutation(n)
        if t.samples_per_epoch:
            order = order[: t.samples_per_epoch]
        batches = range(0, len(order), t.batch_size)
        bar = tqdm(
            batches,
            desc=f"epoch {epoch + 1}/{t.epochs}",
            disable=None if progress else True,
            leave=False,
        )
        loss_sum, correct = 0.0, 0
        for start in bar:
            index = order[start : start + t.batch_size]
            x = torch.from_numpy(
                encode_split(data, recipe, "train", index, recipe.seed + 10 + epoch)
            ).float()
            y = torch.from_numpy(data.y_train[index])
            counts = model(x).sum(-1)
            loss = F.cross_entropy(counts * t.logit_scale, y)
            if hasattr(model, "aux_loss"):  # e.g. SPARTA's sparsity regulariser
                loss = loss + model.aux_loss()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(index)
            correct += int((counts.argmax(1) == y).sum())
            bar.set_postfix(loss=f"{loss.item():.3f}")
        schedule.step()
        test_acc = evaluate(model, data, recipe)
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / len(order),
            "train_accuracy": correct / len(order),
            "test_accuracy": test_acc,
            "seconds": round(time.time() - began, 2),
        }
        history.append(row)
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}/{t.epochs}  loss {row['train_loss']:.4f}  "
                f"train {row['train_accuracy']:.4f}  test {test_acc:.4f}  ({row['seconds']:.0f} s)"
            )
        with atomic_path(ckpt_path) as tmp:
            torch.save(
                {
                    "model": model_state(model),
                    "optimizer": opt.state_dict(),
                    "schedule": schedule.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "epoch": epoch + 1,
                    "history": history,
                    "recipe": effective,
                },
                tmp,
            )
        write_json(run_dir / METRICS, history)
    if not history:
        raise LoihiSnnError(f"nothing to train: {run_dir} is already at epoch {t.epochs}")
    return history[-1]


def read_metrics(run_dir: str | Path) -> list[dict]:
    return json.loads((Path(run_dir) / METRICS).read_text())
