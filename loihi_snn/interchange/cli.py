"""``loihi-snn nir export`` and ``loihi-snn nir import`` (the heavy imports happen inside the
commands, so that ``--help`` stays fast)."""

from __future__ import annotations

import argparse

from ..errors import LoihiSnnError


def _cmd_export(args: argparse.Namespace) -> int:
    from .to_nir import export_nir

    print(f"wrote {export_nir(args.net, args.output, args.dt)} (dt = {args.dt:g} s)")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    import numpy as np

    from .from_nir import import_nir
    from .reference import calibration_report

    imported = import_nir(args.nir, args.output, args.dt, args.steps)
    print(imported.report())
    if args.calibrate:
        try:
            inputs = np.load(args.calibrate)
        except (OSError, ValueError) as err:
            raise LoihiSnnError(f"cannot read --calibrate {args.calibrate}: {err}") from None
        print(calibration_report(imported, inputs))
    print(f"wrote {args.output} (format 2, {imported.graph.time_steps} steps per sample)")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``nir`` command and its two subcommands."""
    p = sub.add_parser("nir", help="NIR interchange: export a .net to NIR, import NIR to a .net")
    nir_sub = p.add_subparsers(dest="nir_command", required=True)
    e = nir_sub.add_parser("export", help="write a network file as a NIR graph")
    e.add_argument("net", help="network file (.net, format 1 or 2)")
    e.add_argument("-o", "--output", required=True, help="output .nir file")
    e.add_argument("--dt", type=float, default=1e-4,
                   help="the step the time constants are written for (default 1e-4, snnTorch's)")
    e.set_defaults(run=_cmd_export)
    i = nir_sub.add_parser("import", help="quantise a NIR graph onto Loihi and write a .net")
    i.add_argument("nir", help="NIR file (.nir)")
    i.add_argument("-o", "--output", required=True, help="output .net file (format 2)")
    i.add_argument("--dt", type=float,
                   help="step to read the time constants with (default: the file's, else "
                        "detected from snnTorch's or Norse's convention)")
    i.add_argument("--steps", type=int, help="time steps per sample (default: the file's)")
    i.add_argument("--calibrate", metavar="INPUTS.npy",
                   help="inputs (n, *input shape, T) to compare the float model with Loihi's "
                        "integer run, layer by layer")
    i.set_defaults(run=_cmd_import)
