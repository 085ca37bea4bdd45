"""Torch helpers shared by several mechanisms' blocks."""

from __future__ import annotations

import math

import torch
from lava.lib.dl import slayer
from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator
from lava.lib.dl.slayer.utils import quantize


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


class _OnGrid(torch.autograd.Function):
    """``trunc(x * scale) / scale`` forward (lava-dl's integer state on its 1/scale grid), the
    identity backward: what lava-dl's leaky integrator computes for a decay of 1 (4096/4096)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: int) -> torch.Tensor:
        return torch.trunc(x * scale) / scale

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class CubaNeuron(slayer.neuron.cuba.Neuron):
    """lava-dl's CUBA neuron; a state with decay 1 (no memory: y[t] = x[t]) is computed for
    all T steps at once instead of lava-dl's loop over the steps.

    With decay 4096/4096 lava-dl's integrator keeps ``trunc(x[t] * s_scale) / s_scale``,
    whatever the state and the reset, and passes the gradient through unchanged; so does this
    neuron, bit for bit (tests/test_nn.py). The residual and attention models' LIFs have no
    current memory (current decay 1), their coincidence neurons no voltage memory either.
    Learnable decays, persistent states and normalisation take lava-dl's own path."""

    def _keeps_nothing(self, decay: torch.Tensor) -> bool:
        return bool((quantize(decay) == self.p_scale).all())

    def dynamics(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if (
            self.requires_grad or self.persistent_state or self.norm is not None
            or not self._keeps_nothing(self.current_decay)
            or (self.shape is not None and input.shape[1:-1] != self.shape)  # lava-dl's error
        ):
            return super().dynamics(input)
        if self.shape is None:
            self.shape = input.shape[1:-1]
            self.num_neurons = math.prod(self.shape)
        current = _OnGrid.apply(input, self.s_scale)
        if self._keeps_nothing(self.voltage_decay):  # the current is on the grid: v is its copy
            return current, _OnGrid.apply(current, self.s_scale)
        voltage = leaky_integrator.dynamics(
            current,
            quantize(self.voltage_decay),
            torch.zeros(current.shape[:-1], dtype=current.dtype, device=current.device),
            self.s_scale,
            self.threshold + self.threshold_eps,
        )
        return current, voltage
