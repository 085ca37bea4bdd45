"""Custom layer types of graph files (format 2): the mechanisms stock Loihi neurons cannot do.

A custom layer is a graph layer like a population: its ``inputs`` projections (and optional
``bias``, in the same units) sum to one integer signal X per step, zero-latency in the model, and
other layers read its output through projections. What it does with X is its type's business,
defined once in the mechanism's own module, beside its torch block and its Lava process:

* ``check`` / ``write`` / ``read``: the type's parameters (``Layer.params``) in the HDF5 group of
  the layer, read and write symmetric; every problem is a LoihiSnnError naming the layer;
* ``run_fast``: the integer twin on a batch (samples one after another where the type has state
  across samples), the fast backend's and the trained model's eval; a run makes one instance per
  layer and feeds it the batches in order, so state that carries across samples (and batches)
  lives on the instance;
* ``lava``: its Lava process for a pipelined run, with the ports the loader wires.
* ``ops``: its arithmetic per sample, for energy reports (None: not priced, never zero);
* ``example``: random valid parameters (the contract test runs every type on them).

``graded`` says whether the output is graded (int32 payloads, e.g. a gated membrane stream) or
binary spikes; ``latency`` is the number of steps the output lags X beyond the model's zero-latency
(0 for a per-step layer, T for one that needs the whole window before it can answer). Every custom
layer records binary spikes of its own (``recorded``): those are what ``verify`` compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from ..errors import LoihiSnnError

if TYPE_CHECKING:
    from .graph import Layer

# kind in the file -> its type; filled by :mod:`loihi_snn.mechanisms` (LAYER_TYPES), which every
# reader of files imports, so that the IR itself imports no mechanism
_REGISTRY: dict[str, type[LayerType]] = {}


@dataclass
class LavaNode:
    """A custom layer's Lava processes for a run: ``x_in`` (InPort the input projections connect
    to, Lava's (W, H, C) shape), ``out`` (the OutPort later projections read), ``recorded`` (the
    OutPort of its binary spikes) and ``processes`` (all of them, for the run to start)."""

    x_in: Any
    out: Any
    recorded: Any
    processes: list


class LayerType:
    """The interface of a custom layer type (module doc). Subclasses set ``kind`` and
    ``graded``."""

    kind = ""
    graded = False

    def latency(self, layer: Layer, steps: int) -> int:
        """Steps the output lags X beyond the zero-latency model."""
        return 0

    def check(self, layer: Layer, where: str) -> None:
        """Refuse parameters that do not fit the layer (raise LoihiSnnError naming ``where``)."""

    def write(self, group: h5py.Group, layer: Layer) -> None:
        raise NotImplementedError

    def read(self, group: h5py.Group, shape: tuple[int, ...]) -> Any:
        """The type's parameter record from its HDF5 group."""
        raise NotImplementedError

    def run_fast(self, layer: Layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X (n, *shape, T) int64 -> (output, recorded spikes), both (n, *shape, T): the output
        int64 payloads or 0/1 spikes, the recorded spikes 0/1."""
        raise NotImplementedError

    def lava(self, layer: Layer, steps: int, offset: int) -> LavaNode:
        """Its Lava processes; ``offset`` is the global step at which sample 0's first step of X
        reaches ``x_in``."""
        raise NotImplementedError

    def ops(self, layer: Layer, steps: int) -> dict | None:
        """The layer's arithmetic per sample of ``steps`` steps, as ``{"mults": int, "adds": int,
        "neuron_updates": int, "note": str}`` (``note`` says what was counted and how), or None:
        "not priced" (no defensible count), which a report must show as such, never as zero."""
        return None

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple, steps: int) -> Any:
        """A valid random ``Layer.params`` record for a layer of ``shape`` run for ``steps``
        steps (for the contract test every type must pass)."""
        raise NotImplementedError


def register(types: dict[str, type[LayerType]]) -> None:
    """Make custom layer types known to the IR (kind -> class)."""
    _REGISTRY.update(types)


def layer_type(kind: str) -> LayerType:
    """A new instance of the custom layer type of a layer kind (LoihiSnnError for an unknown
    kind)."""
    if kind not in _REGISTRY:
        raise LoihiSnnError(
            f"unknown layer type '{kind}' (known: input, population, concat, "
            f"{', '.join(_REGISTRY)})"
        )
    return _REGISTRY[kind]()


def is_custom(kind: str) -> bool:
    return kind in _REGISTRY
