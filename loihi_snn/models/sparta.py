"""A small SPARTA model (the SPARTA paper): image patches as tokens, HI-LIF encoder, spike-timing
token selection, a spiking classifier on the gated tokens.

    input (1, 28, 28) --conv k x k / k--> HI-LIF (D, 28/k, 28/k)      tokens = the patches
          --> token selection (D, H, W): priority, K, top-K, Eq. 9 gates, replayed next window
          --> dense --> LIF ... --> dense --> LIF (classes; spike counts are the prediction)

Recipe (``train/fmnist_sparta.toml``): ``[[layers]]`` ``hilif`` (out = D, kernel, stride,
padding, weight_scale), ``token_select``, then ``dense`` layers; ``[sparta]`` the HI-LIF priors,
the selection mode (dynamic or fixed K) and its parameters (:class:`loihi_snn.recipe.SpartaSpec`).

Training forward: float, HI-LIF with the arctan surrogate (:mod:`loihi_snn.mechanisms.hilif.block`),
the token selection with straight-through top-K (:mod:`loihi_snn.mechanisms.token_select.block`),
SLAYER CUBA dense layers (as the rest of the project). Eval forward: the integer twin, the exported
graph run through :mod:`loihi_snn.backends.fast` (which runs the token selection's integer rules),
so the reported accuracy is what Lava runs.

Graph file (format 2) in file order: 0 input; 1..G the HI-LIF populations (one per decay group,
thresholds and 1/tau folded into the conv weights); G + 1 their concat; G + 2 ``token_select``
reading the concat through a 1x1 permutation conv (original channel order); then the dense LIF
populations. The first dense layer reads graded payloads s g (g in Q4: 16 = 1.0), so its weights
share the population's scale S (w = round(S W), 8 bit) and its threshold is round(16 S theta).
Recorded layers (``layer_spikes``, what ``verify`` compares): every population and the token
selection's s M, in file order.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from lava.lib.dl import slayer

from ..errors import LoihiSnnError
from ..ir.graph import Graph, Layer, Neuron, Projection, validate
from ..ir.hdf5 import write_graph
from ..mechanisms.hilif.block import HiLIF
from ..mechanisms.token_select.block import TokenSelect
from ..mechanisms.token_select.rules import QG
from ..recipe import LayerSpec, NeuronSpec, Recipe, SpartaSpec

WEIGHT_MAX = 254
VTH_MAX = (1 << 17) - 1


class SpartaNet(torch.nn.Module):
    """The SPARTA model (module doc). Input (N, C, H, W, T) integer-valued; output spikes
    (N, classes, T). Eval mode runs the integer twin."""

    graph_format = True  # exports as a graph file (format 2)

    def __init__(
        self,
        layers: list[LayerSpec],
        neuron: NeuronSpec,
        sparta: SpartaSpec,
        input_shape: tuple[int, int, int],
        steps: int,
    ) -> None:
        super().__init__()
        types = [spec.type for spec in layers]
        if len(types) < 3 or types[:2] != ["hilif", "token_select"] or any(
            t != "dense" for t in types[2:]
        ):
            raise LoihiSnnError(
                f"a SPARTA recipe has the layers hilif, token_select, dense..., not {types}"
            )
        self.input_shape = tuple(int(s) for s in input_shape)
        self.steps = int(steps)
        enc = layers[0]
        self.hilif = HiLIF(
            self.input_shape[0], enc.out, enc.kernel, enc.stride, enc.padding,
            mu_tau=sparta.mu_tau, sigma_tau=sparta.sigma_tau, mu_vth=sparta.mu_vth,
            sigma_vth=sparta.sigma_vth, dv_step=sparta.dv_step, weight_scale=enc.weight_scale,
        )
        self.token_shape = self.hilif._out_shape(self.input_shape, enc.out)
        self.select = TokenSelect(
            *self.token_shape, self.steps, mode=sparta.mode, sparsity=sparta.sparsity,
            k_min=sparta.k_min, hidden=sparta.hidden, alpha=sparta.alpha, beta=sparta.beta,
            gamma=sparta.gamma, gate_on=sparta.gate_on, gate_off=sparta.gate_off,
            learn_gate_off=sparta.learn_gate_off, sparsity_weight=sparta.sparsity_weight,
        )
        self.synapses = torch.nn.ModuleList()
        self.neurons = torch.nn.ModuleList()
        self.thresholds: list[float] = []
        width = math.prod(self.token_shape)
        for spec in layers[2:]:
            theta = neuron.threshold if spec.threshold is None else spec.threshold
            self.synapses.append(slayer.synapse.Dense(width, spec.out))
            self.neurons.append(
                slayer.neuron.cuba.Neuron(
                    threshold=theta, current_decay=neuron.current_decay,
                    voltage_decay=neuron.voltage_decay, tau_grad=neuron.tau_grad,
                    scale_grad=neuron.scale_grad, requires_grad=False,
                )
            )
            self.thresholds.append(theta)
            width = spec.out
        self.num_classes = width
        self._twin = None

    @classmethod
    def from_recipe(cls, recipe: Recipe, input_shape: tuple[int, ...]) -> SpartaNet:
        return cls(recipe.layers, recipe.neuron, recipe.sparta, input_shape,
                   recipe.data.time_steps)

    def train(self, mode: bool = True) -> SpartaNet:
        self._twin = None
        return super().train(mode)

    def check_ready(self) -> None:
        with torch.no_grad():
            self._float_layers(torch.zeros((1, *self.input_shape, self.steps)))

    def aux_loss(self) -> torch.Tensor:
        return self.select.aux_loss()

    # -- forwards ---------------------------------------------------------------------------

    def _float_layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Training forward: HI-LIF spikes, gated tokens, dense spikes."""
        s = self.hilif(x)
        y = self.select(s)
        out = [s, y]
        z = y.reshape(y.shape[0], -1, y.shape[-1])
        for syn, neuron in zip(self.synapses, self.neurons, strict=True):
            z = neuron(syn(z))
            out.append(z)
        return out

    def layer_spikes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spikes of every recorded layer (HI-LIF groups, token selection's s M, dense
        populations), each (N, neurons in C, H, W order, T), in file order."""
        if self.training:
            s, y, *dense = self._float_layers(x)
            n, steps = s.shape[0], s.shape[-1]
            groups = [s[:, ch].reshape(n, -1, steps) for _, ch in self.hilif.groups()]
            hard = self.select.last_hard.reshape(n, 1, *self.token_shape[1:], 1)
            return [*groups, (s * hard).reshape(n, -1, steps), *dense]
        from ..backends.fast import FastRunner

        if self._twin is None:  # built once per eval phase (train() drops it)
            self._twin = FastRunner(self.to_graph(x.shape[-1]))
        x_int = x.detach().cpu().numpy().astype(np.int64)
        traces = self._twin.run_file_order(x_int, x_int.shape[-1])
        return [
            torch.from_numpy(np.asarray(traces[i][0], np.float32)).transpose(1, 2).contiguous()
            for i in self._twin.graph.populations
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self._float_layers(x)[-1]
        return self.layer_spikes(x)[-1]

    # -- integer twin and export -------------------------------------------------------------

    def to_graph(self, time_steps: int | None = None) -> Graph:
        """The quantised graph (module doc)."""
        steps = self.steps if time_steps is None else int(time_steps)
        if steps != self.steps:
            raise LoihiSnnError(
                f"SPARTA's token selection was built for T = {self.steps}, not {steps}"
            )
        layers = [Layer("input", self.input_shape)]
        hilif_layers, perm = self.hilif.to_layers(0, self.input_shape, 1)
        layers += hilif_layers
        select = Layer("token_select", self.token_shape, inputs=[perm],
                       params=self.select.integer_params())
        layers.append(select)
        source, payload = len(layers) - 1, 1 << QG
        for syn, neuron, theta in zip(self.synapses, self.neurons, self.thresholds, strict=True):
            w = syn.weight.detach().double().reshape(syn.weight.shape[0], -1).numpy()
            peak = float(np.abs(w).max())
            scale = min(WEIGHT_MAX / peak if peak else math.inf, VTH_MAX / (theta * payload))
            params = neuron.device_params
            layers.append(
                Layer(
                    "population", (w.shape[0],),
                    Neuron(int(params["iDecay"]), int(params["vDecay"]),
                           max(1, round(theta * scale * payload))),
                    None, [Projection(source, "dense", np.round(w * scale))],
                )
            )
            source, payload = len(layers) - 1, 1
        return validate(Graph(layers, steps), "SPARTA model")

    def export_hdf5(self, path: str | Path, meta: dict) -> Path:
        """Write the integer twin as a graph file (format 2, atomic)."""
        self.check_ready()
        return write_graph(self.to_graph(int(meta.get("time_steps", self.steps))), path, meta)


# -- analysis: selection maps and synaptic operations ------------------------------------------


def _select_index(graph: Graph) -> int:
    for i, layer in enumerate(graph.layers):
        if layer.kind == "token_select":
            return i
    raise LoihiSnnError("the network has no token_select layer")


def analyse(graph: Graph, x: np.ndarray) -> dict:
    """Run the integer twin on x (n, *input, T) and return the token selection's input spikes
    ``spikes`` (n, C, H, W, T), its TwinResult ``select``, the traces of every recorded layer
    ``traces`` (index -> (n, T, neurons)) and the synaptic operations per sample ``sops``
    (projection name -> mean events x fan-out per sample; see :func:`synaptic_ops`)."""
    from ..backends.fast_graph import GraphRunner, _Synapse
    from ..mechanisms.token_select.rules import run_twin

    x = np.asarray(x, np.int64)
    runner = GraphRunner(graph)
    traces = runner.run_batch(x)
    k = _select_index(graph)
    layer = graph.layers[k]
    n, steps = x.shape[0], x.shape[-1]
    total = np.zeros(n * steps * layer.neurons, np.int64)
    signals = {0: torch.from_numpy(np.moveaxis(x, -1, 1).astype(np.float64))}
    for i, trace in traces.items():
        signals[i] = torch.from_numpy(np.asarray(trace[0], np.float64)).reshape(
            n, steps, *graph.layers[i].shape
        )
    for projection in layer.inputs:
        for _, p in graph.resolved(projection):
            _Synapse(p, graph.layers[p.source].shape).add_to(signals[p.source], 1.0, total)
    xs = np.moveaxis(total.reshape(n, steps, *layer.shape), 1, -1)
    result = run_twin(layer.params, xs)
    signals[k] = torch.from_numpy(np.moveaxis(result.y, -1, 1).astype(np.float64))
    return {
        "spikes": (xs > 0).astype(np.int8),
        "select": result,
        "traces": traces,
        "sops": synaptic_ops(graph, signals),
    }


def _fan_out(p: Projection, in_shape: tuple[int, ...]) -> np.ndarray:
    """Synapses (non-zero weights) leaving each source neuron (C, H, W order, flat) of a resolved
    projection."""
    if p.kind == "dense":
        return (p.weight != 0).sum(0).astype(np.float64)
    if p.kind != "conv":
        raise LoihiSnnError(f"SOP count: projection type {p.kind} not handled")
    out = p.out_shape(in_shape)
    ones = torch.ones((1, *out), dtype=torch.float64)
    kernel = torch.from_numpy((p.weight != 0).astype(np.float64))
    fan = torch.nn.functional.conv_transpose2d(
        ones, kernel, stride=p.stride, padding=p.padding, dilation=p.dilation, groups=p.groups
    )[0]
    full = torch.zeros(in_shape, dtype=torch.float64)
    h, w = min(fan.shape[1], in_shape[1]), min(fan.shape[2], in_shape[2])
    full[:, :h, :w] = fan[:, :h, :w]
    return full.reshape(-1).numpy()


def synaptic_ops(graph: Graph, signals: dict) -> dict[str, float]:
    """Synaptic operations per sample: for every projection (concat reads resolved into their
    parts), the number of non-zero source events over the window (binary spikes and graded
    payloads alike: a graded payload is one operation per synapse, like a spike) times each
    event's fan-out (the non-zero synapses leaving that source neuron), averaged over the
    samples.
    ``signals``: layer index -> (n, T, *shape) tensor of what the layer sends."""
    out = {}
    for i, layer in enumerate(graph.layers):
        if layer.kind in ("input", "concat"):
            continue
        for k, projection in enumerate(layer.inputs):
            ops = 0.0
            for _, p in graph.resolved(projection):
                src = signals[p.source]
                n = src.shape[0]
                events = (src != 0).reshape(n, src.shape[1], -1).sum(1).double().numpy()
                ops += float((events * _fan_out(p, graph.layers[p.source].shape)).sum()) / n
            out[f"{i}:{k} {projection.kind} from {projection.source}"] = ops
    return out
