"""The ``deploy`` subcommand: does a network fit a Loihi 2 board, on how many cores and chips,
where does each layer run, what would an inference cost; then the board run.

Exit codes: 0 the report (``--dry-run``) or the board run; 2 an error, including a network that
does not fit (one line naming the first violation; the report lists them all); 3
(:data:`.hardware.EXIT_NO_BOARD`) the report was printed but the board run cannot start because
lava-loihi is not installed.

Wire it into ``loihi_snn/cli.py`` with ``add_deploy_parser(sub)``; building the parser imports
nothing heavy.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import LoihiSnnError

BOARDS = ("oheo-gulch", "kapoho-point", "hala-point")  # the packaged table's boards (tested)
NO_BOARD = (
    "loihi-snn: the board run needs Intel's lava-loihi (Loihi2HwCfg's NeuroCore compiler and "
    "runtime, INRC members only), which is not installed here: the report above is the dry run"
)


def _cmd_deploy(args: argparse.Namespace) -> int:
    from ..ir.hdf5 import read_network
    from .hardware import EXIT_NO_BOARD, board_available
    from .plan import plan
    from .report import build_report, format_report, write_report

    if args.steps is not None and args.steps < 1:
        raise LoihiSnnError("--steps must be at least 1")
    if args.n < 1:
        raise LoihiSnnError("-n must be at least 1")
    graph = read_network(args.net)
    result = plan(
        graph, args.board, args.chip, args.steps, args.n, args.input, args.data, args.data_dir,
        args.checkpoint, args.backend,
    )
    mapping, inputs = result.mapping, result.inputs
    report = build_report(mapping, result.estimate, result.note)
    print(format_report(report))

    def save() -> None:
        if args.json:
            write_report(report, args.json)
            print(f"wrote {args.json}")

    if not mapping.fits:
        save()
        more = len(mapping.violations) - 1
        raise LoihiSnnError(
            f"{graph.name} does not fit {mapping.board.name}: {mapping.violations[0]}"
            + (f" (and {more} more, listed above)" if more else "")
        )
    if args.dry_run or not board_available():
        save()
        if args.dry_run:
            return 0
        print(NO_BOARD, file=sys.stderr)
        return EXIT_NO_BOARD
    if inputs is None:
        raise LoihiSnnError("the board run needs inputs: pass --input or --data")
    from .hardware import run_on_board

    run = run_on_board(graph, inputs, mapping.steps, mapping.board.chips)
    report["board_run"] = {
        "samples": len(inputs),
        "predictions": run.predictions.tolist(),
        "seconds_per_step": run.seconds_per_step,
        "static_power_w": run.static_power_w,
        "dynamic_power_w": run.dynamic_power_w,
        "note": run.note,
    }
    print(f"{mapping.board.name}: {len(inputs)} samples run on the board")
    if run.seconds_per_step is not None:
        rate = 1.0 / (run.seconds_per_step * mapping.steps)
        static = run.static_power_w * mapping.chips
        print(
            f"measured per inference: {(static + run.dynamic_power_w) / rate * 1e3:.4f} mJ "
            f"({run.dynamic_power_w / rate * 1e3:.4f} dynamic), {rate:,.1f} inferences/s"
        )
    else:
        print(f"note: {run.note}")
    save()
    return 0


def add_deploy_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``deploy`` to an argparse subparsers object (``p.set_defaults(run=...)`` style)."""
    p = subparsers.add_parser(
        "deploy",
        help="map a .net file onto a Loihi 2 board: cores, chips, placement, energy; then run it",
        description="Map every layer of a .net file onto a Loihi 2 board under per-core neuron, "
        "synapse and axon budgets, say where each custom layer must run, estimate energy and "
        "time per inference with a Loihi 2 model calibrated on lava-dl's PilotNet LIF benchmark, "
        "and run on the board through Loihi2HwCfg (needs lava-loihi).",
        epilog="exit codes: 0 done; 2 an error, or the network does not fit (every violation is "
        "listed); 3 report printed, but the board run needs lava-loihi, not installed here",
    )
    p.add_argument("net", help=".net file (NetX or graph format)")
    p.add_argument(
        "--board",
        default="oheo-gulch",
        help=f"{', '.join(BOARDS)} or N-chips, e.g. 4-chips (default oheo-gulch, one chip)",
    )
    p.add_argument("--chip", help="chip table (TOML, like loihi_snn/loihi/loihi2.toml)")
    p.add_argument("--dry-run", action="store_true", help="report only, no board run")
    p.add_argument("--json", help="write the report as JSON")
    p.add_argument("-n", type=int, default=16, help="samples counted for the estimate (16)")
    p.add_argument("--steps", type=int, help="time steps per sample, the reset interval")
    p.add_argument("--data", choices=("digits", "fmnist"), help="dataset (default: the file's own)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument("--input", help=".npy of inputs for files from elsewhere (as for 'sim')")
    p.add_argument("--checkpoint", help="trained checkpoint for the inputs (default: the file's)")
    p.add_argument(
        "--backend",
        choices=("fast", "lava"),
        default="fast",
        help="simulator whose traces are counted (default fast; the counts are identical)",
    )
    p.set_defaults(run=_cmd_deploy)
    return p
