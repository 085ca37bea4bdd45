"""A training run's logs in its folder: a row per batch (``steps.csv``) and per epoch
(``metrics.csv``, ``metrics.json``), and TensorBoard events (``tb/``) when the tensorboard package
is installed. Nothing here imports torch at module level, so the plots read the logs cheaply."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from .errors import LoihiSnnError
from .fileio import atomic_path, write_json

METRICS = "metrics.json"  # a row per epoch
METRICS_CSV = "metrics.csv"  # the same rows as CSV
STEPS_CSV = "steps.csv"  # a row per batch: step, epoch, loss, lr
TENSORBOARD = "tb"  # SummaryWriter events


class RunLog:
    """A run's logs: ``steps.csv`` (a row per batch: global step, epoch, loss, learning rate),
    ``metrics.csv`` and ``metrics.json`` (a row per epoch), rewritten atomically at each epoch's
    end, and with the tensorboard package installed the same as TensorBoard events in ``tb/``
    (``train/loss`` and ``train/lr`` per step, ``epoch/<metric>`` at each epoch's last step).
    Opened at a checkpoint's ``epoch`` and ``step``, it drops what an interrupted epoch logged
    after them (TensorBoard events through ``purge_step``): a resumed run logs no step twice.
    ``notes``: say once on stderr when TensorBoard events are not written."""

    def __init__(self, run_dir: Path, epoch: int, step: int, notes: bool):
        self.run_dir = run_dir
        path = run_dir / STEPS_CSV
        try:
            rows = read_csv(path) if epoch and path.exists() else []
            self.steps: list[dict] = [row for row in rows if int(row["epoch"]) <= epoch]
        except (KeyError, ValueError, csv.Error) as err:
            raise LoihiSnnError(
                f"{path} is damaged ({type(err).__name__}: {err}): remove it to resume with a "
                f"step log of the new epochs only"
            ) from None
        self.writer = _summary_writer(run_dir / TENSORBOARD, step + 1, notes)

    def step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self.steps.append({"step": step, "epoch": epoch, "loss": loss, "lr": lr})
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("train/lr", lr, step)

    def epoch(self, history: list[dict], step: int) -> None:
        """Write the logs after an epoch whose last batch was ``step``."""
        write_csv(self.run_dir / STEPS_CSV, self.steps)
        write_csv(self.run_dir / METRICS_CSV, history)
        write_json(self.run_dir / METRICS, history)
        if self.writer is not None:
            for key, value in history[-1].items():
                if key != "epoch":
                    self.writer.add_scalar(f"epoch/{key}", value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _summary_writer(folder: Path, purge_step: int, notes: bool):
    """torch's SummaryWriter on ``folder`` hiding earlier events from ``purge_step`` on, or None
    when the tensorboard package is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if notes:
            print(
                "note: tensorboard is not installed: training logs go to CSV only (steps.csv, "
                "metrics.csv); install tensorboard for TensorBoard events in tb/",
                file=sys.stderr,
            )
        return None
    return SummaryWriter(str(folder), purge_step=purge_step)


def write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` as CSV (atomic): a header of their keys in first-seen order, blank where a row
    lacks a key (e.g. ``val_accuracy`` in epochs from before it was measured)."""
    text = io.StringIO()
    fields = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(text, fields, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(text.getvalue())


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV log as dicts of strings, keyed by its header."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
