"""Operation counts per layer with neurons from simulation traces, for any network of the IR.

A layer's inputs are its projections' sources: the encoded network input (n, C, H, W, T) (graded
payloads for the ``direct`` encoder, 0/1 for ``rate``), the spikes of a population, or what a
custom layer sends (graded payloads or spikes), all flattened in C, H, W order. An input layer
with neurons (lava-dl's files) is driven through its bias: it has neuron updates but no synapse.
Per layer, summed over its projections, samples and steps (counts, dimensionless):

* input events: nonzero input entries (spikes, or nonzero graded values);
* synaptic operations (accumulates, AC): for binary input, the sum over input events of the
  input's fan-out (its synapses with a nonzero weight, conv geometry respected);
* multiply-accumulates (MAC): for graded input, the same sum over nonzero input values;
* FLOPs: the dense MACs of one step of one sample (every weight), for the seeds' formula and the
  ANN comparison; formula SOPs = fr x T x FLOPs with fr the input's events per input per step;
* neuron updates: neurons x T per sample, and how many were active (below);
* op-model arithmetic: multiplications and additions per neuron update (``--op-model biasnn``
  prices the paper's LIF arithmetic, 2 multiplications and 4 additions per update);
* a custom layer (e.g. BIASNN's mask, SPARTA's token selection) prices its own arithmetic
  through its layer type's ``ops`` (multiplications, additions and neuron updates per sample);
  a type that gives none is reported as not priced, never as zero.

**Active update** (the split of Loihi's 81 / 52 pJ per neuron update, :data:`ACTIVE_RULE`): the
update of a neuron at step t is active when it changes the neuron's state, i.e. its current u or
voltage v after step t differs from its value after step t-1 (both are 0 before step 0, as netx
resets every sample), or when the neuron spikes at t. A neuron at rest (u = v = 0) without input,
or one whose decays leave its state unchanged, makes an inactive update. An RF layer's u and v
are its real and imaginary parts (never reset: a sample's first update counts as active unless its
state is 0); a sigma-delta layer's updates all count as active. The states u and v are
the ones the simulation backend recorded itself (``record_states=True``: ``SimResult.u``/``v``);
nothing here recomputes neuron dynamics (Lava's integer arithmetic lives only in the backends).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..backends.result import SimResult
from ..errors import LoihiSnnError
from ..ir.graph import Graph, Resonator, SigmaDelta, layer_type
from ..mechanisms.alif_mask.paper import LIF, NeuronOps
from .geometry import synapses

OP_MODELS: dict[str, NeuronOps | None] = {
    "standard": None,  # synaptic operations and neuron updates only (the seeds' formula)
    "biasnn": LIF,  # + the BIASNN paper's neuron arithmetic per update (BIASNN, Sci. Rep. 2025)
}

ACTIVE_RULE = (
    "active = the update changed the neuron's recorded state (u or v differs from the previous "
    "step; 0 before the first) or the neuron spiked"
)


@dataclass
class LayerCounts:
    """Counts of one neuron layer, summed over ``samples`` samples of ``time_steps`` steps
    (except ``flops``: one step of one sample). See the module docstring for the definitions."""

    index: int
    label: str
    kind: str
    neurons: int
    inputs: int
    samples: int
    time_steps: int
    graded_input: bool
    static_input: bool
    synapses: int
    flops: int
    input_events: int
    synops: int
    macs: int
    output_spikes: int
    neuron_updates: int
    active_updates: int
    neuron_mults: int = 0
    neuron_adds: int = 0
    per_step_ops: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # AC+MAC (T,)
    custom: bool = False  # a custom layer: its arithmetic comes from its type
    priced: bool = True  # False: a custom layer whose type gives no op count
    note: str = ""  # what the custom layer's count covers, or why it is not priced

    @property
    def input_rate(self) -> float:
        """fr: input events per input position per step."""
        total = self.samples * self.inputs * self.time_steps
        return self.input_events / total if total else 0.0

    @property
    def formula_sops(self) -> float:
        """The seeds' SOPs (SpiLiFormer Eqs. 25-27), summed over samples: fr x T x FLOPs each
        (0 for a graded-input layer, which the formula charges as MACs)."""
        if self.graded_input:
            return 0.0
        return self.input_rate * self.time_steps * self.flops * self.samples

    @property
    def mean_fanout(self) -> float:
        return self.synapses / self.inputs if self.inputs else 0.0


@dataclass
class NetworkCounts:
    """Counts of every neuron layer of one run."""

    path: str
    backend: str
    samples: int
    time_steps: int
    op_model: str
    layers: list[LayerCounts]
    projections: dict[str, float] = field(default_factory=dict)  # name -> AC + MAC per sample

    @property
    def flops(self) -> int:
        """Dense MACs of one ANN pass with the same layers (per sample)."""
        return sum(layer.flops for layer in self.layers)


def _events(fanout: np.ndarray, x: np.ndarray) -> tuple[int, np.ndarray]:
    """(nonzero entries, fan-out-weighted events per step (T,)) of x (n, inputs, T)."""
    nz = (x != 0).astype(np.int64)
    return int(nz.sum()), np.einsum("i,nit->t", fanout, nz)


def active_mask(u: np.ndarray, v: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(n, neurons, T) bool: the update at step t changed u or v, or the neuron spiked."""
    zero = np.zeros(u.shape[:-1] + (1,), u.dtype)
    du = np.diff(u, axis=-1, prepend=zero) != 0
    dv = np.diff(v, axis=-1, prepend=zero) != 0
    return du | dv | (s != 0)


def _signals(graph: Graph, inputs: np.ndarray, result: SimResult) -> dict[int, np.ndarray]:
    """What each layer sends, (n, neurons, T) in C, H, W order: the input (unless it has neurons:
    then its spikes), every population's spikes and every custom layer's output."""
    pops = graph.populations
    if len(result.spikes) != len(pops):
        raise LoihiSnnError(
            f"the run recorded {len(result.spikes)} of {len(pops)} layers with neurons: record all"
        )
    if result.u is None or result.v is None:
        raise LoihiSnnError(
            "the run recorded no neuron states: run the backend with record_states=True to count "
            "active neuron updates"
        )
    n, steps = result.spikes[0].shape[0], result.spikes[0].shape[-1]
    signals = {0: np.asarray(inputs).reshape(n, -1, steps)} if not graph.input_neuron else {}
    for k, i in enumerate(pops):
        spikes = result.spikes[k]
        out = result.outputs[k] if result.outputs is not None else None
        if graph.graded(i) and out is None:
            raise LoihiSnnError(f"{graph.label(i)}: the run did not record its graded output")
        signals[i] = spikes if out is None else out
        if graph.layers[i].custom or isinstance(graph.layers[i].neuron, SigmaDelta):
            continue
        for name, states in (("u", result.u), ("v", result.v)):
            if states[k] is None or states[k].shape != spikes.shape:
                got = "none" if states[k] is None else states[k].shape
                raise LoihiSnnError(
                    f"{graph.label(i)}: recorded {name} has shape {got}, spikes {spikes.shape}"
                )
    return signals


def count_network(
    graph: Graph,
    inputs: np.ndarray,
    result: SimResult,
    op_model: str = "standard",
    graded_input: bool | None = None,
    backend: str = "lava",
) -> NetworkCounts:
    """Count the operations of every layer with neurons of ``graph`` for the run ``result`` of
    ``inputs`` (as given to the backend), which must hold every layer's states and graded outputs
    (``record_states=True``). ``graded_input``: whether the network input is graded (default:
    any value outside {0, 1})."""
    if op_model not in OP_MODELS:
        raise LoihiSnnError(f"unknown op model '{op_model}': use {', '.join(OP_MODELS)}")
    signals = _signals(graph, inputs, result)
    ops = OP_MODELS[op_model]
    n, steps = result.spikes[0].shape[0], result.spikes[0].shape[-1]
    if graded_input is None:
        graded_input = bool(((inputs != 0) & (inputs != 1)).any())
    graded_of = {i: graph.graded(i) for i in graph.populations}
    if not graph.input_neuron:
        graded_of[0] = graded_input
    layers, projections = [], {}
    for k, (i, syns) in enumerate(synapses(graph).items()):
        layer = graph.layers[i]
        spikes = result.spikes[k]
        events = synops = macs = flops = fan_total = inputs_total = 0
        per_step = np.zeros(steps, np.int64)
        graded = static = False
        for syn in syns:
            x = signals[syn.source]
            if x.shape[1] != syn.inputs:
                raise LoihiSnnError(
                    f"{graph.label(i)}: its input from {graph.label(syn.source)} has {x.shape[1]} "
                    f"values, not {syn.inputs}"
                )
            fanout = syn.fanout()
            e, step_ops = _events(fanout, x)
            is_graded = graded_of[syn.source]
            total = int(step_ops.sum())
            events, per_step = events + e, per_step + step_ops
            if is_graded:
                macs += total
                graded = True
                static = static or bool((x == x[..., :1]).all())
            else:
                synops += total
            flops += syn.flops()
            fan_total += int(fanout.sum())
            inputs_total += syn.inputs
            name = f"{graph.label(i)} <- {graph.label(syn.source)} via {syn.kind}"
            projections[name] = projections.get(name, 0.0) + total / n
        counts = LayerCounts(
            index=i,
            label=graph.tag(i),
            kind=graph.kind_name(i),
            neurons=layer.neurons,
            inputs=inputs_total,
            samples=n,
            time_steps=steps,
            graded_input=graded,
            static_input=static,
            synapses=fan_total,
            flops=flops,
            input_events=events,
            synops=synops,
            macs=macs,
            output_spikes=int(spikes.sum()),
            neuron_updates=layer.neurons * steps * n,
            active_updates=0,
            per_step_ops=per_step,
        )
        if layer.custom:
            _price_custom(counts, graph, i, steps)
        elif isinstance(layer.neuron, SigmaDelta):  # no u and v: every update counts as active
            counts.active_updates = counts.neuron_updates
            counts.note = "sigma-delta neurons: every update counted active (no u, v recorded)"
        else:
            counts.active_updates = int(active_mask(result.u[k], result.v[k], spikes).sum())
            if isinstance(layer.neuron, Resonator):  # its u and v: its real and imaginary parts
                counts.note = "RF neurons: active from their real and imaginary parts; no op model"
            elif ops is not None:
                counts.neuron_mults = ops.mults_per_neuron * counts.neuron_updates
                counts.neuron_adds = ops.adds_per_neuron * counts.neuron_updates
        layers.append(counts)
    path = str(graph.path) if graph.path else "network"
    return NetworkCounts(path, backend, n, steps, op_model, layers, projections)


def _price_custom(counts: LayerCounts, graph: Graph, i: int, steps: int) -> None:
    """A custom layer's own arithmetic from its layer type (per sample, times the samples), or
    not priced."""
    layer = graph.layers[i]
    own = layer_type(layer.kind).ops(layer, steps)
    counts.custom = True
    if own is None:
        counts.priced = False
        counts.neuron_updates = counts.active_updates = 0
        counts.note = f"{layer.kind}: its type gives no operation count (not priced)"
        return
    n = counts.samples
    counts.neuron_mults = int(own.get("mults", 0)) * n
    counts.neuron_adds = int(own.get("adds", 0)) * n
    counts.neuron_updates = counts.active_updates = int(own.get("neuron_updates", 0)) * n
    counts.note = f"{layer.kind}: {own.get('note', '')}"
