"""The energy report: a terminal table, JSON and a PNG bar chart per layer (written atomically).

Counts in the report are per sample (means over the samples run) and per time step (per sample
divided by T); energies are in picojoules (pJ) in JSON and in nanojoules (nJ) in the table and
chart.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..fileio import atomic_path, write_json
from .costs import ANN_MAC_PJ, CostModel
from .counting import ACTIVE_RULE, OP_MODELS, NetworkCounts

NEUROBENCH_NAMES = (
    "NeuroBench's metrics from the same counts, per sample: effective_acs = AC (spike inputs "
    "reaching nonzero synapses), effective_macs = MAC (graded inputs), dense_ops = every synapse "
    "at every step (FLOPs x T), activation_sparsity = 1 - spikes / (neurons x T) over the LIF "
    "layers, membrane_updates = the neuron updates that changed a state (active updates)"
)
COUNT_KEYS = (
    "input_events",
    "synops",
    "macs",
    "formula_sops",
    "output_spikes",
    "neuron_updates",
    "active_updates",
    "neuron_mults",
    "neuron_adds",
)


def build_report(counts: NetworkCounts, costs: list[CostModel]) -> dict:
    """Everything the run measured and what it costs under each model, as a JSON-able dict."""
    n, steps = counts.samples, counts.time_steps
    ops = OP_MODELS[counts.op_model]
    rule = "synaptic operations and neuron updates only"
    if ops is not None:
        rule = (
            f"{ops.mults_per_neuron} multiplications and {ops.adds_per_neuron} additions per "
            f"neuron update: {ops.note}"
        )
    layers = []
    for layer in counts.layers:
        per_sample = {key: getattr(layer, key) / n for key in COUNT_KEYS}
        energy = {c.name: c.layer_pj(layer) for c in costs}
        layers.append(
            {
                "layer": layer.label,
                "kind": layer.kind,
                "neurons": layer.neurons,
                "inputs": layer.inputs,
                "graded_input": layer.graded_input,
                "static_input": layer.static_input,
                "synapses": layer.synapses,
                "mean_fanout": layer.mean_fanout,
                "input_rate": layer.input_rate,
                "flops_per_step": layer.flops,
                "per_sample": per_sample,
                "per_step_ops": [float(v) / n for v in layer.per_step_ops],
                "custom": layer.custom,
                "note": layer.note,
                "energy_pj_per_sample": {
                    name: None if pj is None else pj / n for name, pj in energy.items()
                },
                "ann_pj_per_sample": ANN_MAC_PJ * layer.flops,
            }
        )
    total = {key: sum(row["per_sample"][key] for row in layers) for key in COUNT_KEYS}
    energy = {
        c.name: sum(row["energy_pj_per_sample"][c.name] or 0.0 for row in layers) for c in costs
    }
    not_priced = {
        c.name: [row["layer"] for row in layers if row["energy_pj_per_sample"][c.name] is None]
        for c in costs
    }
    updates = sum(layer.neurons * steps for layer in counts.layers if not layer.custom)
    spikes = sum(layer.output_spikes for layer in counts.layers if not layer.custom) / n
    neurobench = {
        "effective_acs": total["synops"],
        "effective_macs": total["macs"],
        "dense_ops": float(counts.flops * steps),
        "activation_sparsity": 1.0 - spikes / updates if updates else 0.0,
        "membrane_updates": total["active_updates"],
    }
    return {
        "network": counts.path,
        "backend": counts.backend,
        "samples": n,
        "time_steps": steps,
        "op_model": counts.op_model,
        "op_model_rule": rule,
        "active_update_rule": ACTIVE_RULE,
        "units": "counts per sample (mean over samples) or per time step; energy in pJ",
        "layers": layers,
        "totals": {
            "per_sample": total,
            "per_step": {key: value / steps for key, value in total.items()},
            "energy_pj_per_sample": energy,
            "energy_pj_per_step": {name: value / steps for name, value in energy.items()},
            "not_priced": not_priced,
            "neurobench": neurobench,
            "ann_pj_per_sample": ANN_MAC_PJ * counts.flops,
            "ann_flops_per_sample": counts.flops,
        },
        "ann": f"the same layers as an ANN: E_MAC x FLOPs of every layer, once per sample "
        f"(E_MAC = {ANN_MAC_PJ} pJ, Horowitz 2014)",
        "neurobench_names": NEUROBENCH_NAMES,
        "projections_ops_per_sample": counts.projections,
        "cost_models": [asdict(c) for c in costs],
    }


def _nj(pj: float | None, width: int) -> str:
    """pJ as nJ in a column, or 'n/p' (not priced)."""
    return f"{'n/p':>{width}}" if pj is None else f"{pj / 1e3:>{width}.3f}"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or x == int(x) else f"{x:,.2f}"


def format_report(report: dict) -> str:
    """The report as two terminal tables: counts per layer, then energy per layer and model."""
    n, steps = report["samples"], report["time_steps"]
    lw = max(9, *(len(row["layer"]) for row in report["layers"]))  # layer column width
    lines = [
        f"{Path(report['network']).name}: {n} samples x {steps} steps, backend "
        f"{report['backend']}, op model {report['op_model']} ({report['op_model_rule']})",
        "counts per sample (AC: accumulates for spike input; MAC: multiply-accumulates for graded "
        "input)",
        f"{'layer':<{lw}} {'neurons':>8} {'inputs':>7} {'in events':>11} {'rate':>6} "
        f"{'fan-out':>8} {'AC':>13} {'MAC':>13} {'FLOPs/step':>12} {'spikes':>9} "
        f"{'updates':>10} {'active':>7}",
    ]
    for row in report["layers"]:
        s = row["per_sample"]
        active = s["active_updates"] / s["neuron_updates"] if s["neuron_updates"] else 0.0
        inputs = f"{row['inputs']}{'g' if row['graded_input'] else ''}"
        lines.append(
            f"{row['layer']:<{lw}} {row['neurons']:>8} {inputs:>7} {_num(s['input_events']):>11} "
            f"{row['input_rate']:>6.3f} {row['mean_fanout']:>8.1f} {_num(s['synops']):>13} "
            f"{_num(s['macs']):>13} {row['flops_per_step']:>12,} {_num(s['output_spikes']):>9} "
            f"{_num(s['neuron_updates']):>10} {active:>7.1%}"
        )
    for label, t in (
        ("total", report["totals"]["per_sample"]),
        ("per step", report["totals"]["per_step"]),
    ):
        lines.append(
            f"{label:<{lw}} {'':>8} {'':>7} {_num(t['input_events']):>11} {'':>6} {'':>8} "
            f"{_num(t['synops']):>13} {_num(t['macs']):>13} {'':>12} {_num(t['output_spikes']):>9} "
            f"{_num(t['neuron_updates']):>10}"
        )
    if report["op_model"] != "standard":
        t = report["totals"]["per_sample"]
        lines.append(
            f"op-model arithmetic per sample: {_num(t['neuron_mults'])} multiplications, "
            f"{_num(t['neuron_adds'])} additions"
        )
    names = [c["name"] for c in report["cost_models"]]
    width = max(14, *(len(name) + 1 for name in names))
    lines.append("energy per sample, nJ")
    lines.append(
        f"{'layer':<{lw}} " + " ".join(f"{name:>{width}}" for name in names) + f" {'ANN':>10}"
    )
    for row in report["layers"]:
        values = " ".join(_nj(row["energy_pj_per_sample"][name], width) for name in names)
        lines.append(f"{row['layer']:<{lw}} {values} {row['ann_pj_per_sample'] / 1e3:>10.3f}")
    totals = report["totals"]
    for label, key, ann in (
        ("total", "energy_pj_per_sample", totals["ann_pj_per_sample"]),
        ("per step", "energy_pj_per_step", None),
    ):
        values = " ".join(f"{totals[key][name] / 1e3:>{width}.3f}" for name in names)
        lines.append(f"{label:<{lw}} {values} {'' if ann is None else f'{ann / 1e3:>10.3f}'}")
    for name, missing in totals["not_priced"].items():
        if missing:
            lines.append(
                f"{name}: not priced (its total leaves them out): {', '.join(missing)}"
            )
    for row in report["layers"]:
        if row["note"]:
            lines.append(f"{row['layer']}: {row['note']}")
    nb = totals["neurobench"]
    lines.append(
        f"NeuroBench per sample: effective ACs {_num(nb['effective_acs'])}, effective MACs "
        f"{_num(nb['effective_macs'])}, dense ops {_num(nb['dense_ops'])}, activation sparsity "
        f"{nb['activation_sparsity']:.4f}, membrane updates {_num(nb['membrane_updates'])}"
    )
    lines.append(f"ANN: {report['ann']}")
    for cost in report["cost_models"]:
        lines.append(f"{cost['name']}: {cost['source']}")
    lines.append(f"neuron updates: {report['active_update_rule']}")
    return "\n".join(lines)


def write_report(report: dict, json_path: str | Path | None, plot_path: str | Path | None) -> None:
    """Write the JSON and the PNG chart, each atomically (None skips one)."""
    if json_path is not None:
        write_json(json_path, report)
    if plot_path is not None:
        plot_report(report, plot_path)


def plot_report(report: dict, path: str | Path) -> Path:
    """Bar chart per layer: operations per sample (left) and energy per sample for every cost model
    and the ANN (right), log scale; written atomically as PNG (Agg, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = report["layers"]
    labels = [row["layer"] for row in rows]
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    series = [
        ("AC (spike input)", [row["per_sample"]["synops"] for row in rows]),
        ("MAC (graded input)", [row["per_sample"]["macs"] for row in rows]),
        ("neuron updates", [row["per_sample"]["neuron_updates"] for row in rows]),
        ("active updates", [row["per_sample"]["active_updates"] for row in rows]),
    ]
    _bars(left, labels, series, "operations per sample")
    names = [c["name"] for c in report["cost_models"]]
    series = [
        (name, [(row["energy_pj_per_sample"][name] or 0.0) / 1e3 for row in rows])
        for name in names
    ]
    series.append(("ANN (E_MAC x FLOPs)", [row["ann_pj_per_sample"] / 1e3 for row in rows]))
    _bars(right, labels, series, "energy per sample (nJ)")
    fig.suptitle(
        f"{Path(report['network']).name}: {report['samples']} samples x {report['time_steps']} "
        f"steps, op model {report['op_model']}"
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def _bars(ax, labels: list[str], series: list[tuple[str, list[float]]], ylabel: str) -> None:
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, values, width, label=name)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("layer (number in the file:kind)")
    ax.set_ylabel(ylabel)
    if any(v > 0 for _, values in series for v in values):
        ax.set_yscale("log")
    ax.legend(fontsize=8)


def format_paper(table: dict) -> str:
    """The BIASNN paper table (:func:`loihi_snn.mechanisms.alif_mask.paper.paper_table`) for the
    terminal."""
    shapes = " + ".join("x".join(str(d) for d in s) for s in table["attention_shapes"])
    lines = [
        f"{table['model']}",
        f"attention neurons N = {shapes} = {table['attention_neurons']:,}",
        f"{'neuron':<6} {'multiplications':>16} {'additions':>12} {'energy (uJ)':>12}  rule",
    ]
    for name, row in table["neurons"].items():
        lines.append(
            f"{name.upper():<6} {row['multiplications']:>16,} {row['additions']:>12,} "
            f"{row['energy_pj'] / 1e6:>12.3f}  {row['rule']}"
        )
    macs = table["backbone_macs"]
    formula = table["seeds_formula_uniform_rate_pj"]
    lines += [
        f"ALIF - LIF: {table['alif_extra_pj'] / 1e6:.3f} uJ per image per step "
        f"(add {table['costs_pj']['add']} pJ, mult {table['costs_pj']['mult']} pJ)",
        f"backbone MACs: spike-input convs {macs['spike_input_convs']:,}, stem {macs['stem']:,}, "
        f"shortcuts {macs['shortcuts']:,}",
        f"seeds' formula at a uniform rate of 9.64%, T = 4: {formula['total'] / 1e9:.3f} mJ "
        f"(SOPs {formula['spike_conv_sops'] / 1e9:.3f}, stem {formula['stem_macs_once'] / 1e9:.3f},"
        f" shortcuts {formula['shortcut_macs'] / 1e9:.3f}); paper: 0.55 mJ with per-layer rates",
        f"source: {table['source']}",
    ]
    return "\n".join(lines)
