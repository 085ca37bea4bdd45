"""``loihi-snn demo``: train digits_mlp, export it, run and verify it in Lava, in one folder."""

from __future__ import annotations

import time
from pathlib import Path

from .evaluation import simulate, verify
from .export import export
from .recipe import load_recipe
from .train import train

DEMO_RECIPE = Path(__file__).resolve().parent.parent / "train" / "digits_mlp.toml"
SIM_SAMPLES = 360  # the whole digits test split
VERIFY_SAMPLES = 8


def demo(out: str | None = None) -> int:
    run = Path(out or time.strftime("runs/demo-%Y%m%d-%H%M%S"))
    recipe = load_recipe(DEMO_RECIPE)
    rows = []

    began = time.time()
    metrics = train(recipe, run)
    rows.append(
        (
            "train",
            f"test accuracy {metrics['test_accuracy']:.4f} (quantised, eval)",
            time.time() - began,
        )
    )

    began = time.time()
    net = export(run, run / "model.net")
    rows.append(("export", f"{net}", time.time() - began))

    began = time.time()
    sim = simulate(net, n=SIM_SAMPLES)
    rows.append(
        (
            "sim",
            f"Lava accuracy {sim.accuracy:.4f}, agreement {sim.agreement:.4f} "
            f"on {sim.samples} samples",
            time.time() - began,
        )
    )

    began = time.time()
    checks = verify(net, n=VERIFY_SAMPLES)
    mismatches = sum(c.mismatches for c in checks)
    per_layer = ", ".join(str(c.mismatches) for c in checks)
    rows.append(
        (
            "verify",
            f"{mismatches} spike mismatches (per layer: {per_layer}) on {VERIFY_SAMPLES} samples",
            time.time() - began,
        )
    )

    print(f"\nloihi-snn demo: digits_mlp, run folder {run}")
    print(f"{'stage':8} {'seconds':>8}  result")
    for stage, result, seconds in rows:
        print(f"{stage:8} {seconds:>8.1f}  {result}")
    print(f"{'total':8} {sum(r[2] for r in rows):>8.1f}")
    return 0 if mismatches == 0 and sim.agreement == 1.0 else 1
