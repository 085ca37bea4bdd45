"""Quantisation-aware training of a recipe's SpikingNet, with progress (a bar, or a line per
tenth of an epoch when stderr is not a terminal), a validation split carved from the training data,
per-step and per-epoch logs, a checkpoint every epoch, the best epoch's model and exact resume."""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tomli
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .backends.fast import FastRunner, run_fast
from .data import Dataset, augment, bin_recordings, encode, load_dataset
from .distributed import Ranks
from .errors import LoihiSnnError
from .fileio import atomic_path
from .models.resnet import GraphNet
from .models.sequential import SpikingNet
from .progress import Progress
from .recipe import (
    GRAPH_LAYERS,
    SPARTA_LAYERS,
    Recipe,
    check_recipe,
    parse_recipe,
    recipe_differences,
    recipe_toml,
)
from .runlog import METRICS, RunLog
from .threads import Threads

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"  # the model of the epoch with the best validation accuracy


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
    if data.events is not None:  # event recordings (file paths), binned per batch
        return bin_recordings(x[index], data.events, d.time_steps, d.bin_us, d.levels)
    return encode(x[index], d.encoder, data.max_value, d.levels, d.time_steps, index, seed)


def class_scores(model: SpikingNet | GraphNet, x: torch.Tensor) -> torch.Tensor:
    """Class scores (N, classes) of inputs (N, C, H, W, T): the output spike counts, or the
    output voltage of a model with a voltage readout (:meth:`GraphNet.scores`)."""
    scores = getattr(model, "scores", None)
    return scores(x) if scores is not None else model(x).sum(-1)


def predict(
    model: SpikingNet, inputs: np.ndarray, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode class scores (N, classes; spike counts or the output voltage) and predictions
    (argmax, lowest index on ties)."""
    model.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            x = torch.from_numpy(inputs[start : start + batch_size]).float()
            scores.append(class_scores(model, x).numpy())
    scores = np.concatenate(scores).astype(np.int64)
    return scores, scores.argmax(1)


def twin_predictions(
    model: SpikingNet | GraphNet, time_steps: int
) -> Callable[[np.ndarray], np.ndarray]:
    """A function from encoded inputs (N, C, H, W, T) to the predictions of ``model`` in eval
    mode (its integer twin). A sequential network's twin is its exported file run by the fast
    backend, which `verify` proves equal to the model's eval mode spike for spike and which is
    15-20x faster than lava-dl's integer forward pass on the CPU (fmnist_cnn, 2,000 test images:
    0.36 s against 6.1 s, same predictions); the other networks' eval mode already runs that
    backend (:meth:`GraphNet.scores`)."""
    if not isinstance(model, SpikingNet):
        return lambda x: predict(model, x, len(x))[1]
    model.eval()
    graph = model.to_graph(time_steps)
    runner = FastRunner(graph)
    return lambda x: run_fast(graph, x, record_all=False, runner=runner).predictions


def accuracy(
    model: SpikingNet, data: Dataset, recipe: Recipe, split: str, index: np.ndarray, seed: int
) -> float:
    """Accuracy of the quantised model in eval mode (:func:`twin_predictions`) on samples
    ``index`` of ``split``, encoded with ``seed``."""
    labels = data.y_train if split == "train" else data.y_test
    predictions = twin_predictions(model, recipe.data.time_steps)
    bs = recipe.train.eval_batch_size
    correct = 0
    for start in range(0, len(index), bs):
        part = index[start : start + bs]
        pred = predictions(encode_split(data, recipe, split, part, seed))
        correct += int((pred == labels[part]).sum())
    return correct / len(index)


def evaluate(model: SpikingNet, data: Dataset, recipe: Recipe, limit: int | None = None) -> float:
    """Test accuracy of the quantised model in eval mode."""
    n = len(data.y_test) if limit is None else min(limit, len(data.y_test))
    return accuracy(model, data, recipe, "test", np.arange(n), recipe.seed + 1)


def validation_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val): sorted indices into the training split, ``val`` the rounded ``fraction`` of
    every class, drawn by ``seed`` from a stream of its own (not the epochs' shuffles). The test
    split is never part of it."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    held = [
        rng.permutation(members)[: round(fraction * len(members))]
        for members in (np.flatnonzero(labels == c) for c in np.unique(labels))
    ]
    val = np.sort(np.concatenate(held)).astype(np.int64)
    return np.setdiff1d(np.arange(len(labels)), val), val


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(recipe: Recipe, data: Dataset) -> SpikingNet | GraphNet:
    """A sequential SpikingNet, or a residual GraphNet when the recipe has resblock or avgpool
    layers."""
    torch.manual_seed(recipe.seed)
    types = {spec.type for spec in recipe.layers}
    graph = bool(types & set(GRAPH_LAYERS)) and not types & set(SPARTA_LAYERS)
    if recipe.train.readout != "spikes" and types & set(SPARTA_LAYERS):
        raise LoihiSnnError(
            f"recipe {recipe.name}: train.readout = '{recipe.train.readout}' is not built for "
            f"SPARTA networks; they read their output spikes"
        )
    if types & set(SPARTA_LAYERS):
        from .models.sparta import SpartaNet

        model = SpartaNet.from_recipe(recipe, data.input_shape)
    elif graph:
        model = GraphNet(recipe.layers, recipe.neuron, data.input_shape, recipe.train.readout)
    else:
        model = SpikingNet(recipe.layers, recipe.neuron, data.input_shape, recipe.train.readout)
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


def read_checkpoint(path: Path, advice: str) -> tuple[dict, Recipe]:
    """A checkpoint file's contents and its recipe; a file that is not one is refused in one
    line ending in ``advice`` (what to do)."""
    try:
        ckpt = torch.load(path, map_location="cpu")
        return ckpt, parse_recipe(ckpt["recipe"], str(path))
    except LoihiSnnError:
        raise
    except Exception as err:  # torch raises many types for a damaged file
        raise LoihiSnnError(
            f"{path} is not a loihi_snn checkpoint ({type(err).__name__}): {advice}"
        ) from None


def load_checkpoint(path: str | Path, data_path: str | None = None) -> tuple[Trained, dict]:
    """Rebuild the trained model from a checkpoint file (or a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise LoihiSnnError(
            f"checkpoint {path} not found: train first (loihi_snn.train, 'loihi-snn train')"
        )
    ckpt, recipe = read_checkpoint(path, "retrain or pick another file")
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
    threads: str | int | None = None,
    device: str = "cpu",
) -> dict:
    """Train ``recipe`` into ``run_dir``; return the final metrics row. The run folder records
    the effective recipe (``recipe.toml``, every key written out), the logs (:class:`RunLog`), the
    last checkpoint and ``best.pt``: the model of the epoch with the best accuracy on the
    validation split (``train.val_fraction`` of the training data; the test split only reports).
    ``resume`` continues the run's last checkpoint and refuses a recipe that differs from the
    run's unless ``force`` (then the new recipe applies from the next epoch, its learning-rate
    schedule included). ``progress``: progress and notes on stderr, a line per epoch on stdout.
    ``threads``: torch's threads, a count or ``auto`` (the cores other processes leave free,
    re-measured while it trains: :class:`loihi_snn.threads.Threads`; the command line's
    default); None leaves torch's setting alone. A run is bit-for-bit reproducible (and a
    resumed run equal to an uninterrupted one) at a fixed thread count: float sums split over
    a different number of threads differ in their last bits. ``device``: where the training
    passes run, ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (:meth:`Ranks.device`); the per-epoch
    evaluations run the integer twin on the CPU (a copy of the model) and checkpoints hold CPU
    tensors, so a run continues on any device.

    Started by ``torchrun`` (:class:`Ranks`), every process builds the same model and splits
    every batch of ``train.batch_size`` with the others (:func:`_train_epoch`); no random stream
    needs a seed per process (initialisation by ``seed``, shuffles by epoch, encoders by sample).
    Rank 0 alone evaluates, with the very calls of a one-process run (so the same figures), while
    the others wait idle for its row: splitting it would save at most its share of an epoch,
    forward passes only (on one thread a tenth of a digits_mlp epoch, a fifth of digits_resnet's,
    measured). Rank 0 alone writes the run folder and prints; every process resumes from the
    folder's checkpoint, which holds the unwrapped model, so runs of any number of processes
    continue each other. BatchNorm normalises each process's part of a batch on its own (torch
    2.3's SyncBatchNorm refuses CPU modules); the running statistics kept are rank 0's."""
    ranks = Ranks.from_env()
    where = ranks.device(device)
    with ranks.group(where):
        pool = Threads(threads) if threads is not None and ranks.world == 1 else None
        return _train(
            recipe, run_dir, resume, progress and ranks.is_main, force, ranks, pool, where
        )


def _train(
    recipe: Recipe,
    run_dir: str | Path,
    resume: bool,
    progress: bool,
    force: bool,
    ranks: Ranks,
    threads: Threads | None,
    device: torch.device,
) -> dict:
    """:func:`train` in this process of the run (``progress``: rank 0's alone)."""
    check_recipe(recipe, f"recipe {recipe.name or '(unnamed)'}")
    run_dir = Path(run_dir)
    effective = recipe_toml(recipe)
    ckpt_path = run_dir / CHECKPOINT
    d, t = recipe.data, recipe.train
    data = load_dataset(d.dataset, d.path, d.test_fraction, recipe.seed)
    train_index, val_index = _training_parts(data, recipe)
    ranks.check_batches(len(_epoch_order(recipe, train_index, 0)), t.batch_size)
    seed_everything(recipe.seed)
    model = build_model(recipe, data).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t.epochs)
    history: list[dict] = []
    start_epoch, step, best = 0, 0, None
    if resume:
        if not ckpt_path.exists():
            raise LoihiSnnError(f"resume: no checkpoint in {run_dir}; start a new run instead")
        ckpt = torch.load(ckpt_path, map_location="cpu")
        changes = recipe_differences(_recorded_recipe(ckpt, ckpt_path), recipe)
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
        batches = math.ceil(len(_epoch_order(recipe, train_index, 0)) / t.batch_size)
        step = ckpt.get("step", start_epoch * batches)  # runs from before step logs: estimated
        best = ckpt.get("best")
    elif ckpt_path.exists():
        raise LoihiSnnError(
            f"{run_dir} already holds a run: resume it or train into another folder"
        )
    net = ranks.wrap(_ClassScores(model), device)
    if ranks.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(run_dir / "recipe.toml") as tmp:
            tmp.write_text(effective)

    log = RunLog(run_dir, start_epoch, step, notes=progress) if ranks.is_main else None
    try:
        for epoch in range(start_epoch, t.epochs):
            began = time.time()
            order = _epoch_order(recipe, train_index, epoch)
            lr = opt.param_groups[0]["lr"]
            train_loss, train_accuracy, step = _train_epoch(
                model, net, opt, data, recipe, order, epoch, step, log, progress, ranks, threads
            )
            trained = time.time() - began
            schedule.step()
            row = {"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_accuracy}
            row["train_seconds"] = round(trained, 2)  # the training phase, evaluations excluded
            if ranks.is_main:  # the others wait for its row
                judged = model if device.type == "cpu" else _on_cpu(model)
                if len(val_index):
                    row["val_accuracy"] = accuracy(
                        judged, data, recipe, "train", val_index, recipe.seed + 2
                    )
                row["test_accuracy"] = evaluate(judged, data, recipe)
                row |= {"lr": lr, "seconds": round(time.time() - began, 2)}
            row = ranks.from_main(row)
            history.append(row)
            if not ranks.is_main:
                continue  # rank 0 alone writes the run folder
            improved = "val_accuracy" in row and (
                best is None or row["val_accuracy"] > best["val_accuracy"]
            )
            if improved:
                best = {"epoch": epoch + 1, "val_accuracy": row["val_accuracy"]}
                _save_model(run_dir / BEST, judged, history, effective)
            if progress:
                tqdm.write(_summary(row, t.epochs) + ("  best" if improved else ""))
            log.epoch(history, step)  # before the checkpoint: a resume drops what it has beyond
            with atomic_path(ckpt_path) as tmp:
                torch.save(
                    {
                        "model": model_state(judged),
                        "optimizer": opt.state_dict(),
                        "schedule": schedule.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "epoch": epoch + 1,
                        "step": step,
                        "best": best,
                        "history": history,
                        "recipe": effective,
                    },
                    tmp,
                )
    finally:
        if log is not None:
            log.close()
    if not history:
        raise LoihiSnnError(f"nothing to train: {run_dir} is already at epoch {t.epochs}")
    if progress and best is not None:
        tqdm.write(
            f"best validation accuracy {best['val_accuracy']:.4f} at epoch {best['epoch']}: "
            f"{run_dir / BEST}"
        )
    return history[-1]


def _train_epoch(
    model: SpikingNet,
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    data: Dataset,
    recipe: Recipe,
    order: np.ndarray,
    epoch: int,
    step: int,
    log: RunLog | None,
    progress: bool,
    ranks: Ranks,
    threads: Threads | None,
) -> tuple[float, float, int]:
    """One pass over the training samples ``order`` in batches, each logged as a step after
    ``step`` (``log``: None on the processes that write nothing); returns the mean loss, the
    training accuracy and the last step. ``net`` computes ``model``'s class scores
    (:class:`_ClassScores`, in DDP with several processes). Each process feeds its part of
    every batch (:meth:`Ranks.shard`) and scales its loss by its share of the batch times the
    number of processes, so DDP's gradient average is the gradient of the batch's mean loss,
    equal parts or not; losses and counts are summed over the processes: the logged and returned
    figures are the whole batch's."""
    t = recipe.train
    device = next(model.parameters()).device
    model.train()
    if hasattr(model, "start_epoch"):
        model.start_epoch()
    lr = opt.param_groups[0]["lr"]
    loss_sum, correct = 0.0, 0
    with Progress(len(order), f"epoch {epoch + 1}/{t.epochs}", enabled=progress) as bar:
        for start in range(0, len(order), t.batch_size):
            batch = order[start : start + t.batch_size]
            index = ranks.shard(batch)
            share = len(index) / len(batch)
            x = encode_split(data, recipe, "train", index, recipe.seed + 10 + epoch)
            x = augment(x, index, t.shift, t.flip, recipe.seed, epoch)
            x = torch.from_numpy(x).float().to(device)
            y = torch.from_numpy(data.y_train[index]).to(device)
            scores = net(x)
            logits = scores * t.logit_scale
            loss = F.cross_entropy(logits, y, label_smoothing=t.label_smoothing)
            if hasattr(model, "aux_loss"):  # e.g. SPARTA's sparsity regulariser
                loss = loss + model.aux_loss()
            opt.zero_grad()
            (loss * (share * ranks.world)).backward()
            opt.step()
            step += 1
            batch_loss, hits = ranks.all_sum(
                [loss.item() * share, int((scores.argmax(1) == y).sum())]
            )
            if log is not None:
                log.step(step, epoch + 1, batch_loss, lr)
            loss_sum += batch_loss * len(batch)
            correct += int(hits)
            bar.advance_to(start + len(batch), f"loss {batch_loss:.3f}")
            if threads is not None:
                threads.update()
    return loss_sum / len(order), correct / len(order), step


def _on_cpu(model: SpikingNet | GraphNet) -> torch.nn.Module:
    """A CPU copy of ``model`` (trained on another device) for the integer twin's evaluation
    and the checkpoints."""
    return copy.deepcopy(model).cpu()


class _ClassScores(torch.nn.Module):
    """:func:`class_scores` of ``model`` as a module's forward, for DDP to wrap: DDP averages
    the gradients of the passes through its own forward only."""

    def __init__(self, model: SpikingNet | GraphNet):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return class_scores(self.model, x)


def _training_parts(data: Dataset, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices into the training split (:func:`validation_split`), refusing a
    fraction that leaves either part empty."""
    fraction = recipe.train.val_fraction
    train_index, val_index = validation_split(data.y_train, fraction, recipe.seed)
    if (fraction and not len(val_index)) or not len(train_index):
        part = "the validation split" if len(train_index) else "training"
        raise LoihiSnnError(
            f"recipe {recipe.name}: train.val_fraction {fraction} leaves no sample of "
            f"{data.name}'s {len(data.y_train)} training images for {part}: choose a fraction "
            f"between 0 (no validation split) and 1"
        )
    return train_index, val_index


def _epoch_order(recipe: Recipe, train_index: np.ndarray, epoch: int) -> np.ndarray:
    """The training samples of ``epoch`` in the order they are fed: a shuffle seeded by the
    recipe's seed and the epoch, cut to ``samples_per_epoch`` (0: all)."""
    rng = np.random.default_rng((recipe.seed, epoch))
    order = train_index[rng.permutation(len(train_index))]
    return order[: recipe.train.samples_per_epoch] if recipe.train.samples_per_epoch else order


def _recorded_recipe(ckpt: dict, path: Path) -> Recipe:
    """The recipe a run was trained with; runs from before validation splits held none out."""
    recorded = parse_recipe(ckpt["recipe"], str(path))
    if "val_fraction" not in tomli.loads(ckpt["recipe"]).get("train", {}):
        recorded.train.val_fraction = 0.0
    return recorded


def _save_model(path: Path, model: SpikingNet, history: list[dict], effective: str) -> None:
    """A checkpoint of the model alone at the last epoch of ``history`` (loadable and
    exportable, not resumable)."""
    state = {
        "model": model_state(model),
        "epoch": history[-1]["epoch"],
        "history": history,
        "recipe": effective,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _summary(row: dict, epochs: int) -> str:
    val = f"  val {row['val_accuracy']:.4f}" if "val_accuracy" in row else ""
    return (
        f"epoch {row['epoch']}/{epochs}  loss {row['train_loss']:.4f}  "
        f"train {row['train_accuracy']:.4f}{val}  test {row['test_accuracy']:.4f}  "
        f"({row['seconds']:.0f} s)"
    )


def read_metrics(run_dir: str | Path) -> list[dict]:
    return json.loads((Path(run_dir) / METRICS).read_text())
