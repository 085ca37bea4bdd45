"""The one network model every file is read into (:mod:`loihi_snn.ir.hdf5` reads and writes
sequential NetX files, format 1, and loihi_snn's graph files, format 2, export/GRAPH_FORMAT.md).

A network is a list of layers: layer 0 is the input (with neurons driven through their bias in
lava-dl's sequential files, without in every other file), every other layer is a ``population``
(CUBA LIF neurons, as netx builds them, fed by one or more projections whose integer currents are
summed: the membrane shortcut), a ``concat`` (no neurons: the channel concatenation of its
sources, which later projections read) or a custom layer (fed like a population, its mechanism
defined by its type, e.g. ``alif_mask``; below). Projections are ``dense``, ``conv``, ``pool``
(per-channel sum pooling with one integer weight; an average is a pool whose 1/k^2 lives in the
weight and threshold) and ``identity`` (one integer weight, same shape). Every projection is
zero-latency in the model: a population at step t sees its sources at step t. Lava adds a step per
hop; :mod:`loihi_snn.backends.lava_graph` realigns the paths. The one exception: in a NetX file, a
projection from a population to itself (a ``dense_rec`` layer's ``weight_rec``) arrives one step
later (Lava's recurrent Dense).

Units are those of Lava fixed_pt: integer weight mantissas (8 bit; dense weights are packed by
netx's ``optimize_weight_bits`` exactly as netx does), bias mantissas applied ``<< 6``, threshold
mantissa ``vth`` compared as ``v > vth << 6``, 12-bit decays ``iDecay`` (du + 1) and ``vDecay``.

Custom layer types (:class:`LayerType`, registered by :mod:`loihi_snn.mechanisms`):

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

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import LoihiSnnError
from ..loihi.limits import (
    DECAY_UNIT,
    NON_SPIKING_VTH,
)

GRAPH_FORMAT = 2
PROJECTION_TYPES = ("dense", "conv", "pool", "identity")
ORIGINS = ("loihi_snn", "netx")  # format 2 (or built in code) | a sequential NetX file (format 1)


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
    # 0: X is any integer; k > 0: X packs k spike inputs as bits (input j through weight 2^j)
    spike_inputs = 0

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

    def placement(self, layer: Layer) -> tuple[str, str]:
        """Where on a Loihi 2 chip the layer's arithmetic can run: ("neurocores", "embedded
        CPU" or "host", why), for the deploy mapper."""
        return "host", f"no placement is known for a {self.kind} layer"

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple, steps: int) -> Any:
        """A valid random ``Layer.params`` record for a layer of ``shape`` run for ``steps``
        steps (for the contract test every type must pass)."""
        raise NotImplementedError


# kind in the file -> its type; filled by :mod:`loihi_snn.mechanisms.registry` (LAYER_TYPES),
# which every reader of files imports, so that the IR itself imports no mechanism
_REGISTRY: dict[str, type[LayerType]] = {}


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


@dataclass
class Neuron:
    """CUBA LIF parameters as netx stores them: iDecay = du + 1, vDecay = dv (12 bit, of 4096),
    vThMant: threshold mantissa (spike when v > vThMant << 6)."""

    i_decay: int
    v_decay: int
    vth: int

    @property
    def cu(self) -> int:
        """Current decay complement 4096 - (du + 1)."""
        return DECAY_UNIT - self.i_decay

    @property
    def cv(self) -> int:
        return DECAY_UNIT - self.v_decay


SIGMA_DELTA_ROLES = ("delta", "sigma_delta", "sigma")


@dataclass
class SigmaDelta:
    """A sigma-delta neuron as netx builds it from an SDNN neuron group (Lava's ``lava.proc.sdn``,
    graded payloads, no reset: consecutive samples form one stream).

    role: ``delta`` (an input layer's encoder: sends the change of its per-step input),
    ``sigma_delta`` (sigma = running sum of the input, act = ReLU(sigma + bias), sends the change
    of act) or ``sigma`` (an output layer with ``sigma_output``: sends its running sum). vth:
    threshold mantissa (vThMant): a change is sent when |change| >= vth << 12 (in the neurons'
    units of 2^-12), as change >> 6; the bias mantissa enters act << 12.
    """

    role: str
    vth: int = 0


@dataclass
class Resonator:
    """A resonate-and-fire neuron as netx builds it from an RF neuron group (``RF_PHASE``: Lava's
    ``RF``, any other RF type: ``RF_IZ``; binary spikes, no reset: consecutive samples form one
    stream). Its layer's two projections, both dense from the same source (a dense layer's
    complex weight ``weight/real`` and ``weight/imag``), feed the real part (``inputs[0]``) and
    the imaginary part (``inputs[1]``) of its state; it has no bias.

    sin_decay, cos_decay: the 12-bit decays Lava's fixed-point RF multiplies by (of 4096, signed),
    as netx derives them from the file's sinDecay and cosDecay (through a period and an alpha:
    they can differ from the file's by one); vth: threshold mantissa (vThMant), compared with the
    state as vth << 6. ``iz``: RF_IZ (spikes when imag >= vth << 6, then real = 0 and
    imag = (vth << 6) - 1) instead of RF (spikes when real >= vth << 6 as imag turns from negative
    to non-negative).
    """

    sin_decay: int
    cos_decay: int
    vth: int
    iz: bool = False


@dataclass
class Projection:
    """Synapses from layer ``source`` into a population.

    dense: weight (out, in) over the source flattened in C, H, W order. conv: weight
    (out, in/groups, kH, kW) in torch's cross-correlation order with stride, padding, dilation
    (each (H, W)) and groups. pool: per-channel sum over kernel x kernel windows with the given
    stride, times the scalar weight. identity: the source times the scalar weight.
    """

    source: int
    kind: str
    weight: np.ndarray  # integer mantissas
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    kernel: tuple[int, int] = (1, 1)  # pool only
    delay: np.ndarray | None = None  # dense, netx files: delays in steps (out, in) int64, not all 0

    def copy_with(self, source: int, weight: np.ndarray) -> Projection:
        """The same synapses from another source with other weights."""
        return Projection(
            source, self.kind, weight, self.stride, self.padding, self.dilation, self.groups,
            self.kernel,
        )

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the currents this projection delivers for a source of ``in_shape``."""
        if self.kind == "dense":
            if self.weight.ndim != 2 or self.weight.shape[1] != math.prod(in_shape):
                raise ValueError(
                    f"dense weight {self.weight.shape} does not take {math.prod(in_shape)} inputs"
                )
            return (self.weight.shape[0],)
        if self.kind == "identity":
            return in_shape
        if len(in_shape) != 3:
            raise ValueError(f"a {self.kind} projection needs a (C, H, W) source, got {in_shape}")
        channels, size = in_shape[0], in_shape[1:]
        if self.kind == "pool":
            kernel, out_c = self.kernel, channels
            padding, dilation = (0, 0), (1, 1)
        else:
            out_c, in_per_group, kh, kw = self.weight.shape
            if channels % self.groups or in_per_group * self.groups != channels:
                raise ValueError(
                    f"conv weight {self.weight.shape} with groups {self.groups} does not take "
                    f"{channels} channels"
                )
            kernel, padding, dilation = (kh, kw), self.padding, self.dilation
        out = tuple(
            (size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // self.stride[i] + 1
            for i in range(2)
        )
        if min(out) < 1:
            raise ValueError(f"{self.kind} projection gives an empty output from {in_shape}")
        return (out_c, *out)


@dataclass
class Layer:
    """One layer of a network. ``kind``: input | population | concat | a custom type.

    An input layer with a ``neuron`` (lava-dl's sequential files) is a population driven through
    its bias: a run gives each sample's bias mantissas, computed from the data with ``transform``
    (weight, bias): round(weight * x + bias) for x in [-1, 1] (netx's input layer). ``netx_only``
    names features of a netx file that netx runs but the toolkit's own backends do not implement
    (e.g. a sigma-delta neuron): those backends refuse the file, naming them.
    ``file_index``: the layer's number in the file it was read from (format 1 drops flatten
    layers and may add the input), for messages and reports.
    """

    kind: str
    shape: tuple[int, ...]  # C, H, W or (features,)
    neuron: Neuron | SigmaDelta | Resonator | None = None  # population, or an input with neurons
    bias: np.ndarray | None = None  # integer mantissa per neuron (C, H, W order)
    inputs: list[Projection] = field(default_factory=list)  # population and custom
    sources: list[int] = field(default_factory=list)  # concat only
    params: Any = None  # custom: the type's parameter record
    transform: tuple[float, float] | None = None  # input with neurons: netx's input transform
    netx_only: tuple[str, ...] = ()
    file_index: int | None = None

    @property
    def custom(self) -> bool:
        return is_custom(self.kind)

    @property
    def has_neurons(self) -> bool:
        """A LIF population, a custom layer, or an input layer with neurons."""
        return self.kind == "population" or self.custom or self.neuron is not None

    @property
    def neurons(self) -> int:
        return math.prod(self.shape)


@dataclass
class Graph:
    """A validated network, whatever file it came from: layers in order, a topological order of
    them, each layer's depth (the number of synaptic hops on its longest path from the input, plus
    the latencies of the custom layers on it) and ``ready``: depth plus the layer's own latency,
    the global step at which its output (and recorded spikes) for sample 0 begins in Lava.

    ``origin``: ``netx`` for a sequential NetX file (format 1, run in Lava by lava-dl's own
    ``netx.hdf5.Network``), ``loihi_snn`` otherwise. ``time_steps`` is None when a file does not
    store them (a run then needs them given). ``readout_groups``: k when the classes are the means
    of k groups of consecutive output neurons (C, H, W order; a NetX file ending in lava-dl's
    ``average`` block, which has no neurons and which netx does not build), else None."""

    layers: list[Layer]
    time_steps: int | None
    path: Path | None = None
    meta: dict | None = None
    origin: str = "loihi_snn"
    order: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    readout_groups: int | None = None

    @property
    def trained_here(self) -> bool:
        """Whether the file was exported from a loihi_snn training run (its ``meta`` names the
        checkpoint, so its test data and trained model are known)."""
        return self.meta is not None and "checkpoint" in self.meta

    @property
    def populations(self) -> list[int]:
        """Indices of the layers with neurons (input neurons, LIF populations and custom layers)
        in order: the layers a run records."""
        return [i for i, layer in enumerate(self.layers) if layer.has_neurons]

    def graded(self, index: int) -> bool:
        """Whether layer ``index`` sends graded payloads: a graded custom type or a sigma-delta
        neuron (for an input without neurons the run decides from the data)."""
        layer = self.layers[index]
        if isinstance(layer.neuron, SigmaDelta):
            return True
        return layer.custom and layer_type(layer.kind).graded

    @property
    def sigma_delta(self) -> bool:
        """True when the network has sigma-delta neurons: its samples then form one stream."""
        return any(isinstance(layer.neuron, SigmaDelta) for layer in self.layers)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.layers[0].shape

    @property
    def name(self) -> str:
        """The file name, for messages ("the network" for a graph built in code)."""
        return self.path.name if self.path else "the network"

    @property
    def input_neuron(self) -> bool:
        """True when the input layer has neurons (recorded as the run's first layer)."""
        return self.layers[0].neuron is not None

    @property
    def bias_input(self) -> bool:
        """True when the input layer's neurons are LIFs driven per sample through their bias (a
        run takes one bias per neuron and sample); a sigma-delta input takes a value per step."""
        return isinstance(self.layers[0].neuron, Neuron)

    @property
    def voltage_readout(self) -> bool:
        """True when the output population never spikes (threshold at or above the 24-bit
        voltage limit): the classes are read from its voltage at the last step."""
        neuron = self.layers[self.populations[-1]].neuron
        return isinstance(neuron, Neuron) and neuron.vth >= NON_SPIKING_VTH

    # Layer numbering: every command names a layer by its number in the file (its /layer/<k>
    # group, what h5py and ``loihi-snn inspect`` show): number, then tag (tables) and label
    # (sentences).

    def number(self, index: int) -> int | None:
        """Layer ``index``'s number in its file; None for the input a NetX file without an input
        layer implies (no layer of the file). Graphs built in code: the index itself."""
        layer = self.layers[index]
        if layer.file_index is not None:
            return layer.file_index
        return None if self.origin == "netx" else index

    def tag(self, index: int) -> str:
        """A layer's compact name for tables, plots and JSON: its number and what it is, e.g.
        '2:dense', '6:identity+conv', '3:alif_mask(conv+conv)', '0:input' ('in:input' for an
        implied input)."""
        return f"{numeral(self.number(index))}:{self.kind_name(index)}"

    def label(self, index: int) -> str:
        """A layer's name in sentences: its number in the file and its kind, e.g. 'layer 2
        (population)' ('the input (not a layer of the file)' for an implied input)."""
        number = self.number(index)
        if number is None:
            return "the input (not a layer of the file)"
        return f"layer {number} ({self.layers[index].kind})"

    def kind_name(self, index: int) -> str:
        """A population named by the projections that feed it, e.g. 'conv+identity', a custom
        layer by its kind too, e.g. 'alif_mask(conv+conv)', other layers by their kind."""
        layer = self.layers[index]
        feed = "+".join(p.kind for p in layer.inputs) or layer.kind
        return f"{layer.kind}({feed})" if layer.custom else feed

    @property
    def layer_kinds(self) -> list[str]:
        """:meth:`kind_name` of every layer with neurons, in order."""
        return [self.kind_name(i) for i in self.populations]

    def synapses(self, index: int) -> list[Projection]:
        """The synapses into layer ``index`` as they run: its projections resolved into
        projections from populations or the input (:meth:`resolved`), each lowered to a dense or
        a conv (:func:`lowered`; pool and identity as depthwise convs, the same sums)."""
        return [
            lowered(part, self.layers[source].shape, depthwise=True)
            for projection in self.layers[index].inputs
            for source, part in self.resolved(projection)
        ]

    def resolved(self, projection: Projection) -> list[tuple[int, Projection]]:
        """A projection as projections from populations or the input only: one reading a concat
        is split into one per concatenated source, each with its slice of the weights."""
        src = self.layers[projection.source]
        if src.kind != "concat":
            return [(projection.source, projection)]
        parts, start = [], 0
        for index in src.sources:
            part = self.layers[index]
            if projection.kind == "dense":
                stop = start + part.neurons
                weight = projection.weight[:, start:stop]
            elif projection.kind == "conv":
                stop = start + part.shape[0]
                weight = projection.weight[:, start:stop]
            else:  # pool and identity act per channel: slice the output channels instead
                raise ValueError(f"a {projection.kind} projection cannot read a concat")
            parts.extend(self.resolved(projection.copy_with(index, weight)))
            start = stop
        return parts


def numeral(number: int | None) -> str:
    """A layer number (:meth:`Graph.number`) as tables show it: 'in' for an implied input."""
    return "in" if number is None else str(number)


def lowered(
    projection: Projection, in_shape: tuple[int, ...], depthwise: bool = False
) -> Projection:
    """The projection as the dense or conv synapse Lava runs: a pool becomes a conv with the
    weight on the channel diagonal, an identity a 1x1 conv (or a diagonal dense for flat
    sources). ``depthwise``: the same sums as a grouped conv (groups = channels), which holds
    C times fewer weights (what the fast backend runs; Lava gets the full diagonal)."""
    if projection.kind in ("dense", "conv"):
        return projection
    scalar = float(np.asarray(projection.weight).reshape(-1)[0])
    if projection.kind == "identity" and len(in_shape) == 1:
        return Projection(projection.source, "dense", np.eye(in_shape[0]) * scalar)
    channels = in_shape[0]
    kernel = projection.kernel if projection.kind == "pool" else (1, 1)
    stride = projection.stride if projection.kind == "pool" else (1, 1)
    if depthwise:
        weight = np.full((channels, 1, *kernel), scalar)
        return Projection(projection.source, "conv", weight, stride=stride, groups=channels)
    weight = np.zeros((channels, channels, *kernel))
    weight[np.arange(channels), np.arange(channels)] = scalar
    return Projection(projection.source, "conv", weight, stride=stride)
