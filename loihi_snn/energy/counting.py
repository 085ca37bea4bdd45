"""Operation counts per neuron layer from simulation traces.

The input of neuron layer 0 is the encoded network input (n, C, H, W, T) (graded payloads for the
``direct`` encoder, 0/1 for ``rate``); the input of layer k > 0 is the spike trace of layer k-1
(flattened in C, H, W order, as netx does). An input layer with neurons (lava-dl's files) is driven
through its bias: it has neuron updates but no synapse. Per layer and summed over samples and
steps (counts, dimensionless):

* input events: nonzero input entries (spikes, or nonzero graded values);
* synaptic operations (accumulates, AC): for binary input, the sum over input events of the
  input's fan-out (its synapses with a nonzero weight, conv geometry respected);
* multiply-accumulates (MAC): for graded input, the same sum over nonzero input values;
* FLOPs: the dense MACs of one step of one sample (every weight), for the seeds' formula and the
  ANN comparison; formula SOPs = fr x T x FLOPs with fr the input's events per input per step;
* neuron updates: neurons x T per sample, and how many were active (below);
* op-model arithmetic: multiplications and additions per neuron update (``--op-model biasnn``
  prices the paper's LIF arithmetic, 2 multiplications and 4 additions per update).

**Active update** (the split of Loihi's 81 / 52 pJ per neuron update, :data:`ACTIVE_RULE`): the
update of a neuron at step t is active when it changes the neuron's state, i.e. its current u or
voltage v after step t differs from its value after step t-1 (both are 0 before step 0, as netx
resets every sample), or when the neuron spikes at t. A neuron at rest (u = v = 0) without input,
or one whose decays leave its state unchanged, makes an inactive update. The states u and v are
the ones the simulation backend recorded itself (``record_states=True``: ``SimResult.u``/``v``);
nothing here recomputes neuron dynamics (Lava's integer arithmetic lives only in the backends).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..backends.result import SimResult
from ..errors import LoihiSnnError
from ..ir.netfile import NetFile
from .biasnn import LIF, NeuronOps
from .geometry import Synapse

OP_MODELS: dict[str, NeuronOps | None] = {
    "standard": None,  # synaptic operations and neuron updates only (the seeds' formula)
    "biasnn": LIF,  # + the BIASNN paper's neuron arithmetic per update (mechanisms.md §1.8, §5.2)
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

    @property
    def input_rate(self) -> float:
        """fr: input events per input position per step."""
        total = self.samples * self.inputs * self.time_steps
        return self.input_events / total if total else 0.0

    @property
    def formula_sops(self) -> float:
        """The seeds' SOPs (mechanisms.md §5.1), summed over samples: fr x T x FLOPs each
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


def _check_states(result: SimResult) -> None:
    """The run must carry the neuron states u, v of every recorded layer, in the spikes' layout."""
    if result.u is None or result.v is None:
        raise LoihiSnnError(
            "the run recorded no neuron states: run the backend with record_states=True to count "
            "active neuron updates"
        )
    for k, spikes in enumerate(result.spikes):
        for name, states in (("u", result.u), ("v", result.v)):
            trace = states[k] if k < len(states) else None
            if trace is None or trace.shape != spikes.shape:
                got = "none" if trace is None else trace.shape
                raise LoihiSnnError(
                    f"neuron layer {k}: recorded {name} has shape {got}, spikes {spikes.shape}"
                )


def count_network(
    info: NetFile,
    synapses: list[Synapse],
    inputs: np.ndarray,
    result: SimResult,
    op_model: str = "standard",
    graded_input: bool | None = None,
    backend: str = "lava",
) -> NetworkCounts:
    """Count the operations of every neuron layer of ``info`` for the run ``result`` of
    ``inputs`` (as given to the backend), which must hold every layer's states
    (``record_states=True``). ``graded_input``: whether layer 0's input is graded
    (default: any value outside {0, 1})."""
    if op_model not in OP_MODELS:
        raise LoihiSnnError(f"unknown op model '{op_model}': use {', '.join(OP_MODELS)}")
    if len(result.spikes) != len(synapses):
        raise LoihiSnnError(
            f"the run recorded {len(result.spikes)} of {len(synapses)} neuron layers: record all"
        )
    _check_states(result)
    ops = OP_MODELS[op_model]
    n, steps = result.spikes[0].shape[0], result.spikes[0].shape[-1]
    if graded_input is None:
        graded_input = bool(((inputs != 0) & (inputs != 1)).any())
    layers = []
    x: np.ndarray | None = None
    graded = graded_input
    for k, syn in enumerate(synapses):
        spikes = result.spikes[k]
        if syn.kind == "input":
            x = None
        elif k == 0:
            x = np.asarray(inputs).reshape(n, -1, steps)
        if x is not None and x.shape[1] != syn.inputs:
            raise LoihiSnnError(
                f"layer {syn.label}: input has {x.shape[1]} values, not {syn.inputs}"
            )
        fanout = syn.fanout()
        if x is None:
            events, per_step = 0, np.zeros(steps, np.int64)
        else:
            events, per_step = _events(fanout, x)
        static = bool(x is not None and graded and (x == x[..., :1]).all())
        active = active_mask(result.u[k], result.v[k], spikes)
        updates = syn.neurons * steps * n
        mults = adds = 0
        if ops is not None:
            mults, adds = ops.mults_per_neuron * updates, ops.adds_per_neuron * updates
        total = int(per_step.sum())
        layers.append(
            LayerCounts(
                index=k,
                label=syn.label,
                kind=syn.kind,
                neurons=syn.neurons,
                inputs=syn.inputs,
                samples=n,
                time_steps=steps,
                graded_input=graded and x is not None,
                static_input=static,
                synapses=int(fanout.sum()),
                flops=syn.flops(),
                input_events=events,
                synops=0 if graded else total,
                macs=total if graded else 0,
                output_spikes=int(spikes.sum()),
                neuron_updates=updates,
                active_updates=int(active.sum()),
                neuron_mults=mults,
                neuron_adds=adds,
                per_step_ops=per_step,
            )
        )
        x, graded = spikes, syn.graded_out
    return NetworkCounts(str(info.path), backend, n, steps, op_model, layers)
