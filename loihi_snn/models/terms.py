"""The projections of the graph models (:mod:`loihi_snn.models.resnet`): one ``Term`` per
synapse group, trained in float and exported as one graph projection with BN folded."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from lava.lib.dl import slayer

from ..errors import LoihiSnnError
from ..ir.graph import Projection

KINDS = ("conv", "dense", "pool", "identity", "fixed")


class Term(torch.nn.Module):
    """One projection of the model from layer ``source`` (0 = input, else a population's model
    index). Input (N, C, H, W, T) or (N, F, T). Kinds:

    * ``conv``: conv + BN (``prompt``: each input channel c first scaled by
      clamp(p1_c, 0, 1) - clamp(p2_c, 0, 1), SpiLiFormer's feedback prompts, Eqs. 12-15 reading
      (a); folded into the weights at export);
    * ``dense``; ``pool`` (average pooling); ``identity`` (the source as it is, times the
      constant ``weight``: 1 by default, any integer for a layer that packs inputs as bits);
    * ``fixed``: a 1x1 conv with constant weights ``weight`` (out, in, 1, 1), never trained.
    """

    def __init__(
        self,
        source: int,
        kind: str,
        in_shape: tuple[int, ...],
        out: int = 0,
        kernel: int = 1,
        stride: int = 1,
        padding: int = 0,
        weight: np.ndarray | float | None = None,
        prompt: bool = False,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise LoihiSnnError(f"unknown projection kind {kind}")
        self.source, self.kind, self.in_shape = source, kind, tuple(in_shape)
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.scalar = 1.0 if weight is None or kind != "identity" else float(weight)
        self.prompts = None
        if kind == "fixed":
            self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float32))
        elif kind == "conv":
            self.synapse = slayer.synapse.Conv(in_shape[0], out, kernel, stride, padding)
            self.norm = torch.nn.BatchNorm3d(out)
            if prompt:  # p1 starts open (1), p2 closed (0): the feedback starts unchanged
                self.prompts = torch.nn.Parameter(
                    torch.stack([torch.ones(in_shape[0]), torch.zeros(in_shape[0])])
                )
        elif kind == "dense":
            self.synapse = slayer.synapse.Dense(math.prod(in_shape), out)

    def reading(self, source: int) -> Term:
        """The same synapses (shared parameters and BN) reading another source of the same
        shape: SpiLiFormer's second pass reuses each block's weights."""
        twin = copy.copy(self)  # shares the module's parameters, buffers and submodules
        twin.source = source
        return twin

    def out_shape(self) -> tuple[int, ...]:
        if self.kind == "identity":
            return self.in_shape
        if self.kind == "fixed":
            return (self.weight.shape[0], *self.in_shape[1:])
        if self.kind == "dense":
            return (self.synapse.out_channels,)
        channels = self.synapse.out_channels if self.kind == "conv" else self.in_shape[0]
        size = [(s + 2 * self.padding - self.kernel) // self.stride + 1 for s in self.in_shape[1:]]
        return (channels, *size)

    def _gains(self) -> torch.Tensor:
        """The prompts' per-input-channel gains clamp(p1) - clamp(p2), in [-1, 1]."""
        clamped = self.prompts.clamp(0, 1)
        return clamped[0] - clamped[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "identity":
            return x * self.scalar if self.scalar != 1.0 else x
        if self.kind == "fixed":
            return torch.einsum("oc,nchwt->nohwt", self.weight[:, :, 0, 0], x)
        if self.kind == "conv":
            if self.prompts is not None:
                x = x * self._gains().reshape(1, -1, 1, 1, 1)
            return self.norm(self.synapse(x))
        if self.kind == "dense":
            return self.synapse(x.reshape(x.shape[0], -1, x.shape[-1]))
        k, s = (self.kernel, self.kernel, 1), (self.stride, self.stride, 1)
        return F.avg_pool3d(x, k, s)

    def effective(self) -> tuple[np.ndarray, np.ndarray, Projection]:
        """Real weight (BN and prompts folded with running statistics), real bias per output
        channel and the projection it exports as (weight to be replaced by its integer
        version)."""
        if self.kind == "identity":  # a constant: the source shares the reader's scale
            w = np.array([self.scalar])
            return w, np.zeros(self.in_shape[0]), Projection(self.source, "identity", w)
        if self.kind == "pool":
            w = np.array([1.0 / self.kernel**2])
            p = Projection(self.source, "pool", w, (self.stride,) * 2, kernel=(self.kernel,) * 2)
            return w, np.zeros(self.in_shape[0]), p
        if self.kind == "fixed":
            w = self.weight.double().numpy()
            return w, np.zeros(w.shape[0]), Projection(self.source, "conv", w, (1, 1), (0, 0))
        w = self.synapse.weight.detach().double()
        w = w.reshape(w.shape[:4]) if self.kind == "conv" else w.reshape(w.shape[0], -1)
        bias = torch.zeros(w.shape[0], dtype=torch.float64)
        if self.kind == "conv":
            if self.prompts is not None:
                w = w * self._gains().detach().double().reshape(1, -1, 1, 1)
            bn = self.norm
            scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
            w = w * scale.reshape(-1, 1, 1, 1)
            bias = bn.bias.detach().double() - bn.running_mean.double() * scale
            p = Projection(self.source, "conv", w.numpy(), (self.stride,) * 2, (self.padding,) * 2)
        else:
            p = Projection(self.source, "dense", w.numpy())
        return w.numpy(), bias.numpy(), p
