"""``make bench``: Lava ``fixed_pt`` against the fast backend on the same inputs.

For each network it runs a few samples in Lava and many in the fast backend (the first ones the
same), each in its own worker process so that its peak memory (max RSS, Lava's runtime processes
included) is its own. Throughput is timed as ``sim`` runs (output layer recorded, compilation and
file loading excluded); then the first 8 samples are run again recording every layer and compared
spike for spike (``--states``: u and v too, at every step).

    python -m loihi_snn.bench [--states] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LoihiSnnError

NETX_ASSETS = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"
RUNS = Path("runs")
# graph models measured when runs/<name>/model.net exists (make bench trains missing ones briefly)
GRAPH_MODELS = ("digits_resnet", "fmnist_msresnet", "fmnist_biasnn", "fmnist_sparta")


@dataclass
class Case:
    """A network, its inputs, and how many samples each backend runs (batch = the fast batch)."""

    name: str
    net: Path
    inputs: np.ndarray
    steps: int | None
    lava_samples: int
    fast_samples: int
    batch: int


def _mnist_inputs(n: int) -> tuple[np.ndarray, str]:
    """Input-layer biases for mnist.net: Fashion-MNIST test images (28x28) through the file's
    transform, or synthetic strokes where the dataset is missing."""
    from .data import load_dataset

    try:
        data = load_dataset("fmnist")
        x, source = data.x_test[:n].reshape(n, 784) / 255.0, "Fashion-MNIST test images"
    except LoihiSnnError:
        rng = np.random.default_rng(0)
        x, source = (rng.random((n, 784)) < 0.2) * rng.random((n, 784)), "synthetic strokes"
    return np.rint(76 * (x * 2 - 1) + 64).astype(np.int32), source


def _pilotnet_inputs(n: int) -> np.ndarray:
    """The shipped dashcam frame (as input biases) shifted sideways by 0..n-1 pixels."""
    image = np.load(NETX_ASSETS / "gts" / "pilotnet_lif" / "image.npy").transpose(2, 1, 0)
    return np.stack([np.roll(image, k, axis=2) for k in range(n)]).astype(np.int32)


def _project_case(name: str, run: Path, lava_n: int, fast_n: int) -> Case | None:
    from .evaluation import test_inputs
    from .ir.hdf5 import read_network

    net = run / "model.net"
    if not net.exists():
        return None
    x = test_inputs(read_network(net), fast_n).x
    return Case(name, net, x, None, lava_n, len(x), 256)


def cases(quick: bool) -> list[Case]:
    scale = 1 if quick else 4
    mnist_x, _ = _mnist_inputs(256 * scale)
    found = [
        Case("mnist.net", NETX_ASSETS / "mnist.net", mnist_x, 16, 32, 256 * scale, 256),
        Case(
            "pilotnet_lif",
            NETX_ASSETS / "gts" / "pilotnet_lif" / "network.net",
            _pilotnet_inputs(16 * scale),
            16,
            4 if quick else 8,
            16 * scale,
            16,
        ),
    ]
    for name, run in (("digits_mlp", RUNS / "bench-digits"), ("fmnist_cnn", RUNS / "fmnist_cnn")):
        case = _project_case(name, run, 32 if quick else 100, 1000 * scale)
        if case is not None:
            found.append(case)
    for name in GRAPH_MODELS:  # residual and attention graphs: Lava is slow on them
        case = _project_case(name, RUNS / name, 4 if quick else 16, 250 * scale)
        if case is not None:
            found.append(case)
    return found


def _worker(args: argparse.Namespace) -> None:
    """Run one backend on saved inputs as ``sim`` does (output layer only) for the timing, then
    the first ``--check`` samples recording every layer; save those traces and the timing."""
    from .evaluation import run_backend
    from .ir.hdf5 import read_network

    data = np.load(args.inputs)
    info = read_network(args.net)

    def run(x: np.ndarray, **kwargs):
        if args.backend == "fast":
            from .backends.fast import run_fast

            return run_fast(info, x, args.steps, batch_size=args.batch, **kwargs)
        return run_backend("lava", info, x, args.steps, **kwargs)

    # warm up: numba's cached machine code and torch's kernels, for the fast backend on a whole
    # batch (its conv paths, and so the code loaded, follow the batch's spike rates)
    run(data[: args.batch if args.backend == "fast" else 2], record_all=False)
    seconds = run(data, record_all=False).seconds
    result = run(data[: args.check], record_all=True, record_states=args.states)
    arrays = {f"s{k}": s for k, s in enumerate(result.spikes)}
    if args.states:  # custom layers have no u, v
        arrays.update({f"u{k}": u for k, u in enumerate(result.u) if u is not None})
        arrays.update({f"v{k}": v for k, v in enumerate(result.v) if v is not None})
    np.savez(args.out, readout=result.readout, **arrays)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": seconds, "maxrss_kb": own + children}))


def _run_worker(backend: str, case: Case, n: int, check: int, states: bool, folder: Path) -> dict:
    inputs = folder / f"{case.name}-{backend}-in.npy"
    out = folder / f"{case.name}-{backend}-out.npz"
    np.save(inputs, case.inputs[:n])
    command = [
        sys.executable,
        "-m",
        "loihi_snn.bench",
        "--worker",
        backend,
        "--net",
        str(case.net),
        "--inputs",
        str(inputs),
        "--out",
        str(out),
        "--batch",
        str(case.batch),
        "--check",
        str(check),
    ]
    if case.steps:
        command += ["--steps", str(case.steps)]
    if states:
        command.append("--states")
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LoihiSnnError(f"{backend} worker on {case.name} failed: {proc.stderr.strip()[-500:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["arrays"] = dict(np.load(out))
    return report


def _mismatches(lava: dict, fast: dict, n: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, value in lava.items():
        kind = key.rstrip("0123456789")
        counts[kind] = counts.get(kind, 0) + int((value != fast[key][:n]).sum())
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loihi_snn.bench", description=__doc__)
    parser.add_argument("--states", action="store_true", help="also compare u and v (slow)")
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--worker", choices=("lava", "fast"), help=argparse.SUPPRESS)
    for hidden in ("--net", "--inputs", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--check", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.backend = args.worker
        _worker(args)
        return 0
    _, source = _mnist_inputs(1)
    print(
        f"inputs: mnist.net <- {source}; pilotnet_lif <- its frame shifted; project models <- "
        f"their test sets"
    )
    header = (
        f"{'network':13} {'Lava n':>6} {'Lava /s':>9} {'fast n':>7} {'batch':>5} "
        f"{'fast /s':>9} {'ratio':>7} {'Lava MB':>8} {'fast MB':>8}  mismatches"
    )
    print(header)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases(args.quick):
            check = min(8, case.lava_samples)  # samples compared layer by layer
            lava = _run_worker("lava", case, case.lava_samples, check, args.states, Path(tmp))
            fast = _run_worker("fast", case, case.fast_samples, check, args.states, Path(tmp))
            lava_rate = case.lava_samples / lava["seconds"]
            fast_rate = case.fast_samples / fast["seconds"]
            wrong = _mismatches(lava["arrays"], fast["arrays"], check)
            failed |= any(wrong.values())
            shown = ", ".join(f"{k} {v}" for k, v in sorted(wrong.items()) if k != "readout")
            print(
                f"{case.name:13} {case.lava_samples:>6} {lava_rate:>9.1f} {case.fast_samples:>7} "
                f"{case.batch:>5} {fast_rate:>9.1f} {fast_rate / lava_rate:>6.0f}x "
                f"{lava['maxrss_kb'] / 1024:>8.0f} {fast['maxrss_kb'] / 1024:>8.0f}  {shown}",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
