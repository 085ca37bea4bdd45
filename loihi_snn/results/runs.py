"""``loihi-snn results``: every variant x seed of a comparison trained, resumed or read, exported
and measured, then reported (:mod:`.report`).

A run folder holding a checkpoint of the same effective recipe (file, ``set``, extra overrides,
``seed=<s>``; :func:`~loihi_snn.recipe.recipe_differences`) at its last epoch is read; one at an
earlier epoch is resumed; an empty one is trained. One trained with another recipe is refused,
never overwritten."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import LoihiSnnError
from ..recipe import Recipe, apply_overrides, load_recipe, recipe_differences
from .comparison import Comparison, Run, check_overrides, load_comparison
from .measure import evaluate
from .report import build_report, with_unit, write_report

NET = "model.net"  # the export in each run folder


def _recorded(folder: Path) -> tuple[Recipe, int, list[dict]] | None:
    """(recipe, epoch, per-epoch history) of a run folder's checkpoint, or None."""
    from ..train import CHECKPOINT, read_checkpoint

    path = folder / CHECKPOINT
    if not path.exists():
        return None
    ckpt, recipe = read_checkpoint(path, f"remove the run folder {folder} to train it again")
    return recipe, ckpt["epoch"], ckpt["history"]


def _plan(comparison: Comparison, runs: Path, seeds: list[int], overrides: list[str]) -> list[Run]:
    """Every variant x seed with its effective recipe and run folder; refuses a folder trained
    with another recipe before anything is trained."""
    plan = []
    for variant in comparison.variants:
        base = load_recipe(variant.recipe)
        for seed in seeds:
            recipe = apply_overrides(base, [*comparison.set, *overrides, f"seed={seed}"])
            folder = runs / comparison.name / f"{variant.label}-s{seed}"
            recorded = _recorded(folder)
            if recorded is not None:
                changes = recipe_differences(recorded[0], recipe)
                if changes:
                    raise LoihiSnnError(
                        f"{folder} holds a run of another recipe ({'; '.join(changes)}): remove "
                        f"it, or give another runs folder"
                    )
            epoch = None if recorded is None else recorded[1]
            plan.append(Run(variant, seed, recipe, folder, epoch))
    return plan


def command_line(
    path: str | Path,
    runs: str | Path,
    out: str | Path,
    seeds: list[int],
    overrides: list[str],
    read_only: bool,
) -> str:
    """The ``loihi-snn results`` command that does what :func:`run_comparison` was given."""
    words = ["loihi-snn", "results", str(path), "--runs", str(runs), "--out", str(out),
             "--seeds", *map(str, seeds)]
    for item in overrides:
        words += ["--set", item]
    if read_only:
        words.append("--read-only")
    return shlex.join(words)


def run_comparison(
    path: str | Path,
    runs: str | Path = "runs",
    out: str | Path | None = None,
    seeds: Sequence[int] | None = None,
    overrides: Sequence[str] = (),
    read_only: bool = False,
    progress: bool = True,
) -> dict:
    """Train or read every variant x seed of the comparison file ``path`` in
    ``<runs>/<name>/<label>-s<seed>`` (``seeds``: instead of the file's; ``overrides``: more
    ``key=value`` recipe overrides after the file's ``set``), export each to ``model.net``,
    evaluate the metrics (:func:`evaluate`), and write ``<out>.md``, ``<out>.json`` and
    ``<out>.png`` (default ``out``: ``sim/results/<name>``), each atomically. ``read_only``: train
    nothing, refuse runs that are missing or unfinished. ``progress``: a line per run on stderr.
    Returns the JSON's content."""
    from ..export import export
    from ..train import CHECKPOINT, train

    comparison = load_comparison(path)
    seeds = list(comparison.seeds if seeds is None else seeds)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise LoihiSnnError(f"seeds must be distinct integers >= 0, not {seeds}")
    overrides = list(overrides)
    check_overrides(overrides, "overrides")
    runs = Path(runs)
    out = Path(out) if out is not None else Path("sim/results") / comparison.name
    plan = _plan(comparison, runs, seeds, overrides)
    todo = [r for r in plan if not r.finished]
    if read_only and todo:
        raise LoihiSnnError(
            f"read-only: {len(todo)} of {len(plan)} runs are missing or unfinished "
            f"({', '.join(str(r.folder) for r in todo)}): nothing is trained in read-only mode"
        )
    results = []
    for k, run in enumerate(plan, 1):
        head = f"results {comparison.name}: [{k}/{len(plan)}] {run.variant.label} seed {run.seed}"
        status = "read"
        if not run.finished:
            status = "trained" if run.epoch is None else "resumed"
            verb = "training" if run.epoch is None else f"resuming (epoch {run.epoch})"
            epochs = run.recipe.train.epochs
            _say(progress, f"{head}: {verb} into {run.folder}, {epochs} epoch{'s' * (epochs > 1)}")
            train(run.recipe, run.folder, resume=run.epoch is not None, progress=False,
                  threads="auto")
        net, ckpt = run.folder / NET, run.folder / CHECKPOINT
        if not net.exists() or net.stat().st_mtime_ns < ckpt.stat().st_mtime_ns:
            export(run.folder, net)  # new, or the run was trained on since
        _, epoch, history = _recorded(run.folder)
        measured = evaluate(net, comparison.metrics, comparison.n, comparison.energy_model)
        shown = ", ".join(f"{m} {with_unit(v, m)}" for m, v in measured.values.items())
        _say(progress, f"{head}: {status} {run.folder} (epoch {epoch}); {measured.samples} test "
                       f"images: {shown}")
        results.append(
            {
                "label": run.variant.label,
                "seed": run.seed,
                "run": str(run.folder),
                "status": status,
                "epoch": epoch,
                "train_seconds": round(sum(row["seconds"] for row in history), 2),
                "samples": measured.samples,
                "values": measured.values,
                "notes": measured.notes,
            }
        )
    report = build_report(comparison, plan, results, seeds, overrides,
                     command_line(path, runs, out, seeds, overrides, read_only))
    files = {kind: Path(f"{out}.{kind}") for kind in ("md", "json", "png")}
    report["files"] = {kind: str(p) for kind, p in files.items()}
    write_report(report, files)
    return report


def _say(enabled: bool, line: str) -> None:
    if enabled:
        print(line, file=sys.stderr, flush=True)
