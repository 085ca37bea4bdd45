"""``loihi-snn results``: a comparison's variants over several seeds, trained or read, evaluated on
the fast backend, and its table (mean and standard deviation over seeds, the paper's numbers beside
them) as Markdown and JSON, plus a bar chart.

A comparison file (TOML, read strictly like a recipe: an unknown key or a wrong type is refused in
one line naming the key and the file)::

    name = "biasnn"                  # runs in <runs>/biasnn/<label>-s<seed>
    title = "BIASNN vs LASNN vs no mask"
    seeds = [0, 1, 2]
    set = ["train.epochs=4"]         # overrides applied to every variant: the budget
    metrics = ["accuracy", "lif_rate", "energy"]   # names of METRICS
    n = 10000                        # test images for the metrics (default 10000)
    energy_model = "cmos45"          # cost model of the energy metric (default cmos45)

    [[variants]]
    label = "BIASNN"                 # letters, digits, '_', '-', '.', '+': part of a folder name
    recipe = "../train/fmnist_biasnn.toml"   # relative to this file, or to the repository

    [paper.BIASNN.lif_rate]          # the paper's number, in the metric's unit, and its source
    value = 9.64
    source = "BIASNN, Sci. Rep. 2025, ..."

A run folder holding a checkpoint of the same effective recipe (file, ``set``, extra overrides,
``seed=<s>``; :func:`~loihi_snn.recipe.recipe_differences`) at its last epoch is read; one at an
earlier epoch is resumed; an empty one is trained. One trained with another recipe is refused,
never overwritten. Heavy modules (torch, Lava, matplotlib) are imported inside the functions.
"""

from __future__ import annotations

import math
import re
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tomli

from .energy.costs import BUILTIN_COSTS
from .errors import LoihiSnnError
from .recipe import Recipe, apply_overrides, load_recipe, recipe_differences

REPO = Path(__file__).resolve().parent.parent
NET = "model.net"  # the export in each run folder
BATCH = 256  # test images per fast-backend call (its states are recorded for the counts)


@dataclass(frozen=True)
class Metric:
    """One metric of the registry: ``title`` and ``unit`` head its column, ``digits`` are its
    decimals in the table, ``definition`` says what is measured."""

    name: str
    title: str
    unit: str
    digits: int
    definition: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "accuracy", "test accuracy", "", 4,
            "share of the n test images the exported file classifies right on the fast backend "
            "(bit-exact with Lava fixed_pt)",
        ),
        Metric(
            "lif_rate", "LIF spike rate outside masks", "%", 2,
            "spikes per neuron per step over every LIF population, the output layer included, "
            "custom layers (masks, token selection) left out; as loihi-snn biasnn-stats",
        ),
        Metric(
            "energy", "energy per inference", "nJ", 1,
            "total energy per test image under the cost model energy_model (default cmos45: 45 nm, "
            "the seeds' formula); as loihi-snn energy --backend fast",
        ),
        Metric(
            "sops", "SOPs per sample", "", 0,
            "synaptic operations per test image: every non-zero source event (spike or graded "
            "payload) times its non-zero synapses, over every projection; as loihi-snn "
            "sparta-stats and loihi-snn energy",
        ),
        Metric(
            "sparsity", "token sparsity", "", 3,
            "1 - K / N of the token selection (K tokens kept of N), mean over the test images; as "
            "loihi-snn sparta-stats (needs a token_select layer)",
        ),
    )
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")
_TOP = ("name", "title", "seeds", "set", "metrics", "n", "energy_model", "variants", "paper")


@dataclass
class Variant:
    """One variant: its label and the recipe file it trains (resolved path)."""

    label: str
    recipe: Path


@dataclass
class Comparison:
    """A comparison file read by :func:`load_comparison`; ``paper``: label -> metric ->
    (value in the metric's unit, source)."""

    name: str
    title: str
    seeds: list[int]
    variants: list[Variant]
    metrics: list[str]
    path: Path
    n: int = 10000
    set: list[str] = field(default_factory=list)
    energy_model: str = "cmos45"
    paper: dict[str, dict[str, tuple[float, str]]] = field(default_factory=dict)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ints(value: object) -> bool:
    return isinstance(value, list) and all(type(v) is int for v in value)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _keys(table: object, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> dict:
    """``table`` as a dict with only ``allowed`` keys and every ``required`` one."""
    if not isinstance(table, dict):
        raise LoihiSnnError(f"{where} must be a table")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise LoihiSnnError(
            f"unknown key '{unknown[0]}' in {where}; allowed keys: {', '.join(allowed)}"
        )
    missing = [key for key in required if key not in table]
    if missing:
        raise LoihiSnnError(f"{where} needs the key '{missing[0]}'")
    return table


def _recipe_path(text: str, base: Path, where: str) -> Path:
    """A variant's recipe: relative to the comparison file's folder, else to the repository."""
    for candidate in (base / text, REPO / text):
        if candidate.is_file():
            return candidate
    raise LoihiSnnError(
        f"{where}: recipe {text} not found (looked in {base} and {REPO})"
    )


def load_comparison(path: str | Path) -> Comparison:
    """Read and check a comparison file (module docstring); recipes must exist, labels be unique,
    metrics be names of :data:`METRICS`, paper numbers name a variant and one of its metrics."""
    path = Path(path)
    try:
        raw = tomli.loads(path.read_text())
    except OSError as err:
        raise LoihiSnnError(f"cannot read comparison {path}: {err.strerror}") from None
    except tomli.TOMLDecodeError as err:
        raise LoihiSnnError(f"{path} is not valid TOML: {err}") from None
    raw = _keys(raw, _TOP, ("name", "title", "seeds", "metrics", "variants"), str(path))
    checks = (
        ("name", lambda v: isinstance(v, str) and bool(_NAME.match(v)),
         "a name of letters, digits, '_', '-', '.', '+' (it names the runs' folder)"),
        ("title", lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
        ("seeds", lambda v: _ints(v) and v and len(set(v)) == len(v) and min(v) >= 0,
         "a non-empty list of distinct integers >= 0"),
        ("set", lambda v: _strings(v) and all("=" in s for s in v),
         "a list of 'key=value' recipe overrides"),
        ("metrics", lambda v: _strings(v) and v and len(set(v)) == len(v)
         and all(m in METRICS for m in v),
         f"a non-empty list of distinct metrics of {', '.join(METRICS)}"),
        ("n", lambda v: type(v) is int and v >= 1, "an integer >= 1 (test images)"),
        ("energy_model", lambda v: v in BUILTIN_COSTS, f"one of {', '.join(BUILTIN_COSTS)}"),
        ("variants", lambda v: isinstance(v, list) and v, "a list of [[variants]] tables"),
        ("paper", lambda v: isinstance(v, dict), "a table [paper.<label>.<metric>]"),
    )
    for key, ok, what in checks:
        if key in raw and not ok(raw[key]):
            raise LoihiSnnError(f"{path}: '{key}' must be {what}")
    _check_overrides(raw.get("set", []), str(path))
    variants = []
    for i, table in enumerate(raw["variants"]):
        where = f"[[variants]] #{i} of {path}"
        table = _keys(table, ("label", "recipe"), ("label", "recipe"), where)
        label, recipe = table["label"], table["recipe"]
        if not isinstance(label, str) or not _NAME.match(label):
            raise LoihiSnnError(
                f"{where}: 'label' must be letters, digits, '_', '-', '.', '+' (it names run "
                f"folders)"
            )
        if label in {v.label for v in variants}:
            raise LoihiSnnError(f"{where}: label '{label}' is used twice")
        if not isinstance(recipe, str):
            raise LoihiSnnError(f"{where}: 'recipe' must be a path (a string)")
        variants.append(Variant(label, _recipe_path(recipe, path.parent, where)))
    paper: dict[str, dict[str, tuple[float, str]]] = {}
    for label, table in raw.get("paper", {}).items():
        if label not in {v.label for v in variants}:
            raise LoihiSnnError(f"[paper.{label}] of {path}: '{label}' is not a variant's label")
        table = _keys(table, tuple(raw["metrics"]), (), f"[paper.{label}] of {path}")
        for metric, entry in table.items():
            where = f"[paper.{label}.{metric}] of {path}"
            entry = _keys(entry, ("value", "source"), ("value", "source"), where)
            if not _number(entry["value"]):
                raise LoihiSnnError(f"{where}: 'value' must be a number")
            if not isinstance(entry["source"], str) or not entry["source"].strip():
                raise LoihiSnnError(f"{where}: 'source' must say where the number comes from")
            paper.setdefault(label, {})[metric] = (float(entry["value"]), entry["source"])
    return Comparison(
        name=raw["name"],
        title=raw["title"],
        seeds=raw["seeds"],
        variants=variants,
        metrics=raw["metrics"],
        path=path,
        n=raw.get("n", 10000),
        set=raw.get("set", []),
        energy_model=raw.get("energy_model", "cmos45"),
        paper=paper,
    )


def _check_overrides(overrides: list[str], where: str) -> None:
    """The seed is the comparison's: each run gets ``seed=<s>``."""
    for item in overrides:
        if item.partition("=")[0].strip() == "seed":
            raise LoihiSnnError(
                f"{where}: the override {item!r} sets the seed, which the comparison sets per run "
                f"(seeds): remove it"
            )


@dataclass
class _Run:
    variant: Variant
    seed: int
    recipe: Recipe
    folder: Path
    epoch: int | None  # the checkpoint's epoch, None without one

    @property
    def finished(self) -> bool:
        return self.epoch == self.recipe.train.epochs


def _recorded(folder: Path) -> tuple[Recipe, int, list[dict]] | None:
    """(recipe, epoch, per-epoch history) of a run folder's checkpoint, or None."""
    from .train import CHECKPOINT, read_checkpoint

    path = folder / CHECKPOINT
    if not path.exists():
        return None
    ckpt, recipe = read_checkpoint(path, f"remove the run folder {folder} to train it again")
    return recipe, ckpt["epoch"], ckpt["history"]


def _plan(comparison: Comparison, runs: Path, seeds: list[int], overrides: list[str]) -> list[_Run]:
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
            plan.append(_Run(variant, seed, recipe, folder, epoch))
    return plan


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: the metrics' values on ``samples`` test images, and
    notes (layers the energy model does not price)."""

    samples: int
    values: dict[str, float]
    notes: list[str]


def evaluate(
    net: str | Path, metrics: list[str], n: int, energy_model: str = "cmos45"
) -> Evaluation:
    """The ``metrics`` (names of :data:`METRICS`) of a file exported from a training run, on its
    first ``n`` test images (fewer if its test split is smaller) through the fast backend, BATCH
    images per run with every layer's states recorded. One pass computes all of them: the accuracy
    and spike rate as ``biasnn-stats``, energy and SOPs as ``loihi-snn energy``
    (:func:`~loihi_snn.energy.report.build_report`: per-sample means, here weighted by the batch
    sizes), the sparsity as ``sparta-stats``."""
    from .backends.fast import FastRunner, run_fast
    from .data.event_folders import EVENT_FORMATS
    from .energy.counting import count_network
    from .energy.report import build_report
    from .evaluation import test_inputs
    from .ir.hdf5 import read_network
    from .mechanisms.token_select.rules import run_twin

    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise LoihiSnnError(f"unknown metric '{unknown[0]}': use one of {', '.join(METRICS)}")
    if energy_model not in BUILTIN_COSTS:
        raise LoihiSnnError(
            f"unknown energy model '{energy_model}': use one of {', '.join(BUILTIN_COSTS)}"
        )
    graph = read_network(net)
    inputs = test_inputs(graph, n)
    data = inputs.trained.recipe.data
    graded = None if data.dataset in EVENT_FORMATS else data.encoder == "direct"  # as energy
    select = [i for i, layer in enumerate(graph.layers) if layer.kind == "token_select"]
    if "sparsity" in metrics and not select:
        raise LoihiSnnError(f"{net}: the metric sparsity needs a token_select layer (SPARTA)")
    count = "energy" in metrics or "sops" in metrics
    runner = FastRunner(graph)
    correct = spikes = slots = 0
    energy = sops = 0.0
    kept, unpriced = [], set()
    for start in range(0, len(inputs.x), BATCH):
        x = inputs.x[start : start + BATCH]
        result = run_fast(graph, x, record_states=count, batch_size=len(x), runner=runner)
        correct += int((result.predictions == inputs.labels[start : start + BATCH]).sum())
        for i, s in zip(graph.populations, result.spikes, strict=True):
            if not graph.layers[i].custom:
                spikes, slots = spikes + int(s.sum()), slots + s.size
        if count:
            report = build_report(
                count_network(graph, x, result, "standard", graded, "fast"),
                [BUILTIN_COSTS[energy_model]],
            )
            energy += report["totals"]["energy_pj_per_sample"][energy_model] * len(x)
            sops += sum(report["projections_ops_per_sample"].values()) * len(x)
            unpriced.update(report["totals"]["not_priced"][energy_model])
        if select:
            kept.append(run_twin(graph.layers[select[0]].params, runner.x[select[0]]).k)
    total = len(inputs.x)
    values = {
        "accuracy": correct / total,
        "lif_rate": 100 * spikes / slots,
        "energy": energy / total / 1e3,  # pJ -> nJ
        "sops": sops / total,
    }
    if select:
        import numpy as np

        tokens = math.prod(graph.layers[select[0]].shape[1:])
        values["sparsity"] = float(1 - np.concatenate(kept).mean() / tokens)
    notes = []
    if unpriced and "energy" in metrics:
        notes.append(f"{energy_model} does not price {', '.join(sorted(unpriced))}")
    return Evaluation(total, {m: float(values[m]) for m in metrics}, notes)


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
    from .export import export
    from .train import CHECKPOINT, train

    comparison = load_comparison(path)
    seeds = list(comparison.seeds if seeds is None else seeds)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise LoihiSnnError(f"seeds must be distinct integers >= 0, not {seeds}")
    overrides = list(overrides)
    _check_overrides(overrides, "overrides")
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
        shown = ", ".join(f"{m} {_with_unit(v, m)}" for m, v in measured.values.items())
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
    report = _report(comparison, plan, results, seeds, overrides,
                     command_line(path, runs, out, seeds, overrides, read_only))
    files = {kind: Path(f"{out}.{kind}") for kind in ("md", "json", "png")}
    report["files"] = {kind: str(p) for kind, p in files.items()}
    _write(report, files)
    return report


def _say(enabled: bool, line: str) -> None:
    if enabled:
        print(line, file=sys.stderr, flush=True)


def _fmt(value: float, metric: str) -> str:
    return f"{value:,.{METRICS[metric].digits}f}"


def _with_unit(value: float, metric: str) -> str:
    unit = METRICS[metric].unit
    return _fmt(value, metric) + (unit if unit in ("", "%") else f" {unit}")


def _report(
    comparison: Comparison,
    plan: list[_Run],
    results: list[dict],
    seeds: list[int],
    overrides: list[str],
    command: str,
) -> dict:
    """The JSON: the comparison, every run's values, and per variant and metric the mean and the
    sample standard deviation over seeds (None for one seed)."""
    variants = []
    for variant in comparison.variants:
        mine = [r for r in results if r["label"] == variant.label]
        t = next(run.recipe for run in plan if run.variant is variant).train
        mean, std = {}, {}
        for metric in comparison.metrics:
            values = [r["values"][metric] for r in mine]
            mean[metric] = statistics.fmean(values)
            std[metric] = statistics.stdev(values) if len(values) > 1 else None
        variants.append(
            {
                "label": variant.label,
                "recipe": _shown(variant.recipe),
                "budget": {
                    "epochs": t.epochs,
                    "samples_per_epoch": t.samples_per_epoch,
                    "batch_size": t.batch_size,
                    "lr": t.lr,
                    "mean_train_seconds": statistics.fmean(r["train_seconds"] for r in mine),
                },
                "seeds": len(mine),
                "mean": mean,
                "std": std,
                "runs": mine,
            }
        )
    return {
        "comparison": comparison.name,
        "title": comparison.title,
        "file": str(comparison.path),
        "command": command,
        "written": time.strftime("%Y-%m-%d %H:%M"),
        "seeds": seeds,
        "n": comparison.n,
        "backend": "fast (bit-exact with Lava fixed_pt)",
        "overrides": [*comparison.set, *overrides],
        "energy_model": comparison.energy_model,
        "energy_model_source": BUILTIN_COSTS[comparison.energy_model].source,
        "metrics": {
            m: {"title": METRICS[m].title, "unit": METRICS[m].unit,
                "definition": METRICS[m].definition}
            for m in comparison.metrics
        },
        "variants": variants,
        "paper": {
            label: {m: {"value": v, "source": s} for m, (v, s) in table.items()}
            for label, table in comparison.paper.items()
        },
    }


def _shown(path: Path) -> str:
    """A recipe path relative to the repository when it is inside it."""
    return str(path.resolve().relative_to(REPO)) if REPO in path.resolve().parents else str(path)


def _heading(report: dict, metric: str) -> str:
    m = report["metrics"][metric]
    units = [u for u in (m["unit"],) if u]
    if metric == "energy":
        units.append(report["energy_model"])
    return f"{m['title']} ({', '.join(units)})" if units else m["title"]


def _sources(report: dict) -> list[str]:
    """The paper's sources in order of first use (their footnote numbers)."""
    return list(dict.fromkeys(
        entry["source"] for table in report["paper"].values() for entry in table.values()
    ))


def format_table(report: dict) -> str:
    """The Markdown table: per variant and metric "mean ± std (k seeds)", the paper's number
    beside each metric it gives one for, with its footnote number (:func:`format_markdown`)."""
    metrics = list(report["metrics"])
    cited = [m for m in metrics if any(m in table for table in report["paper"].values())]
    sources = _sources(report)
    head = ["variant", "recipe"]
    for m in metrics:
        head += [_heading(report, m)] + (["paper"] if m in cited else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in report["variants"]:
        row = [v["label"], f"`{v['recipe']}`"]
        for m in metrics:
            mean, std = _fmt(v["mean"][m], m), v["std"][m]
            row.append(f"{mean} ({v['seeds']} seed)" if std is None
                       else f"{mean} ± {_fmt(std, m)} ({v['seeds']} seeds)")
            if m in cited:
                entry = report["paper"].get(v["label"], {}).get(m)
                row.append("-" if entry is None else
                           f"{_fmt(entry['value'], m)} [{sources.index(entry['source']) + 1}]")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    """The report as Markdown: what was run and how (the command), the table
    (:func:`format_table`), the budget, every run, the metrics' definitions and the paper's
    sources."""
    metrics = list(report["metrics"])
    sources = _sources(report)
    samples = sorted({r["samples"] for v in report["variants"] for r in v["runs"]})
    lines = [
        f"# {report['title']}",
        "",
        f"Mean ± sample standard deviation over seeds {', '.join(map(str, report['seeds']))}, "
        f"on the first {' or '.join(map(str, samples))} test images, {report['backend']}; "
        f"written {report['written']} by",
        "",
        "```",
        report["command"],
        "```",
        "",
        format_table(report),
    ]
    overrides = ", ".join(f"`{o}`" for o in report["overrides"]) or "none"
    lines += ["", f"Budget: the recipes with the overrides {overrides} (in this order):", ""]
    for v in report["variants"]:
        b = v["budget"]
        images = b["samples_per_epoch"] or "all"
        lines.append(
            f"- {v['label']}: {b['epochs']} epoch{'s' * (b['epochs'] != 1)} of {images} training "
            f"images, batch "
            f"{b['batch_size']}, lr {b['lr']}; {b['mean_train_seconds']:.0f} s of training per "
            f"run (mean)"
        )
    head = ["variant", "seed", "run", "how", *(_heading(report, m) for m in metrics)]
    lines += ["", "Every run:", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in report["variants"]:
        for r in v["runs"]:
            values = [_fmt(r["values"][m], m) for m in metrics]
            how = f"{r['status']}, epoch {r['epoch']}" + "".join(f"; {n}" for n in r["notes"])
            lines.append(
                "| " + " | ".join([v["label"], str(r["seed"]), f"`{r['run']}`", how, *values])
                + " |"
            )
    lines += ["", "Metrics:", ""]
    lines += [f"- {_heading(report, m)}: {report['metrics'][m]['definition']}" for m in metrics]
    if "energy" in metrics:
        lines.append(f"- {report['energy_model']}: {report['energy_model_source']}")
    if sources:
        lines += ["", "The paper's numbers (its own networks, data and budgets, not these runs):",
                  ""]
        lines += [f"{i}. {source}" for i, source in enumerate(sources, 1)]
    return "\n".join(lines) + "\n"


def plot_report(report: dict, path: str | Path) -> Path:
    """One panel per metric: a bar per variant at its mean, the standard deviation as an error
    bar and every seed's value as a dot; written atomically as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .fileio import atomic_path

    metrics = list(report["metrics"])
    labels = [v["label"] for v in report["variants"]]
    fig = Figure(figsize=(1.2 + (0.9 + 0.5 * len(labels)) * len(metrics), 3.8),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, m in zip(axes, metrics, strict=True):
        means = [v["mean"][m] for v in report["variants"]]
        errors = [v["std"][m] or 0.0 for v in report["variants"]]
        ax.bar(range(len(labels)), means, 0.6, yerr=errors, capsize=4,
               color=[f"C{i}" for i in range(len(labels))], alpha=0.8)
        for i, v in enumerate(report["variants"]):
            dots = [r["values"][m] for r in v["runs"]]
            ax.plot([i + 0.12] * len(dots), dots, "k.", ms=5)
        ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 3 else 0)
        ax.set_title(_heading(report, m), fontsize=9)
    fig.suptitle(
        f"{report['title']}\nmean ± std over seeds {', '.join(map(str, report['seeds']))} "
        f"(dots: seeds), {report['n']} test images", fontsize=10
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def _write(report: dict, files: dict[str, Path]) -> None:
    from .fileio import atomic_path, write_json

    with atomic_path(files["md"]) as tmp:
        tmp.write_text(format_markdown(report))
    write_json(files["json"], report)
    plot_report(report, files["png"])
