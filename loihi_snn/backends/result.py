"""What a simulation backend returns: per-layer traces of n samples in local time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class SimResult:
    """Traces of the neuron layers of a network file, in file order (the layers Lava builds a
    neuron population for), each (n, neurons in C, H, W order, T) in the layer's own time window:
    step 0 is the first step at which the layer sees the sample.

    spikes: int8 0/1. readout: (n, classes), output spike counts, or for a non-spiking output layer
    its voltage at the last step. u, v: integer neuron states (same layout) when recorded (None
    for a custom layer); outputs: what a graded custom layer sends (None for spiking layers).
    seconds: wall time of the simulation itself (compilation and file loading excluded).
    """

    spikes: list[np.ndarray]
    readout: np.ndarray
    voltage_readout: bool
    seconds: float
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None
    outputs: list[np.ndarray | None] | None = None  # graded outputs of custom layers, same layout

    @property
    def predictions(self) -> np.ndarray:
        """Class per sample: argmax of the readout, lowest index on ties."""
        return self.readout.argmax(1)


Traces = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]  # spikes, u, v of one layer


def class_readout(
    spikes: np.ndarray, v: np.ndarray | None, voltage: bool, groups: int | None = None
) -> np.ndarray:
    """(n, classes) int64 from the output layer's traces (n, neurons, T): its voltage at the
    last step for a non-spiking readout (``voltage``), else its spike counts; with ``groups``
    (:attr:`Graph.readout_groups`), summed over each group of consecutive neurons."""
    scores = (v[:, :, -1] if voltage else spikes.sum(-1)).astype(np.int64)
    return group_readout(scores, groups)


def group_readout(scores: np.ndarray, groups: int | None) -> np.ndarray:
    """(n, neurons) scores summed over ``groups`` groups of consecutive neurons (their means
    times the group size: the same order), or as they are for None."""
    return scores if groups is None else scores.reshape(len(scores), groups, -1).sum(2)


def stack_batches(
    batches: Iterable[dict[int, Traces]],
    keep: list[int],
    file_order: Callable[[int, np.ndarray], np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray | None], list[np.ndarray | None]]:
    """Join the per-batch traces of layers ``keep`` into spikes, u and v lists, each entry
    (n, neurons, T) in file order, or None for a state the layer did not record;
    ``file_order(layer, trace)`` converts one batch's (n, T, neurons) trace of a layer."""
    parts: dict[int, list[list[np.ndarray]]] = {k: [[], [], []] for k in keep}
    for traces in batches:
        for k in keep:
            for slot, trace in enumerate(traces[k]):
                if trace is not None:
                    parts[k][slot].append(file_order(k, trace))
    stacked = [[np.concatenate(p) if p else None for p in parts[k]] for k in keep]
    spikes, u, v = ([layer[slot] for layer in stacked] for slot in range(3))
    return spikes, u, v


def join_results(parts: list[SimResult]) -> SimResult:
    """One result from the results of consecutive runs on consecutive slices of the samples."""

    def join(lists: list[list[np.ndarray | None] | None]) -> list[np.ndarray | None] | None:
        if lists[0] is None:
            return None
        layers = zip(*lists, strict=True)
        return [None if layer[0] is None else np.concatenate(layer) for layer in layers]

    first = parts[0]
    return SimResult(
        join([p.spikes for p in parts]),
        np.concatenate([p.readout for p in parts]),
        first.voltage_readout,
        sum(p.seconds for p in parts),
        join([p.u for p in parts]),
        join([p.v for p in parts]),
        join([p.outputs for p in parts]),
    )
