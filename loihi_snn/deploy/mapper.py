"""Layers to neurocores, embedded CPUs or the host, under a chip's per-core budgets, and every
reason a network cannot run on a board (one message per violation, naming the layer and the
limit; sinabs' DynapCNN mapping style).

Where a layer runs: stock CUBA LIF populations (and an input layer with neurons, driven through
its bias) on neurocores; an input layer without neurons on the host (its spikes or graded
payloads are sent every step); a custom layer where its arithmetic allows (:func:`placement`).

Per neurocore layer of N neurons split evenly over k cores (the smallest k that fits), the
fullest core holds (counts):

* neurons: ceil(N / k) <= ``neurons_per_core``;
* synapses: a dense projection stores every weight of the core's neurons, ceil(N / k) x inputs;
  a convolution stores its kernel once per core (weight sharing, as Loihi 2 stores convolutional
  connections): the whole kernel C_out x C_in/groups x kH x kW on every core when it fits beside
  the dense synapses (the spatial split lava-loihi makes), else the kernel of the core's share of
  the output channels; <= ``synapses_per_core``;
* input axons: one per source neuron of a dense projection, one per source core of a
  convolution (population messages); <= ``axons_in_per_core``;
* output axons: one per neuron and destination core of a dense projection, one per destination
  core of a convolution, one per core towards a layer off the neurocores;
  <= ``axons_out_per_core`` (a source layer is split further until its cores fit).

Layers never share a core. Chips = max(neurocores / neurocores per chip, embedded CPUs / the 3
per chip Lava uses), rounded up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import LoihiSnnError
from ..ir.graph import Graph, Layer, Neuron, Projection, SigmaDelta, layer_type
from .chip import Board, Chip

NEUROCORES, EMBEDDED, HOST = "neurocores", "embedded CPU", "host"
CPU_MODELS = (
    "the project's Lava process for it has CPU models only, so under Loihi2HwCfg it runs on the "
    "host until a NeuroCore or embedded-C model is written with lava-loihi"
)


def placement(layer: Layer) -> tuple[str, str]:
    """(where the layer must run, why)."""
    if isinstance(layer.neuron, SigmaDelta):  # Loihi 2 runs netx's SDNN neurons on neurocores
        return NEUROCORES, f"sigma-delta neurons ({layer.neuron.role.replace('_', '-')})"
    if layer.kind == "input":
        if layer.neuron is not None:
            return NEUROCORES, "input neurons driven through their bias (netx's input layer)"
        return HOST, "the input, sent from the host every step (IO time is not modelled)"
    if layer.kind == "population":
        return NEUROCORES, "stock CUBA LIF neurons"
    where, why = layer_type(layer.kind).placement(layer)  # a custom layer: its type says
    if where not in (NEUROCORES, EMBEDDED, HOST):
        raise LoihiSnnError(f"{layer.kind}: unknown placement '{where}'")
    return where, f"{why}; {CPU_MODELS}"


@dataclass
class LayerMap:
    """One layer's placement and, on neurocores, its fullest core (counts per core). ``index``:
    its position in the graph; ``name`` and ``label``: :meth:`Graph.tag` (tables) and
    :meth:`Graph.label` (sentences), both with its number in the file."""

    index: int
    name: str
    label: str
    kind: str
    neurons: int
    placement: str
    reason: str
    cores: int = 0
    neurons_per_core: int = 0
    synapses_per_core: int = 0
    axons_in: int = 0
    axons_out: int = 0
    bound: str = "-"  # the budget that set the number of cores


@dataclass
class Mapping:
    """A network on a board: per-layer maps, totals, and every violation (empty: it fits)."""

    network: str
    chip: Chip
    board: Board
    steps: int | None
    layers: list[LayerMap]
    violations: list[str] = field(default_factory=list)

    @property
    def cores(self) -> int:
        return sum(m.cores for m in self.layers)

    @property
    def embedded_cpus(self) -> int:
        return sum(m.placement == EMBEDDED for m in self.layers)

    @property
    def chips(self) -> int:
        return max(
            1,
            math.ceil(self.cores / self.chip.neurocores),
            math.ceil(self.embedded_cpus / self.chip.lava_embedded_cpus),
        )

    @property
    def fits(self) -> bool:
        return not self.violations


def _kernel(p: Projection) -> int:
    """Synapses of one copy of a convolution's kernel."""
    return int(np.asarray(p.weight).size)


def _synapses(n_core: int, k: int, dense_in: int, kernel: int, channels: int, budget: int) -> int:
    """Synapses on the fullest of k cores (module doc)."""
    dense = n_core * dense_in
    if kernel + dense <= budget or not kernel:
        return dense + kernel
    return dense + kernel * math.ceil(channels / k) // channels


def _split(graph: Graph, i: int, chip: Chip, cores_of: dict[int, int]) -> LayerMap:
    """The smallest even split of a neurocore layer over cores within the neuron and synapse
    budgets, and its input axons."""
    layer = graph.layers[i]
    syns = graph.synapses(i)
    dense_in = sum(int(np.asarray(p.weight).shape[1]) for p in syns if p.kind == "dense")
    kernel = sum(_kernel(p) for p in syns if p.kind == "conv")
    axons_in = sum(
        math.prod(graph.layers[p.source].shape) if p.kind == "dense" else cores_of[p.source] or 1
        for p in syns
    )
    n, budget = layer.neurons, chip.synapses_per_core
    k = math.ceil(n / chip.neurons_per_core)
    bound = "neurons"
    channels = layer.shape[0]
    while k < n and _synapses(math.ceil(n / k), k, dense_in, kernel, channels, budget) > budget:
        k, bound = k + 1, "synapses"
    n_core = math.ceil(n / k)
    synapses = _synapses(n_core, k, dense_in, kernel, channels, budget)
    return LayerMap(
        i, graph.tag(i), graph.label(i), "", n, NEUROCORES, "", k, n_core, synapses, axons_in, 0,
        bound,
    )


def check_ranges(graph: Graph, chip: Chip, steps: int | None) -> list[str]:
    """Weights and the reset interval against the chip's ranges, one message each (the reader
    refuses delays beyond Loihi 2's)."""
    problems = []
    for i, layer in enumerate(graph.layers):
        for k, p in enumerate(layer.inputs):
            where = f"{graph.label(i)}, input {k} from {graph.label(p.source)}"
            w = np.asarray(p.weight)
            if w.size and (w.min() < chip.weight_min or w.max() > chip.weight_max):
                problems.append(
                    f"{where}: weights span [{w.min():g}, {w.max():g}], beyond {chip.name}'s "
                    f"8-bit weight mantissa [{chip.weight_min}, {chip.weight_max}]: quantise to "
                    f"8 bits before exporting"
                )
    resets = any(isinstance(layer.neuron, Neuron) for layer in graph.layers)  # netx's LIFReset
    if steps is None:
        what = "every layer's reset interval" if resets else "the time per inference"
        problems.append(
            f"{what}: the file stores no time steps per sample, so it is unknown: give --steps"
        )
    elif resets and chip.reset_power_of_two and steps & (steps - 1):
        padded = 1 << steps.bit_length()
        problems.append(
            f"every layer's reset interval (netx's LIFReset): {steps} steps per sample is not a "
            f"power of two, which {chip.name} needs on hardware (lava-dl's MNIST tutorial pads "
            f"its samples to 32 steps): pad them to {padded} steps with --steps {padded}"
        )
    return problems


def _fan_out(graph: Graph, maps: dict[int, LayerMap], chip: Chip, problems: list[str]) -> None:
    """Output axons per source core; split a source further where its dense fan-out does not
    fit (one output axon per neuron and destination core)."""
    dense_dest: dict[int, int] = {}
    fixed: dict[int, int] = {}
    for t, target in maps.items():
        for p in graph.synapses(t):
            if p.source not in maps or maps[p.source].placement != NEUROCORES:
                continue
            if target.placement != NEUROCORES:
                fixed[p.source] = fixed.get(p.source, 0) + 1
            elif p.kind == "dense":
                dense_dest[p.source] = dense_dest.get(p.source, 0) + target.cores
            else:
                fixed[p.source] = fixed.get(p.source, 0) + target.cores
    budget = chip.axons_out_per_core
    for s, m in maps.items():
        dense, other = dense_dest.get(s, 0), fixed.get(s, 0)
        room = budget - other
        if dense and room < dense:
            problems.append(
                f"{m.label}: each neuron needs {dense + other} output axons (one per destination "
                f"core), beyond {chip.name}'s {budget} per core (assumption)"
            )
        elif dense and m.neurons_per_core * dense + other > budget:
            m.cores = max(m.cores, math.ceil(m.neurons / (room // dense)))
            m.neurons_per_core = math.ceil(m.neurons / m.cores)
            m.bound = "axons out"
        m.axons_out = m.neurons_per_core * dense + other


def _board_fit(graph: Graph, mapping: Mapping, order: list[int]) -> list[str]:
    """Too many neurons (or embedded CPUs) for the board, naming where it fills up."""
    board, chip = mapping.board, mapping.chip
    problems = []
    if mapping.cores > board.neurocores:
        used, full = 0, None
        by_index = {m.index: m for m in mapping.layers}
        for i in order:
            used += by_index[i].cores if i in by_index else 0
            if full is None and used > board.neurocores:
                full = by_index[i]
        big = max(mapping.layers, key=lambda m: m.cores)
        neurons = sum(m.neurons for m in mapping.layers if m.placement == NEUROCORES)
        problems.append(
            f"too many neurons for {board.name} ({board.chips} chip(s), {board.neurocores:,} "
            f"neurocores): {neurons:,} neurons need {mapping.cores:,} neurocores; the board is "
            f"full at {full.label} ({full.neurons:,} neurons on {full.cores:,} cores), the largest "
            f"layer is {big.label} ({big.neurons:,} neurons on {big.cores:,} cores, at most "
            f"{chip.neurons_per_core:,} neurons per core): use a larger board (--board "
            f"{', '.join(b for b in chip.boards if b != board.name)} or N-chips)"
        )
    cpu_layers = [m.label for m in mapping.layers if m.placement == EMBEDDED]
    if len(cpu_layers) > board.chips * chip.lava_embedded_cpus:
        problems.append(
            f"{', '.join(cpu_layers)} need {len(cpu_layers)} embedded CPUs; Lava uses "
            f"{chip.lava_embedded_cpus} per chip and {board.name} has {board.chips} chip(s)"
        )
    return problems


def map_network(graph: Graph, chip: Chip, board: Board, steps: int | None) -> Mapping:
    """Place every layer with neurons (and a host input) of ``graph`` on ``board``; the
    violations name the layer and the limit."""
    problems = check_ranges(graph, chip, steps)
    maps: dict[int, LayerMap] = {}
    cores_of: dict[int, int] = {}
    for i in graph.order:
        layer = graph.layers[i]
        if not layer.has_neurons and layer.kind != "input":
            continue  # a concat: no neurons, its sources' projections are resolved through it
        where, why = placement(layer)
        if where == NEUROCORES:
            m = _split(graph, i, chip, cores_of)
            per_neuron = m.synapses_per_core // m.neurons_per_core if m.neurons_per_core else 0
            if m.neurons_per_core == 1 and m.synapses_per_core > chip.synapses_per_core:
                problems.append(
                    f"{m.label}: one neuron's synapses ({per_neuron:,}) exceed {chip.name}'s "
                    f"{chip.synapses_per_core:,} per core"
                )
            if m.axons_in > chip.axons_in_per_core:
                problems.append(
                    f"{m.label}: its neurons read {m.axons_in:,} input axons, beyond "
                    f"{chip.name}'s {chip.axons_in_per_core:,} per core (assumption)"
                )
        else:
            m = LayerMap(i, graph.tag(i), graph.label(i), "", layer.neurons, where, why)
        m.kind = graph.kind_name(i)
        m.reason = why
        maps[i] = m
        cores_of[i] = m.cores
    _fan_out(graph, maps, chip, problems)
    layers = [maps[i] for i in sorted(maps)]
    mapping = Mapping(graph.name, chip, board, steps, layers)
    mapping.violations = problems + _board_fit(graph, mapping, graph.order)
    return mapping
