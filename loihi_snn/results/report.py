"""A comparison's report: mean and standard deviation over seeds beside the paper's numbers, as
a dict (the JSON), a terminal table, Markdown and a bar chart."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from ..energy.costs import BUILTIN_COSTS
from .comparison import METRICS, REPO, Comparison, Run


def _fmt(value: float, metric: str) -> str:
    return f"{value:,.{METRICS[metric].digits}f}"


def _over_seeds(report: dict, short: bool = False) -> str:
    """What the table's values are: a mean and spread over several seeds, or one seed's."""
    seeds = ", ".join(map(str, report["seeds"]))
    if len(report["seeds"]) == 1:
        return f"one seed ({seeds})" if short else f"One seed ({seeds}), no spread"
    return f"mean ± std over seeds {seeds}" if short else (
        f"Mean ± sample standard deviation over seeds {seeds}")


def with_unit(value: float, metric: str) -> str:
    unit = METRICS[metric].unit
    return _fmt(value, metric) + (unit if unit in ("", "%") else f" {unit}")


def build_report(
    comparison: Comparison,
    plan: list[Run],
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
                    "val_fraction": t.val_fraction,
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
        f"{_over_seeds(report)}, on the first {' or '.join(map(str, samples))} test images, "
        f"{report['backend']}; "
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
        split = b["val_fraction"]
        held_out = f" but the validation split's {split:.0%}" if split else ""
        images = (
            f"{b['samples_per_epoch']} training images"
            if b["samples_per_epoch"]
            else f"all the training images{held_out}"
        )
        lines.append(
            f"- {v['label']}: {b['epochs']} epoch{'s' * (b['epochs'] != 1)} of {images}, batch "
            f"{b['batch_size']}, lr {b['lr']}; {b['mean_train_seconds']:.0f} s per run, training "
            f"with its per-epoch evaluations (mean)"
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

    from ..fileio import atomic_path

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
        crowded = len(labels) > 3 or max(map(len, labels)) > 9
        ax.set_xticks(range(len(labels)), labels, rotation=25 if crowded else 0,
                      ha="right" if crowded else "center", rotation_mode="anchor")
        ax.set_title(_heading(report, m), fontsize=9)
    fig.suptitle(
        f"{report['title']}\n{_over_seeds(report, short=True)} (dots: seeds), "
        f"{report['n']} test images", fontsize=10
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def write_report(report: dict, files: dict[str, Path]) -> None:
    from ..fileio import atomic_path, write_json

    with atomic_path(files["md"]) as tmp:
        tmp.write_text(format_markdown(report))
    write_json(files["json"], report)
    plot_report(report, files["png"])
