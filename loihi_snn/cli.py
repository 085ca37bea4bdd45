"""The ``loihi-snn`` command: train, export, plot, raster, sim, verify and demo, the energy
report, each mechanism's report subcommands and a comparison's results over seeds."""

from __future__ import annotations

import argparse
import signal
import sys

from . import __version__
from ._lava import import_lava
from .deploy.cli import add_deploy_parser
from .energy.cli import add_energy_parser
from .errors import LoihiSnnError
from .interchange.cli import add_parsers as nir_parsers
from .mechanisms.reports import REPORTS


def _cmd_train(args: argparse.Namespace) -> int:
    from .distributed import Ranks
    from .recipe import apply_overrides, load_recipe
    from .train import train

    shortcuts = {
        "data.path": args.data_dir,
        "train.epochs": args.epochs,
        "train.samples_per_epoch": args.samples_per_epoch,
    }
    sets = [f"{key}={value}" for key, value in shortcuts.items() if value is not None]
    recipe = apply_overrides(load_recipe(args.recipe), [*sets, *args.set])
    out = args.out or f"runs/{recipe.name}"
    row = train(
        recipe, out, resume=args.resume, force=args.force, threads=args.threads,
        device=args.device,
    )
    if Ranks.from_env().is_main:  # one line for a run of several processes (torchrun)
        print(
            f"{recipe.name}: test accuracy {row['test_accuracy']:.4f} (quantised, eval mode) "
            f"after epoch {row['epoch']}; run in {out}"
        )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    path = export(args.source, args.output, checkpoint=args.checkpoint)
    print(f"wrote {path}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_run

    print(f"wrote {plot_run(args.run_dir, args.output)}")
    return 0


def _cmd_raster(args: argparse.Namespace) -> int:
    from .plots import plot_raster

    path = plot_raster(
        args.net,
        n=args.n,
        backend=args.backend,
        input_npy=args.input,
        dataset=args.data,
        data_dir=args.data_dir,
        out=args.output,
        max_neurons=args.max_neurons,
    )
    print(f"wrote {path}")
    return 0


def _cmd_sim(args: argparse.Namespace) -> int:
    from .evaluation import simulate

    report = simulate(
        args.net,
        n=args.n,
        dataset=args.data,
        data_dir=args.data_dir,
        input_npy=args.input,
        labels_npy=args.labels,
        steps=args.steps,
        checkpoint=args.checkpoint,
        hardware=args.hardware,
        backend=args.backend,
    )
    backend = {"lava": "Lava Loihi2SimCfg fixed_pt", "fast": "fast bit-exact backend"}[args.backend]
    backend = "Loihi 2" if args.hardware else backend
    print(
        f"{backend}: {report.samples} samples in {report.seconds:.1f} s "
        f"({report.samples / max(report.seconds, 1e-9):.1f} samples/s)"
    )
    if report.accuracy is not None:
        print(f"accuracy  {report.accuracy:.4f}")
    if report.agreement is not None:
        print(f"agreement {report.agreement:.4f} with the trained model's predictions")
    for note in report.notes:
        print(f"note: {note}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .evaluation import verify

    checks = verify(
        args.net, n=args.n, checkpoint=args.checkpoint, data_dir=args.data_dir, backend=args.backend
    )
    print(format_checks(checks, args.n, args.backend))
    return 0 if all(c.mismatches == 0 for c in checks) else 1


def format_checks(checks: list, samples: int, backend: str = "lava") -> str:
    other, column = {"lava": ("Lava fixed_pt", "Lava"), "fast": ("the fast backend", "fast")}[
        backend
    ]
    width = max([6, *(len(c.kind) for c in checks)])
    lines = [
        f"trained model (eval) vs {other}, {samples} samples",
        f"{'layer':>5} {'type':{width}} {'neurons':>8} {'model spikes':>13} "
        f"{column + ' spikes':>12} {'mismatches':>11}",
    ]
    silent = [
        c.index for c in checks if c.model_spikes == 0 and c.lava_spikes == 0 and not c.voltage
    ]
    for c in checks:
        mark = "  silent" if c.index in silent else "  voltage" if c.voltage else ""
        lines.append(
            f"{c.index:>5} {c.kind:{width}} {c.neurons:>8} {c.model_spikes:>13} "
            f"{c.lava_spikes:>12} {c.mismatches:>11}" + mark
        )
    total = sum(c.mismatches for c in checks)
    lines.append("bit-exact: 0 mismatches" if total == 0 else f"NOT bit-exact: {total} mismatches")
    if any(c.voltage for c in checks):
        lines.append(
            "voltage: a non-spiking output layer; its mismatches also count the voltages at the "
            "last step (the class readout) that differ"
        )
    if silent:
        lines.append(
            f"silent: layer{'s' if len(silent) > 1 else ''} {', '.join(map(str, silent))} never "
            f"spiked on these samples, so their agreement proves nothing: compare more (-n)"
        )
    return "\n".join(lines)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .fileio import write_json
    from .inspection import format_inspection, inspect

    info = inspect(args.net)
    print(format_inspection(info))
    if args.json:
        write_json(args.json, info)
        print(f"wrote {args.json}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import demo

    return demo(args.out)


def _cmd_results(args: argparse.Namespace) -> int:
    from .results import format_table, run_comparison

    report = run_comparison(
        args.comparison,
        runs=args.runs,
        out=args.out,
        seeds=args.seeds,
        overrides=args.set,
        read_only=args.read_only,
    )
    print(format_table(report))
    print(f"wrote {', '.join(report['files'].values())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loihi-snn", description=__doc__)
    parser.add_argument("--version", action="version", version=f"loihi-snn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a recipe (quantisation-aware, lava-dl SLAYER)")
    p.add_argument("recipe", help="recipe file, e.g. train/digits_mlp.toml, or a name in train/")
    p.add_argument("--out", help="run directory (default runs/<recipe name>)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument(
        "--force",
        action="store_true",
        help="with --resume: continue even though the effective recipe differs from the run's",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any recipe key, e.g. --set train.lr=0.002 --set layers.0.out=64 "
        "(repeatable; the effective recipe is written to the run folder)",
    )
    p.add_argument("--epochs", type=int, help="override the recipe's number of epochs (>= 1)")
    p.add_argument(
        "--samples-per-epoch", type=int, help="override the recipe's training samples per epoch"
    )
    p.add_argument("--data-dir", help="folder with the dataset's files (Fashion-MNIST IDX)")
    p.add_argument(
        "--threads",
        default="auto",
        help="torch threads: a count, or auto (default): the cores other processes leave free, "
        "re-measured every 2 s",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="where the training passes run: cpu (default), cuda, cuda:N or auto (CUDA where "
        "torch finds it); evaluations run the integer twin on the CPU",
    )
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("export", help="write a trained run as NetX HDF5")
    p.add_argument("source", help="run directory or checkpoint file")
    p.add_argument("-o", "--output", required=True, help="output .net file")
    p.add_argument(
        "--checkpoint",
        choices=("last", "best"),
        default="last",
        help="of a run directory: the last epoch's checkpoint (default) or best.pt, the epoch "
        "with the best validation accuracy",
    )
    p.set_defaults(run=_cmd_export)

    p = sub.add_parser("plot", help="a run's loss, accuracy and learning-rate curves as a PNG")
    p.add_argument("run_dir", help="run directory (with metrics.csv and steps.csv)")
    p.add_argument("-o", "--output", help="PNG file (default <run>/training.png)")
    p.set_defaults(run=_cmd_plot, needs_lava=False)

    p = sub.add_parser("raster", help="per-layer spike rasters of a .net file as a PNG")
    p.add_argument("net")
    p.add_argument("-n", type=int, default=1, help="number of test samples (default 1)")
    p.add_argument("--input", help=".npy of inputs (for files from elsewhere)")
    p.add_argument("--data", choices=("digits", "fmnist"), help="dataset (default: the file's own)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument(
        "--backend",
        choices=("lava", "fast"),
        default="fast",
        help="fast: batched bit-exact backend (default); lava: Lava's CPU simulator",
    )
    p.add_argument(
        "--max-neurons",
        type=int,
        default=128,
        help="rows per layer; larger layers are subsampled evenly (default 128)",
    )
    p.add_argument("-o", "--output", help="PNG file (default <net>.raster.png beside the file)")
    p.set_defaults(run=_cmd_raster)

    p = sub.add_parser("sim", help="run a .net file in Lava and report accuracy and agreement")
    p.add_argument("net")
    p.add_argument("--data", choices=("digits", "fmnist"), help="dataset (default: the file's own)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument("-n", type=int, default=200, help="number of test samples (default 200)")
    p.add_argument(
        "--input", help=".npy of inputs for files from elsewhere (input-layer bias per sample)"
    )
    p.add_argument("--labels", help=".npy of labels for --input")
    p.add_argument("--steps", type=int, help="time steps per sample (default: the file's tSample)")
    p.add_argument("--checkpoint", help="trained checkpoint to compare with (default: the file's)")
    p.add_argument("--hardware", action="store_true", help="run on Loihi 2 (needs lava-loihi)")
    p.add_argument(
        "--backend",
        choices=("lava", "fast"),
        default="lava",
        help="lava: Lava's CPU simulator (default); fast: batched bit-exact backend",
    )
    p.set_defaults(run=_cmd_sim)

    p = sub.add_parser("verify", help="compare trained model and Lava spike for spike, per layer")
    p.add_argument("net")
    p.add_argument("-n", type=int, default=8, help="number of test samples (default 8)")
    p.add_argument("--checkpoint", help="trained checkpoint (default: the one the file came from)")
    p.add_argument("--data-dir", help="folder with the dataset's files")
    p.add_argument(
        "--backend",
        choices=("lava", "fast"),
        default="lava",
        help="what to compare the trained model with (default: Lava fixed_pt)",
    )
    p.set_defaults(run=_cmd_verify)

    p = sub.add_parser("demo", help="train, export, simulate and verify digits_mlp end to end")
    p.add_argument("--out", help="run directory (default runs/demo-<time>)")
    p.set_defaults(run=_cmd_demo)

    p = sub.add_parser(
        "inspect",
        help="layers, shapes, neuron parameters, format, metadata, backends, Loihi 2 resources",
    )
    p.add_argument("net", help=".net file (NetX or graph format, from anywhere)")
    p.add_argument("--json", help="also write the description as JSON")
    p.set_defaults(run=_cmd_inspect, needs_lava=False)

    p = sub.add_parser(
        "results",
        help="train (or read) a comparison's variants over seeds; mean ± std table as Markdown, "
        "JSON and PNG",
    )
    p.add_argument("comparison", help="comparison file, e.g. comparisons/biasnn.toml")
    p.add_argument("--runs", default="runs", help="runs folder (default runs/): "
                   "<runs>/<comparison>/<label>-s<seed>")
    p.add_argument("--out", help="output stem: <out>.md, <out>.json, <out>.png (default "
                   "sim/results/<comparison>)")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds instead of the file's")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another recipe override for every variant, after the file's set (repeatable; a run "
        "folder trained with other overrides is refused)",
    )
    p.add_argument("--read-only", action="store_true",
                   help="train nothing: read finished runs, refuse missing ones")
    p.set_defaults(run=_cmd_results)

    for report in REPORTS.values():
        report.add_parsers(sub)
    nir_parsers(sub)
    add_energy_parser(sub)
    add_deploy_parser(sub)
    return parser


class _Terminated(SystemExit):
    """SIGTERM (kill, a scheduler's time limit) as an exception, so that a run unwinds and stops
    its Lava processes; those inherit the handler and exit quietly on it."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    on_sigterm = signal.signal(signal.SIGTERM, _terminate)
    try:
        if getattr(args, "needs_lava", True):
            import_lava()
        return args.run(args)
    except LoihiSnnError as err:
        print(f"loihi-snn: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loihi-snn: interrupted", file=sys.stderr)
        return 130
    except _Terminated as stop:
        print("loihi-snn: terminated", file=sys.stderr)
        return int(stop.code)
    finally:
        signal.signal(signal.SIGTERM, on_sigterm)


if __name__ == "__main__":
    sys.exit(main())
