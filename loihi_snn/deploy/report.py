"""The deploy report: a per-layer table for the terminal and the same as JSON (written atomically).

Per layer (named by its number in the file and its kind, e.g. ``2:conv``): where it runs and
why, cores, the fullest core's neurons, synapses (one 8-bit weight each) and input / output axons,
the budget that set its cores, and its energy per inference under the Loihi 1 and the calibrated
Loihi 2 models (uJ; n/p: not priced). Then the totals, every violation, the estimate per inference
and the chip entries used, each with how sure it is.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..fileio import write_json
from .estimate import Estimate
from .mapper import NEUROCORES, Mapping

BUDGETS = ("neurons_per_core", "synapses_per_core", "axons_in_per_core", "axons_out_per_core")


def build_report(mapping: Mapping, est: Estimate | None, note: str = "") -> dict:
    """Everything the mapping and the estimate say, as a JSON-able dict (energies in uJ and mJ,
    time in ms); ``note`` says why there is no estimate."""
    chip, board = mapping.chip, mapping.board
    energy = {} if est is None else {row.index: row for row in est.layers}
    layers = []
    for m in mapping.layers:
        row = asdict(m)
        del row["index"]  # the graph's position, not the file's number (in name and label)
        e = energy.get(m.index)
        row["energy_uj"] = {
            "loihi": None if e is None or e.loihi_pj is None else e.loihi_pj / 1e6,
            "loihi2": None if e is None or e.loihi2_pj is None else e.loihi2_pj / 1e6,
        }
        layers.append(row)
    report = {
        "network": mapping.network,
        "chip": chip.name,
        "board": {"name": board.name, "chips": board.chips, "neurocores": board.neurocores},
        "reset_interval": mapping.steps,
        "fits": mapping.fits,
        "violations": mapping.violations,
        "neurocores": mapping.cores,
        "chips": mapping.chips,
        "embedded_cpus": mapping.embedded_cpus,
        "neurons": sum(m.neurons for m in mapping.layers if m.placement == NEUROCORES),
        "layers": layers,
        "budgets": {key: chip.table["chip"][key] for key in BUDGETS},
        "estimate": None,
        "estimate_note": note,
    }
    if est is not None:
        bench = chip.benchmark
        report["estimate"] = {
            "samples": est.samples,
            "steps": est.steps,
            "total_mj": est.total_mj,
            "dynamic_mj": est.dynamic_mj,
            "static_mj": est.static_mj,
            "ms_per_inference": est.seconds * 1e3,
            "inferences_per_s": est.inferences_per_s,
            "busiest_core": est.busiest,
            "loihi_dynamic_mj": est.loihi_mj,
            "not_priced": est.not_priced,
            "calibration": asdict(bench),
            "cost_models": [asdict(c) for c in est.models],
        }
    return report


def _uj(value: float | None) -> str:
    return "n/p" if value is None else f"{value:,.2f}"


def format_report(report: dict) -> str:
    """The report as terminal lines."""
    board = report["board"]
    lw = max(12, *(len(row["name"]) for row in report["layers"]))
    lines = [
        f"{Path(report['network']).name} on {report['chip']}, board {board['name']} "
        f"({board['chips']} chip(s), {board['neurocores']:,} neurocores), "
        f"{report['reset_interval']} steps per sample",
        f"{'layer':<{lw}} {'neurons':>8} {'runs on':<12} {'cores':>5} "
        f"{'neur/core':>9} {'syn/core':>9} {'axons in':>8} {'axons out':>9} {'bound':<9} "
        f"{'Loihi uJ':>9} {'Loihi 2 uJ':>10}",
    ]
    for row in report["layers"]:
        e = row["energy_uj"]
        lines.append(
            f"{row['name']:<{lw}} {row['neurons']:>8,} "
            f"{row['placement']:<12} {row['cores']:>5} {row['neurons_per_core']:>9,} "
            f"{row['synapses_per_core']:>9,} {row['axons_in']:>8,} {row['axons_out']:>9,} "
            f"{row['bound']:<9} {_uj(e['loihi']):>9} {_uj(e['loihi2']):>10}"
        )
    share = report["neurocores"] / board["neurocores"]
    lines.append(
        f"total: {report['neurons']:,} neurons on {report['neurocores']:,} neurocores "
        f"({share:.1%} of the board), {report['chips']} chip(s), {report['embedded_cpus']} "
        f"embedded CPU(s): " + ("fits" if report["fits"] else "DOES NOT FIT")
    )
    for row in report["layers"]:  # custom layers and a host input: where and why
        stock = row["label"].endswith("(population)") or row["placement"] == NEUROCORES and row[
            "label"
        ].endswith("(input)")
        if not stock:
            lines.append(f"{row['label']} runs on {row['placement']}: {row['reason']}")
    for problem in report["violations"]:
        lines.append(f"does not fit: {problem}")
    est = report["estimate"]
    if est is None:
        if report["estimate_note"]:
            lines.append(f"no estimate: {report['estimate_note']}")
    else:
        cal = est["calibration"]
        lines.append(
            f"estimate per inference ({est['steps']} steps, counts of {est['samples']} samples): "
            f"Loihi 2 {est['total_mj']:.4f} mJ ({est['dynamic_mj']:.4f} dynamic + "
            f"{est['static_mj']:.4f} static), {est['ms_per_inference']:.3f} ms, "
            f"{est['inferences_per_s']:,.1f} inferences/s (busiest core: "
            f"{est['busiest_core']}); Loihi 1 model {est['loihi_dynamic_mj']:.4f} mJ dynamic"
        )
        if est["not_priced"]:
            lines.append(
                f"not priced (left out of energy and time): {', '.join(est['not_priced'])}"
            )
        lines.append(
            f"Loihi 2 model: calibrated on {cal['name']} ({cal['board']}, {cal['io']}): "
            f"{cal['energy_mj']} mJ ({cal['dynamic_energy_mj']} dynamic), "
            f"{cal['inferences_per_s']}/s measured; Loihi 1's per-operation energies scaled to "
            f"its dynamic energy, time per step scaled to its busiest core, static power per chip "
            f"(lava-dl pilotnet_snn/benchmark.ipynb; assumptions in loihi_snn/deploy/estimate.py)"
        )
    budgets = ", ".join(
        f"{key.replace('_', ' ')} {entry['value']:,} ({entry['sure']})"
        for key, entry in report["budgets"].items()
    )
    lines.append(f"budgets: {budgets}")
    return "\n".join(lines)


def write_report(report: dict, path: str | Path) -> None:
    write_json(path, report)
