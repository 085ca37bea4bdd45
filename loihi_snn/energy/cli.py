"""The ``energy`` subcommand: operation counts and energy estimates from simulation traces.

Wire it into ``loihi_snn/cli.py`` with ``add_energy_parser(sub)`` next to the other subcommands.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import LoihiSnnError

# Kept literal so that building the parser imports nothing heavy (checked against counting.OP_MODELS
# and runner.BACKENDS by the tests).
OP_MODEL_CHOICES = ("standard", "biasnn")
BACKEND_CHOICES = ("lava", "fast")
PAPER_INPUTS = {"cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "fmnist": (1, 28, 28)}


def _cmd_energy(args: argparse.Namespace) -> int:
    from .costs import BUILTIN_COSTS, load_cost_table
    from .report import build_report, format_paper, format_report, write_report

    if args.paper:
        from ..fileio import write_json
        from ..mechanisms.alif_mask.paper import paper_table

        table = paper_table(PAPER_INPUTS[args.paper_data])
        print(format_paper(table))
        if args.json:
            write_json(args.json, table)
            print(f"wrote {args.json}")
        return 0
    if not args.net:
        raise LoihiSnnError("give a .net file to measure, or --paper biasnn for the paper's counts")
    from ..ir.hdf5 import read_network
    from .runner import load_test_inputs, measure

    costs = list(BUILTIN_COSTS.values())
    if args.costs:
        extra = load_cost_table(args.costs)
        costs = [c for c in costs if c.name not in {e.name for e in extra}] + extra
    info = read_network(args.net)
    if args.n < 1:
        raise LoihiSnnError("-n must be at least 1")
    x, graded = load_test_inputs(
        info, args.n, args.data, args.data_dir, args.input, args.checkpoint
    )
    counts = measure(info, x, args.backend, args.op_model, graded, args.steps)
    report = build_report(counts, costs)
    print(format_report(report))
    net = Path(args.net)
    json_path = args.json or net.with_name(f"{net.stem}.energy.json")
    plot_path = args.plot or net.with_name(f"{net.stem}.energy.png")
    write_report(report, json_path, plot_path)
    print(f"wrote {json_path} and {plot_path}")
    return 0


def add_energy_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``energy`` to an argparse subparsers object (``p.set_defaults(run=...)`` style)."""
    p = subparsers.add_parser(
        "energy",
        help="synaptic operations, neuron updates and energy per layer from simulation traces",
        description="Run a .net file, count per layer input events, synaptic operations (AC for "
        "spikes, MAC for graded input), neuron updates (active/inactive) and op-model arithmetic, "
        "and price them with cost models (45 nm CMOS, Loihi, your own table); see sim/ENERGY.md.",
    )
    p.add_argument("net", nargs="?", help=".net file (not needed with --paper)")
    p.add_argument("--data", choices=("digits", "fmnist"), help="dataset (default: the file's own)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument("-n", type=int, default=20, help="number of test samples (default 20)")
    p.add_argument("--input", help=".npy of inputs for files from elsewhere (as for 'sim')")
    p.add_argument("--steps", type=int, help="time steps per sample (default: the file's tSample)")
    p.add_argument(
        "--checkpoint", help="trained checkpoint for the test inputs (default: the file's)"
    )
    p.add_argument(
        "--backend", choices=BACKEND_CHOICES, default="lava", help="simulator (default lava)"
    )
    p.add_argument(
        "--op-model",
        choices=OP_MODEL_CHOICES,
        default="standard",
        help="standard: synaptic ops and neuron updates; biasnn: also the BIASNN paper's neuron "
        "arithmetic (2 multiplications, 4 additions per update)",
    )
    p.add_argument("--costs", help="cost table (TOML or JSON) with more cost models")
    p.add_argument("--json", help="JSON output (default <net>.energy.json beside the file)")
    p.add_argument("--plot", help="PNG bar chart (default <net>.energy.png beside the file)")
    p.add_argument(
        "--paper",
        choices=("biasnn",),
        help="print the BIASNN paper's attention op counts from its architecture (no .net needed)",
    )
    p.add_argument(
        "--paper-data",
        choices=tuple(PAPER_INPUTS),
        default="cifar10",
        help="input size of the paper's architecture (default cifar10, 3x32x32)",
    )
    p.set_defaults(run=_cmd_energy)
    return p
