"""Sequential spiking networks built from lava-dl SLAYER CUBA blocks, and their NetX export.

Fixed point (what the blocks compute in every forward pass, train or eval):
weights are 8-bit integers w_int in [-256, 254] (even) applied as w_int/64; decays are 12-bit
(round(decay*4096)); current and voltage are integer states x4096 updated with round-toward-zero
shifts; a neuron spikes when v > threshold*64*64 and then v resets to 0. This is Lava's fixed_pt LIF
provided integer inputs, thresholds that are multiples of 1/64, and states that
stay inside 24 bits.

Voltage readout (``train.readout = "voltage"``): the last dense layer is a lava-dl ``Affine``
block without neuron dynamics; its file entry has no neuron group, so netx gives it its silent
fallback neuron (iDecay 0, vDecay 4096, vThMant 2^17: u sums the input, v = u, clipped at 24
bits) and the class scores are that voltage at the last step. Training reads the summed input
current (float units of a threshold); eval mode runs those Lava rules on the integer input.

Timing: every block is built with ``delay_shift=False``, so layer k at step t sees layer k-1 at the
same step t. Lava's per-hop synaptic delay is absorbed by resetting layer k at offset k (the loader
pipelines samples), so each layer of the exported file sees exactly the T steps the model saw.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch
from lava.lib.dl import slayer

from ..errors import LoihiSnnError
from ..fileio import atomic_path
from ..ir.graph import Graph
from ..ir.hdf5 import NETX_FALLBACK, read_network
from ..loihi.fixed_point import lif_run
from ..nn import CubaNeuron, neuron_dropout
from ..recipe import LayerSpec, NeuronSpec

FORMAT_VERSION = 1


def neuron_params(spec: NeuronSpec, threshold: float | None = None) -> dict:
    """SLAYER CUBA neuron parameters (fresh dict: some slayer blocks mutate theirs)."""
    return {
        "threshold": spec.threshold if threshold is None else threshold,
        "current_decay": spec.current_decay,
        "voltage_decay": spec.voltage_decay,
        "tau_grad": spec.tau_grad,
        "scale_grad": spec.scale_grad,
        "requires_grad": False,
    }


def _with_cuba_neuron(
    block: torch.nn.Module, params: dict, dropout: float
) -> torch.nn.Module:
    """The lava-dl block with :class:`CubaNeuron` in place of its neuron: the same parameters and
    integer rules, computed faster on the CPU, and ``dropout`` (training only). Built after the
    block, so the weights' random initialisation is the same as lava-dl's."""
    block.neuron = CubaNeuron(**params, dropout=neuron_dropout(dropout))
    block.synapse.pre_hook_fx = block.neuron.quantize_8bit
    return block


def _conv_out(size: int, layer: LayerSpec) -> int:
    return (size + 2 * layer.padding - layer.kernel) // layer.stride + 1


class SpikingNet(torch.nn.Module):
    """A chain of SLAYER blocks. Input: integer-valued tensor (N, C, H, W, T); output: spikes
    (N, classes, T) of the last dense layer, or with a voltage readout its input current
    (float units of a threshold)."""

    def __init__(
        self,
        layers: list[LayerSpec],
        neuron: NeuronSpec,
        input_shape: tuple[int, int, int],
        readout: str = "spikes",
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.voltage_readout = readout == "voltage"
        blocks: list[torch.nn.Module] = []
        shape: tuple[int, ...] = self.input_shape
        for i, layer in enumerate(layers):
            params = neuron_params(neuron, layer.threshold)
            if layer.type == "conv":
                if len(shape) != 3:
                    raise LoihiSnnError(f"layer #{i}: conv needs a (C, H, W) input, got {shape}")
                conv = slayer.block.cuba.Conv(
                    dict(params),
                    shape[0],
                    layer.out,
                    layer.kernel,
                    stride=layer.stride,
                    padding=layer.padding,
                    weight_scale=layer.weight_scale,
                    delay_shift=False,
                )
                blocks.append(_with_cuba_neuron(conv, params, neuron.dropout))
                shape = (layer.out, _conv_out(shape[1], layer), _conv_out(shape[2], layer))
                if min(shape[1:]) < 1:
                    raise LoihiSnnError(f"layer #{i}: conv output would be empty ({shape})")
            elif layer.type == "flatten":
                blocks.append(slayer.block.cuba.Flatten())
                shape = (math.prod(shape),)
            else:
                if len(shape) != 1:
                    raise LoihiSnnError(
                        f"layer #{i}: dense needs a flat input; add a flatten layer"
                    )
                if self.voltage_readout and i == len(layers) - 1:
                    block = slayer.block.cuba.Affine(
                        params, shape[0], layer.out, layer.weight_scale, dynamics=False
                    )
                else:
                    block = _with_cuba_neuron(
                        slayer.block.cuba.Dense(
                            dict(params), shape[0], layer.out, layer.weight_scale,
                            delay_shift=False,
                        ),
                        params,
                        neuron.dropout if i < len(layers) - 1 else 0.0,  # classes: never
                    )
                blocks.append(block)
                shape = (layer.out,)
        if self.voltage_readout and not isinstance(blocks[-1], slayer.block.cuba.Affine):
            raise LoihiSnnError("a voltage readout needs a dense output layer")
        self.blocks = torch.nn.ModuleList(blocks)
        self.num_classes = shape[0]

    @property
    def spiking_blocks(self) -> list[torch.nn.Module]:
        """The blocks with neurons (dense and conv), in order: the layers that verify compares."""
        return [b for b in self.blocks if not isinstance(b, slayer.block.cuba.Flatten)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def layer_spikes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spikes of every spiking block, each flattened to (N, neurons, T) in C, H, W order (a
        voltage readout's: zeros, it never spikes)."""
        out = []
        for block in self.blocks:
            x = block(x)
            if not isinstance(block, slayer.block.cuba.Flatten):
                out.append(x.reshape(x.shape[0], -1, x.shape[-1]))
        if self.voltage_readout:
            out[-1] = torch.zeros_like(out[-1])
        return out

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, classes): output spike counts, or with a voltage readout the output
        voltage at the last step (training: the input current summed over the T steps; eval:
        Lava's v of netx's fallback neuron, run on the integer input w_int . s)."""
        out = self(x)
        if not self.voltage_readout or self.training:
            return out.sum(-1)
        a = torch.round(out.detach().cpu() * 64).to(torch.int64)  # w_int . s, (N, classes, T)
        a = a.transpose(1, 2).contiguous().numpy()
        batch, steps, neurons = a.shape
        spikes = np.empty(a.shape, np.int8)
        u, v = np.empty(a.shape, np.int64), np.empty(a.shape, np.int64)
        n = NETX_FALLBACK
        bias = np.zeros((batch, neurons), np.int64)
        lif_run(a, 3, 0, n.cu, n.cv, bias, n.vth, spikes, u, v, True)
        return torch.from_numpy(v[:, -1]).double()

    def check_ready(self) -> None:
        """Run one silent sample so that lazily sized neurons know their shape."""
        if any(b.shape is None for b in self.blocks):
            with torch.no_grad():
                self(torch.zeros((1, *self.input_shape, 1)))

    def to_graph(self, time_steps: int) -> Graph:
        """The network as the toolkit's IR (what the fast backend runs): the file
        :meth:`export_hdf5` writes, read back."""
        with tempfile.TemporaryDirectory() as tmp:
            path = self.export_hdf5(Path(tmp) / "net.net", {"time_steps": time_steps})
            return read_network(path)

    def export_hdf5(self, path: str | Path, meta: dict) -> Path:
        """Write the network as NetX HDF5 (atomic). ``meta`` is stored as JSON in the root attribute
        ``loihi_snn`` next to ``loihi_snn_format``; netx ignores both."""
        self.check_ready()
        path = Path(path)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["loihi_snn_format"] = FORMAT_VERSION
            f.attrs["loihi_snn"] = json.dumps(meta)
            sim = f.create_group("simulation")
            sim.create_dataset("Ts", data=1)
            sim.create_dataset("tSample", data=int(meta.get("time_steps", 1)))
            layer = f.create_group("layer")
            inp = layer.create_group("0")
            inp.create_dataset("type", (1,), "S10", [b"input"])
            inp.create_dataset("shape", data=np.array(self.input_shape))
            for i, block in enumerate(self.blocks, start=1):
                block.export_hdf5(layer.create_group(str(i)))
        return path
