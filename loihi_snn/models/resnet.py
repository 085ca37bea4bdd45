"""Residual spiking networks in the MS-ResNet style, built from lava-dl SLAYER pieces, exporting
themselves as graph files (format 2, :mod:`loihi_snn.ir.graph`).

Layout (``[[layers]]`` of a recipe): a ``conv`` stem (conv, BN into LIF neurons A0), then
``resblock`` layers, each

    B_l     = LIF( BN1(conv3x3_s(A_l)) )
    z_{l+1} = BN2(conv3x3(B_l)) + shortcut,   A_{l+1} = LIF(z_{l+1})

with the membrane shortcut ``z_l`` (the synaptic input of A_l, added into the next neurons: on Loihi
the projections of A_l are also connected to A_{l+1}) or, where the shape changes, a 1x1 strided
projection BN(conv1x1_s(A_l)). Decision: the projection reads the spikes A_l = LIF(z_l), not the
real-valued z_l, which exists on Loihi only as currents (materialising it needs a graded relay, a
custom process); the identity shortcuts are exact membrane shortcuts. Then optional ``avgpool``
layers (average pooling of spikes into new LIF neurons; kernel 0 = global) and ``dense`` layers
(the last one holds the classes; its spike counts are the output).

BIASNN: an ``alif_mask`` layer after a block gates that block's membrane stream z_{l+1}
(:class:`loihi_snn.mechanisms.alif_mask.block.AlifMask`): Y = mask(z_{l+1}), A_{l+1} = LIF(Y), and
the next
membrane shortcut carries Y. On Loihi the stream exists as a graded signal there: the mask layer
sums the block's projections (X), sends Y, and its readers take Y through identity projections
of weight 1. For that, the mask and every population reading Y share one scale (the smallest any
of them needs), so Y is in the readers' units exactly.

Fixed point. Training runs SLAYER CUBA neurons (with the recipe's decays; MS-ResNet's LIF is
current_decay 1, voltage_decay 0.75) on float synapses with BatchNorm over (N, H, W, T). The model
in eval mode *is* its integer twin: BN folded into weights and bias with the running statistics,
then per population one scale s = min(254 / max|W|, 4095 / max|b|) puts every incoming weight on
8 bits (w = round(W s)), the bias on 13 bits and the threshold at round(theta s); it runs through
:mod:`loihi_snn.backends.fast`, which Lava matches bit for bit. Timing: zero-latency model (a
population sees its sources at the same step); the Lava loader aligns the paths.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import LoihiSnnError
from ..ir.graph import Graph, Layer, Neuron, Projection
from ..ir.hdf5 import write_graph
from ..ir.validation import validate
from ..loihi.limits import BIAS_MAX, DECAY_UNIT, NON_SPIKING_VTH, VTH_MAX
from ..loihi.limits import TRAINED_WEIGHT_MAX as WEIGHT_MAX
from ..mechanisms.alif_mask.block import AlifMask
from ..mechanisms.alif_mask.layer import MaskLayer
from ..mechanisms.lidiff.rules import ATTENTIONS, head_problem
from ..mechanisms.qktv.block import QKTV
from ..mechanisms.qktv.rules import QktvParams
from ..mechanisms.spk.block import SpkBlock
from ..nn import CubaNeuron, neuron_dropout
from ..recipe import QKTV_BLOCKS, TRANSFORMER_BLOCKS, LayerSpec, NeuronSpec
from .attention import add_fb_stage, add_ff_block, add_qktv_block
from .terms import Term


@dataclass
class PopulationSpec:
    """A population of the model (or an ALIF mask, ``mask``): its own terms, and the population
    whose input it inherits (the membrane shortcut), if any."""

    index: int
    shape: tuple[int, ...]
    terms: list[int] = field(default_factory=list)  # indices into GraphNet.terms
    inherits: int | None = None
    threshold: float = 1.0
    mask: bool = False
    branches: list[float] = field(default_factory=list)  # an SPK block's thresholds, else []
    qktv: int = 0  # a qktv layer's heads (Attn = Q (K^T V)), else 0

    @property
    def top_threshold(self) -> float:
        return max(self.branches, default=self.threshold)


class GraphNet(torch.nn.Module):
    """A residual spiking network. Input: integer-valued (N, C, H, W, T); output: spikes
    (N, classes, T) of the last population. In eval mode it runs its integer twin."""

    def __init__(
        self,
        layers: list[LayerSpec],
        neuron: NeuronSpec,
        input_shape: tuple[int, int, int],
        readout: str = "spikes",
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.neuron_spec = neuron
        self.voltage_readout = readout == "voltage"
        self.terms = torch.nn.ModuleList()
        self.pops: list[PopulationSpec] = []
        neurons = []
        shape: tuple[int, ...] = self.input_shape
        last = 0  # file index of the latest population (0: the input)

        def add_pop(
            terms: list[Term], threshold: float | None, inherits: int | None = None,
            spk: bool = False, memoryless: bool = False, qktv: int = 0, drop: bool = False,
        ):
            out = terms[0].out_shape() if terms else self.pops[inherits - 1].shape
            for t in terms:
                if t.out_shape() != out:
                    raise LoihiSnnError(f"shapes {t.out_shape()} and {out} do not merge")
            ids = []
            for t in terms:
                self.terms.append(t)
                ids.append(len(self.terms) - 1)
            theta = neuron.threshold if threshold is None else threshold
            spec = PopulationSpec(len(self.pops) + 1, out, ids, inherits, theta, qktv=qktv)
            self.pops.append(spec)
            if qktv:
                neurons.append(QKTV(qktv))
                return spec.index, out
            params = {
                "current_decay": 1.0 if memoryless else neuron.current_decay,
                "voltage_decay": 1.0 if memoryless else neuron.voltage_decay,
                "tau_grad": neuron.tau_grad,
                "scale_grad": neuron.scale_grad,
                "requires_grad": False,
                "dropout": neuron_dropout(neuron.dropout) if spk or drop else None,
            }
            if spk and neuron.spk != "sl":
                spec.branches = [theta * m for m in neuron.spk_thresholds]
                neurons.append(SpkBlock(neuron.spk, spec.branches, params))
            else:
                if spk:
                    spec.threshold = theta = theta * neuron.spk_thresholds[0]
                neurons.append(CubaNeuron(threshold=theta, **params))
            return spec.index, out

        for i, spec in enumerate(layers):
            where = f"layer #{i} ({spec.type})"
            if spec.type in ("conv", "resblock", "avgpool") and len(shape) != 3:
                raise LoihiSnnError(f"{where} needs a (C, H, W) input, got {shape}")
            if spec.type == "conv":
                term = Term(last, "conv", shape, spec.out, spec.kernel, spec.stride, spec.padding)
                last, shape = add_pop([term], spec.threshold, spk=True)
            elif spec.type == "resblock":
                if last == 0:
                    raise LoihiSnnError(f"{where} needs a conv stem before it")
                a = last
                conv1 = Term(a, "conv", shape, spec.out, 3, spec.stride, 1)
                b, mid = add_pop([conv1], spec.threshold, spk=True)
                conv2 = Term(b, "conv", mid, spec.out, 3, 1, 1)
                if spec.stride == 1 and spec.out == shape[0]:
                    last, shape = add_pop([conv2], None, inherits=a, spk=True)
                else:
                    proj = Term(a, "conv", shape, spec.out, 1, spec.stride, 0)
                    last, shape = add_pop([conv2, proj], None, spk=True)
            elif spec.type in TRANSFORMER_BLOCKS:
                if last == 0 or len(shape) != 3:
                    raise LoihiSnnError(f"{where} needs a conv stem before it")
                problem = head_problem("qkta" if spec.type in QKTV_BLOCKS else spec.type,
                                       shape[0], spec.heads)
                if problem:
                    raise LoihiSnnError(f"{where}: {problem}")
                if spec.type in ATTENTIONS:
                    last, shape = add_ff_block(add_pop, spec, last, shape)
                elif spec.type == "ssa":
                    last, shape = add_qktv_block(add_pop, spec, last, shape)
                elif i == 0 or layers[i - 1].type != "fblidiff":  # a stage: the run of them
                    stage = list(itertools.takewhile(lambda s: s.type == "fblidiff", layers[i:]))
                    last, shape = add_fb_stage(add_pop, stage, last, shape)
            elif spec.type == "avgpool":
                k = spec.kernel or shape[1]
                if spec.kernel == 0 and shape[1] != shape[2]:
                    raise LoihiSnnError(f"{where}: global pooling needs a square map, got {shape}")
                last, shape = add_pop(
                    [Term(last, "pool", shape, kernel=k, stride=k)], spec.threshold
                )
            elif spec.type == "dense":
                last, shape = add_pop(
                    [Term(last, "dense", shape, spec.out)], spec.threshold,
                    drop=i < len(layers) - 1,  # the classes are never dropped
                )
            elif spec.type == "alif_mask":
                if last == 0 or len(shape) != 3:
                    raise LoihiSnnError(f"{where} needs a (C, H, W) population before it")
                gated = self.pops[-1]  # becomes the mask; new LIF neurons read its output
                gated.mask = True
                neurons[-1] = AlifMask(
                    *shape, reduction=spec.reduction, lif=spec.lif, minmax=spec.minmax,
                    mode=spec.mode,
                )
                last, shape = add_pop([Term(gated.index, "identity", shape)], gated.threshold)
            elif spec.type != "flatten":
                raise LoihiSnnError(f"{where}: not a layer of a residual network")
            if min(shape) < 1:
                raise LoihiSnnError(f"{where}: output would be empty ({shape})")
        if self.voltage_readout:
            neurons[-1] = self._readout_layer()
        self.neurons = torch.nn.ModuleList(neurons)
        self.num_classes = shape[0]
        self.time_steps = 1
        self._twin = None  # eval mode: the FastRunner of the integer twin

    # -- training forward (SLAYER) and eval forward (integer twin) ------------------------------

    def train(self, mode: bool = True) -> GraphNet:
        self._twin = None
        return super().train(mode)

    def _currents(self, spec: PopulationSpec, signals: dict, currents: dict) -> torch.Tensor:
        z = currents[spec.inherits] if spec.inherits else 0
        for t in spec.terms:
            term = self.terms[t]
            z = z + term(signals[term.source])
        return z

    def _readout_layer(self) -> torch.nn.Module:
        """The non-spiking output layer of a voltage readout (it has no neurons to train: its
        voltage sums its input current over the sample), refusing an output that is not a plain
        population reading spikes (the voltage bound of :meth:`_scales` counts spikes)."""
        spec = self.pops[-1]
        graded = [
            self.terms[t].source for t in spec.terms
            if self.terms[t].source == 0 or self.pops[self.terms[t].source - 1].mask
        ]
        dense = all(self.terms[t].kind == "dense" for t in spec.terms)
        if spec.mask or spec.qktv or spec.inherits or graded or not dense:
            raise LoihiSnnError(
                "a voltage readout needs a dense output layer that reads spiking neurons: put a "
                "dense layer of spiking neurons before it"
            )
        return torch.nn.Identity()

    def _float_layers(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Spikes of every population (N, C, H, W, T) or (N, C, T) in file order, and the last
        population's input current z (N, classes, T) in float units of its threshold."""
        signals, currents, out = {0: x}, {}, []
        for spec, neuron in zip(self.pops, self.neurons, strict=True):
            if spec.qktv:  # reads its Q, K and V spikes apart: Attn = Q (K^T V)
                q, k, v = (signals[self.terms[t].source] for t in spec.terms)
                signals[spec.index] = neuron(q, k, v)
                out.append((signals[spec.index] > 0).float())
                continue
            z = self._currents(spec, signals, currents)
            currents[spec.index] = z
            if isinstance(neuron, torch.nn.Identity):  # the voltage readout: never spikes
                out.append(torch.zeros_like(z))
                continue
            signals[spec.index] = neuron(z)  # a mask's: the gated stream Y; an SPK block's: Y
            if isinstance(neuron, SpkBlock):
                out.extend(neuron.branch_spikes)
            else:
                out.append(neuron.last_spikes if spec.mask else signals[spec.index])
        return out, currents[self.pops[-1].index]

    def masks(self) -> list[AlifMask]:
        return [m for m in self.neurons if isinstance(m, AlifMask)]

    def start_epoch(self) -> None:
        """The paper resets the masks' adaptation state at every epoch boundary."""
        for mask in self.masks():
            mask.reset_state()

    def _twin_traces(self, x: torch.Tensor) -> dict:
        """The integer twin's traces of ``x`` (:meth:`FastRunner.run_file_order`), with the
        output's voltage for a voltage readout."""
        from ..backends.fast import FastRunner

        if self._twin is None:  # built once per eval phase (train() drops it)
            self._twin = FastRunner(self.to_graph(x.shape[-1]))
        x_int = x.detach().cpu().numpy().astype(np.int64)
        record = {self._twin.graph.populations[-1]} if self.voltage_readout else set()
        return self._twin.run_file_order(x_int, x_int.shape[-1], record)

    def layer_spikes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spikes of every population, each (N, neurons in C, H, W order, T), in file order."""
        if self.training:
            return [s.reshape(s.shape[0], -1, s.shape[-1]) for s in self._float_layers(x)[0]]
        traces = self._twin_traces(x)
        return [
            torch.from_numpy(traces[i][0]).transpose(1, 2).contiguous()
            for i in self._twin.graph.populations
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self._float_layers(x)[0][-1]
        return self.layer_spikes(x)[-1]

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, classes): output spike counts, or with a voltage readout the output
        voltage at the last step (training: the input current summed over the T steps, in float
        units of a threshold; eval: the integer twin's voltage mantissa, Lava's v >> 6)."""
        if self.training:
            spikes, z = self._float_layers(x)
            return z.sum(-1) if self.voltage_readout else spikes[-1].sum(-1)
        if not self.voltage_readout:
            return self.forward(x).sum(-1)
        v = self._twin_traces(x)[self._twin.graph.populations[-1]][2]
        return torch.from_numpy(v[:, -1]).double()

    def check_ready(self) -> None:
        """Run one silent sample through the float path so that lazily sized neurons know their
        shape; every buffer (BN statistics, the masks' state) is kept as it was."""
        kept = {k: b.clone() for k, b in self.named_buffers()}
        mode = self.training
        with torch.no_grad():
            self.train()._float_layers(torch.zeros((1, *self.input_shape, 1)))
        self.train(mode)
        for key, value in self.named_buffers():
            value.copy_(kept[key])

    # -- integer twin and export ----------------------------------------------------------------

    def _all_terms(self, spec: PopulationSpec) -> list[int]:
        inherited = self._all_terms(self.pops[spec.inherits - 1]) if spec.inherits else []
        return inherited + spec.terms

    def _scales(self, parts: dict[int, list], time_steps: int) -> dict[int, float]:
        """Integer units per float unit of every population's and mask's input current, from
        the folded ``parts`` (:meth:`Term.effective` of all its terms) by population index: the
        largest that fits its weights (8 bit), bias (13 bit) and threshold (17 bit), then shared
        by each mask and the populations reading its output (module doc). A voltage readout
        has no threshold: its scale keeps the voltage (the sum of ``time_steps`` inputs, each at
        most its weights' absolute row sum) inside the 24-bit clip, 2^17 threshold units."""
        scales, readers = {}, {}
        for spec in self.pops:
            if spec.index == len(self.pops) and self.voltage_readout:
                w = np.hstack([np.abs(w) for w, _, _ in parts[spec.index]])
                rounding = time_steps * (w.shape[1] + 1) / 2  # each weight rounds by <= 1/2
                reach = time_steps * float(w.sum(1).max())
                limits = [(VTH_MAX - rounding) / reach if reach else math.inf]
            else:
                limits = [math.inf if spec.mask else VTH_MAX / spec.top_threshold]
            block = self.neurons[spec.index - 1]
            if isinstance(block, SpkBlock) and block.kind == "rl":
                limits.append(WEIGHT_MAX)  # RL's second LIF reads S1 through weight = scale
            for _, _, p in parts[spec.index]:
                if p.kind == "identity" and not spec.qktv:  # qktv reads spikes as bits
                    readers.setdefault(p.source, []).append(spec.index)
            real = [part for part in parts[spec.index] if part[2].kind != "identity"]
            w_max = max((float(np.abs(w).max()) for w, _, _ in real), default=0.0)
            b_max = float(np.abs(np.sum([b for _, b, _ in real], 0)).max()) if real else 0.0
            limits += [WEIGHT_MAX / w_max if w_max else math.inf]
            limits += [BIAS_MAX / b_max if b_max else math.inf]
            scales[spec.index] = min(limits)
        for source, group in readers.items():
            shared = min(scales[i] for i in [source, *group])
            for i in [source, *group]:
                scales[i] = shared
        return scales

    def to_graph(self, time_steps: int) -> Graph:
        """The quantised graph (BN folded, one 8-bit scale per population, see module doc). An
        SPK block exports as one LIF population per branch (:mod:`loihi_snn.mechanisms.spk.block`),
        so a population's file index is not its model index: ``files`` maps one to the other,
        and a projection from an SPK block is copied once per branch it reads."""
        layers = [Layer("input", self.input_shape)]
        files: dict[int, list[int]] = {0: [0]}  # model index -> file indices of its output
        folded = {
            spec.index: [self.terms[t].effective() for t in self._all_terms(spec)]
            for spec in self.pops
        }
        scales = self._scales(folded, time_steps)
        for spec, neuron in zip(self.pops, self.neurons, strict=True):
            scale = scales[spec.index]
            parts = folded[spec.index]
            bias = np.sum([b for _, b, _ in parts], axis=0)
            projections = []
            for w, _, p in parts:
                p.weight = w if p.kind == "identity" else np.round(w * scale)
                projections += [dataclasses.replace(p, source=f) for f in files[p.source]]
            per_neuron = math.prod(spec.shape) // bias.size
            b_int = np.repeat(np.round(bias * scale).astype(np.int64), per_neuron)
            files[spec.index] = [len(layers)]
            if spec.qktv:
                record = QktvParams(spec.qktv)
                layers.append(Layer("qktv", spec.shape, None, None, projections, [], record))
                continue
            if spec.mask:
                record = MaskLayer(neuron.integer_params(scale), neuron.deploy_mode)
                layers.append(Layer("alif_mask", spec.shape, None, b_int, projections, [], record))
                continue
            if isinstance(neuron, torch.nn.Identity):  # voltage readout: u = input, v sums u
                device = Neuron(DECAY_UNIT, 0, NON_SPIKING_VTH)
                layers.append(Layer("population", spec.shape, device, b_int, projections))
                continue
            params = neuron.device_params
            decays = int(params["iDecay"]), int(params["vDecay"])
            if not isinstance(neuron, SpkBlock):
                device = Neuron(*decays, max(1, round(spec.threshold * scale)))
                layers.append(Layer("population", spec.shape, device, b_int, projections))
                continue
            files[spec.index] = list(range(len(layers), len(layers) + len(spec.branches)))
            for k, theta in enumerate(spec.branches):
                device = Neuron(*decays, max(1, round(theta * scale)))
                if neuron.kind == "rl" and k == 1:  # LIF_th2(S1): S1 as one float unit
                    relay = Projection(files[spec.index][0], "identity", np.array([round(scale)]))
                    layers.append(Layer("population", spec.shape, device, None, [relay]))
                else:
                    layers.append(Layer("population", spec.shape, device, b_int,
                                        [dataclasses.replace(p) for p in projections]))
        return validate(Graph(layers, time_steps), "model")

    def export_hdf5(self, path: str | Path, meta: dict) -> Path:
        """Write the integer twin as a graph file (format 2, atomic)."""
        self.check_ready()
        return write_graph(self.to_graph(int(meta.get("time_steps", 1))), path, meta)
