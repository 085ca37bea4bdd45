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
from ..ir.graph import Graph, Layer, Neuron, Projection
from ..ir.hdf5 import write_graph
from ..ir.validation import validate
from ..loihi.limits import TRAINED_WEIGHT_MAX as WEIGHT_MAX
from ..loihi.limits import VTH_MAX
from ..mechanisms.hilif.block import HiLIF
from ..mechanisms.token_select.block import TokenSelect
from ..mechanisms.token_select.rules import QG
from ..nn import CubaNeuron, neuron_dropout
from ..recipe import LayerSpec, NeuronSpec, Recipe, SpartaSpec


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
        for i, spec in enumerate(layers[2:], start=2):
            theta = neuron.threshold if spec.threshold is None else spec.threshold
            self.synapses.append(slayer.synapse.Dense(width, spec.out))
            self.neurons.append(
                CubaNeuron(
                    threshold=theta, current_decay=neuron.current_decay,
                    voltage_decay=neuron.voltage_decay, tau_grad=neuron.tau_grad,
                    scale_grad=neuron.scale_grad, requires_grad=False,
                    dropout=neuron_dropout(neuron.dropout if i < len(layers) - 1 else 0.0),
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
