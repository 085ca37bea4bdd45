"""Training throughput, measured side by side in one run: ``loihi-snn train`` against a bare
lava-dl SLAYER loop on the same model, alone, beside one busy single-threaded process, and two
trainings at once (each as a share of its solo speed).

The bare loop is what a lava-dl user writes: the same network (:func:`build_model`) with
lava-dl's own CUBA neuron class in place of :class:`~loihi_snn.nn.CubaNeuron` (the same numbers,
computed by lava-dl's code), inputs encoded once beforehand, Adam, cross-entropy on the class
scores (output spike counts, or the output voltage of a voltage readout: :func:`class_scores`),
nothing logged or checked. The
toolkit's figure is the training phase of one epoch of ``--samples`` images (``train_seconds``
of the run's metrics: encoding, logging and progress included; the epoch's evaluation
excluded), with the command line's ``--threads auto`` unless told. Every training runs in its
own process, as a user starts it.

    python -m loihi_snn.train_bench [--recipes fmnist_cnn fmnist_tiny_msresnet] [--samples N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import LoihiSnnError
from .fileio import write_json

BUSY = "while True: pass"  # one busy single-threaded process


def _cli() -> list[str]:
    return [sys.executable, "-m", "loihi_snn.cli"]


def _start_training(recipe: str, samples: int, folder: Path, threads: str) -> subprocess.Popen:
    """``loihi-snn train`` of one epoch of ``samples`` images into ``folder``."""
    command = [
        *_cli(), "train", recipe, "--out", str(folder), "--epochs", "1",
        "--samples-per-epoch", str(samples), "--set", "train.val_fraction=0", "--threads", threads,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _rate(proc: subprocess.Popen, folder: Path, samples: int) -> float:
    """Samples/s of a finished training's training phase."""
    _, err = proc.communicate()
    if proc.returncode:
        raise LoihiSnnError(f"a bench training failed: {err.strip().splitlines()[-1]}")
    row = json.loads((folder / "metrics.json").read_text())[-1]
    return samples / row["train_seconds"]


def toolkit_rates(
    recipe: str, samples: int, folder: Path, copies: int = 1, busy: bool = False,
    threads: str = "auto",
) -> list[float]:
    """Samples/s of ``copies`` trainings started together (beside a busy process if ``busy``)."""
    hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        if hog:
            time.sleep(1.0)  # the hog is running before the training looks at the machine
        runs = [folder / f"{recipe}-{time.monotonic_ns()}-{k}" for k in range(copies)]
        procs = [_start_training(recipe, samples, run, threads) for run in runs]
        return [_rate(p, run, samples) for p, run in zip(procs, runs, strict=True)]
    finally:
        if hog:
            hog.kill()
            hog.wait()


def bare_rate(recipe: str, samples: int, batch: int | None = None) -> float:
    """Samples/s of a bare lava-dl training loop on the recipe's model, in a child process."""
    out = subprocess.run(
        [sys.executable, "-m", "loihi_snn.train_bench", "--bare", recipe, "--samples",
         str(samples)], capture_output=True, text=True,
    )
    if out.returncode:
        raise LoihiSnnError(f"the bare loop failed: {out.stderr.strip().splitlines()[-1]}")
    return float(out.stdout.split()[-1])


def _bare_loop(recipe_name: str, samples: int) -> float:
    """The bare loop itself (runs in the child): inputs encoded before the clock starts."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from lava.lib.dl import slayer

    from .data import load_dataset
    from .nn import CubaNeuron
    from .recipe import load_recipe
    from .train import build_model, class_scores, encode_split

    recipe = load_recipe(recipe_name)
    d, t = recipe.data, recipe.train
    data = load_dataset(d.dataset, d.path, d.test_fraction, recipe.seed)
    index = np.arange(samples)
    x = torch.from_numpy(encode_split(data, recipe, "train", index, recipe.seed)).float()
    y = torch.from_numpy(data.y_train[index])
    model = build_model(recipe, data)
    for module in model.modules():
        if isinstance(module, CubaNeuron):  # no state of its own: lava-dl's class takes over
            module.__class__ = slayer.neuron.cuba.Neuron
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=t.lr)
    began = time.perf_counter()
    for start in range(0, samples, t.batch_size):
        out = class_scores(model, x[start : start + t.batch_size])
        loss = F.cross_entropy(out * t.logit_scale, y[start : start + t.batch_size])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return samples / (time.perf_counter() - began)


def _line(row: dict) -> str:
    solo, busy = row["toolkit"], row["toolkit_beside_busy"]
    pair = " and ".join(f"{r:.1f} ({r / solo:.0%})" for r in row["toolkit_pair"])
    return (
        f"{row['recipe']}: bare lava-dl {row['bare_lava_dl']:.1f} samples/s, toolkit {solo:.1f} "
        f"({solo / row['bare_lava_dl']:.0%} of bare); beside a busy process {busy:.1f} "
        f"({busy / solo:.0%} of solo); two at once {pair}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loihi_snn.train_bench", description=__doc__)
    parser.add_argument("--recipes", nargs="+", default=["fmnist_cnn", "fmnist_tiny_msresnet"])
    parser.add_argument("--samples", type=int, default=3000, help="training images per run")
    parser.add_argument("--threads", default="auto", help="the trainings' --threads")
    parser.add_argument("--out", default="runs/train_bench.json")
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.bare:
            print(f"{_bare_loop(args.bare, args.samples):.2f}")
            return 0
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for recipe in args.recipes:
                row = {"recipe": recipe, "samples": args.samples, "threads": args.threads}
                common = (recipe, args.samples, Path(tmp))
                row["bare_lava_dl"] = bare_rate(recipe, args.samples)
                row["toolkit"] = toolkit_rates(*common, threads=args.threads)[0]
                row["toolkit_beside_busy"] = toolkit_rates(
                    *common, busy=True, threads=args.threads
                )[0]
                row["toolkit_pair"] = toolkit_rates(*common, copies=2, threads=args.threads)
                rows.append(row)
                print(_line(row), flush=True)
        write_json(Path(args.out), {"cores": len(os.sched_getaffinity(0)), "rows": rows})
        print(f"wrote {args.out}")
    except LoihiSnnError as err:
        print(f"train_bench: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
