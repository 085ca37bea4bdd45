"""A notebook's worth of loihi_snn, one cell per step: a recipe written in code, one short training
epoch on the digits, export, inspect, both backends, energy and Loihi 2 deployment. Each step
prints its wall time.

    .venv/bin/python examples/tutorial.py [run folder, default runs/tutorial]
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def step(what: str):
    began = time.time()
    yield
    print(f"[{time.time() - began:6.2f} s] {what}\n", flush=True)


def main(run: Path) -> None:
    with step("import loihi_snn as ls"):
        import loihi_snn as ls

    with step("a recipe in code"):
        recipe = ls.Recipe(
            name="tutorial_mlp",
            data=ls.DataSpec(dataset="digits", time_steps=16),
            neuron=ls.NeuronSpec(threshold=1.25, current_decay=0.25, voltage_decay=0.03),
            layers=[
                ls.LayerSpec("flatten"),
                ls.LayerSpec("dense", out=64, threshold=4.0),
                ls.LayerSpec("dense", out=10),
            ],
            train=ls.TrainSpec(epochs=1, batch_size=32, lr=3e-3, logit_scale=0.5),
        )

    with step("ls.train: one epoch (imports Lava, lava-dl and torch first)"):
        row = ls.train(recipe, run, progress=False)
        print(f"test accuracy {row['test_accuracy']:.4f} after epoch {row['epoch']}")

    with step("ls.export"):
        net = ls.export(run, run / "model.net")
        print(f"wrote {net}")

    with step("ls.inspect"):
        print(ls.format_inspection(ls.inspect(net)))

    with step("ls.simulate on the fast backend: the whole test split"):
        fast = ls.simulate(net, n=360, backend="fast")
        print(f"fast: accuracy {fast.accuracy:.4f}, agreement {fast.agreement:.4f}")

    with step("ls.simulate in Lava (fixed_pt): 40 samples"):
        lava = ls.simulate(net, n=40, backend="lava")
        print(f"Lava: accuracy {lava.accuracy:.4f}, agreement {lava.agreement:.4f}")

    with step("ls.verify: trained model vs Lava, spike for spike"):
        checks = ls.verify(net, n=4)
        print(", ".join(f"layer {c.index}: {c.mismatches} mismatches" for c in checks))

    with step("ls.energy_report: 100 samples on the fast backend"):
        report = ls.energy_report(net, n=100)
        energy = report["totals"]["energy_pj_per_sample"]
        print(", ".join(f"{name} {pj / 1e3:.1f} nJ" for name, pj in energy.items()))

    with step("ls.deploy_report: Loihi 2, one Oheo Gulch chip"):
        plan = ls.deploy_report(net)
        est = plan["estimate"]
        print(f"{plan['neurocores']} neurocores on {plan['chips']} chip: "
              f"{est['total_mj'] * 1e3:.1f} uJ and {est['ms_per_inference']:.3f} ms per inference")

    with step("ls.run_fast on arrays: the network's own test inputs"):
        inputs = ls.test_inputs(ls.read_network(net), 8)
        result = ls.run_fast(net, inputs.x)
        print(f"predictions {result.predictions.tolist()}, labels {inputs.labels.tolist()}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/tutorial"))
