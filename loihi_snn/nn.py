"""Torch helpers shared by several mechanisms' blocks."""

from __future__ import annotations

import math

import torch


class ArcTanSpike(torch.autograd.Function):
    """Heaviside ``x >= 0`` forward, arctan surrogate backward (SpikingJelly's ATan):

        ds/dx = (alpha / 2) / (1 + (pi / 2 alpha x)^2)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        alpha = ctx.alpha
        return grad * (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2), None
