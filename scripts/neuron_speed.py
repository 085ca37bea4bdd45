"""Training speed of a recipe with lava-dl's CUBA neuron dynamics against loihi_snn's CubaNeuron,
alternated in one run (two rounds): the training phase of one epoch, 2 threads.

    .venv/bin/python scripts/neuron_speed.py train/fmnist_spiliformer.toml 3000
"""

from __future__ import annotations

import sys
import tempfile

from lava.lib.dl import slayer

from loihi_snn.nn import CubaNeuron
from loihi_snn.recipe import apply_overrides, load_recipe
from loihi_snn.train import train


def main(path: str, samples: int) -> None:
    ours = CubaNeuron.dynamics
    recipe = apply_overrides(
        load_recipe(path), ["train.epochs=1", f"train.samples_per_epoch={samples}"]
    )
    for round_ in range(2):
        for name, dynamics in (("lava-dl", slayer.neuron.cuba.Neuron.dynamics), ("ours", ours)):
            CubaNeuron.dynamics = dynamics
            with tempfile.TemporaryDirectory() as folder:
                row = train(recipe, folder, progress=False, threads=2)
            print(
                f"round {round_ + 1} {name:8s} {samples / row['train_seconds']:7.1f} samples/s "
                f"(validation {row['val_accuracy']:.4f})",
                flush=True,
            )
    CubaNeuron.dynamics = ours


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
