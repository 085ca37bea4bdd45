"""What a simulation backend returns: per-layer traces of n samples in local time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SimResult:
    """Traces of the neuron layers of a network file, in file order (the layers Lava builds a
    neuron population for), each (n, neurons in C, H, W order, T) in the layer's own time window:
    step 0 is the first step at which the layer sees the sample.

    spikes: int8 0/1. readout: (n, classes), output spike counts, or for a non-spiking output layer
    its voltage at the last step. u, v: integer neuron states (same layout) when recorded.
    seconds: wall time of the simulation itself (compilation and file loading excluded).
    """

    spikes: list[np.ndarray]
    readout: np.ndarray
    voltage_readout: bool
    seconds: float
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None

    @property
    def predictions(self) -> np.ndarray:
        """Class per sample: argmax of the readout, lowest index on ties."""
        return self.readout.argmax(1)
