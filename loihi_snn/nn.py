"""Torch parts shared by the toolkit's models: the CUBA neuron every model builds
(:class:`CubaNeuron`, lava-dl's with faster CPU dynamics) and a surrogate spike function."""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from lava.lib.dl import slayer
from lava.lib.dl.slayer.utils import quantize

from .loihi.fixed_point import DECAY_SHIFT, rshift0


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


@numba.njit(parallel=True, cache=True)
def _leak(
    x: np.ndarray, keep: int, threshold: np.float32, scale: np.float32, out: np.ndarray
) -> None:
    """lava-dl's integer leaky integrator (``_li_dynamics_fwd``) from a zero state, one neuron
    per row of ``x`` and ``out`` (neurons, T), float32 in units of the threshold:

        y[t] = rshift0(y[t-1] * keep, 12) + trunc(scale * x[t])      int64, keep = 4096 - decay
        out[t] = y[t] / scale;   y[t] = 0 where y[t] >= threshold     (float32, as torch compares)

    ``threshold <= 0``: no reset. ``scale`` is lava-dl's state scale (64)."""
    for i in numba.prange(x.shape[0]):
        y = np.int64(0)
        for t in range(x.shape[1]):
            y = rshift0(y * keep, DECAY_SHIFT) + np.int64(scale * x[i, t])
            out[i, t] = np.float32(y) / scale
            if threshold > 0 and np.float32(y) >= threshold:
                y = 0


@numba.njit(parallel=True, cache=True)
def _leak_grad(grad: np.ndarray, keep: np.float32, out: np.ndarray) -> None:
    """lava-dl's backward of the integrator (``_li_dynamics_bwd``), per row (neurons, T):
    out[T-1] = grad[T-1], out[t] = keep * out[t+1] + grad[t] in float32, keep = 1 - decay/4096
    (a multiply, then an add: no fused multiply-add, so the sums round as torch's do)."""
    if grad.shape[1] == 0:
        return
    for i in numba.prange(grad.shape[0]):
        g = grad[i, grad.shape[1] - 1]
        out[i, grad.shape[1] - 1] = g
        for t in range(grad.shape[1] - 2, -1, -1):
            g = keep * g + grad[i, t]
            out[i, t] = g


def _rows(t: torch.Tensor) -> np.ndarray:
    """A contiguous (N, ..., T) tensor as a (neurons, T) numpy view of the same memory."""
    return t.view(-1, t.shape[-1]).numpy()


class _LeakyIntegrator(torch.autograd.Function):
    """lava-dl's ``_LIDynamics`` for a zero initial state and one shared decay on the CPU: the
    forward and the backward each in one compiled pass over every neuron's steps (:func:`_leak`,
    :func:`_leak_grad`) instead of torch loops over the steps. Input (N, ..., T) float32."""

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, decay: torch.Tensor, threshold: float, scale: int
    ) -> torch.Tensor:
        x = x.detach().contiguous()
        out = torch.empty_like(x)
        numba.set_num_threads(min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
        _leak(
            _rows(x), (1 << DECAY_SHIFT) - int(decay.item()), np.float32(threshold * scale),
            np.float32(scale), _rows(out),
        )
        ctx.save_for_backward(out, decay)
        return out

    @staticmethod
    def backward(
        ctx, grad: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, None, None]:
        out, decay = ctx.saved_tensors
        grad = grad.contiguous()
        grad_input = torch.empty_like(grad)
        keep = 1 - decay / (1 << DECAY_SHIFT)  # lava-dl's float32 factor
        _leak_grad(_rows(grad), np.float32(keep.item()), _rows(grad_input))
        grad_decay = None
        if ctx.needs_input_grad[1]:  # lava-dl's expression for one shared decay
            grad_decay = (grad_input[..., 1:] * out[..., :-1]).flatten().sum(0, keepdim=True)
        return grad_input, grad_decay, None, None


def neuron_dropout(p: float) -> slayer.neuron.Dropout | None:
    """lava-dl's neuron dropout for a population (``dropout=`` of its neuron): in training a
    share p of the neurons is silent for all T steps of a sample and the others' spikes are
    scaled by 1/(1 - p); in eval mode it passes spikes through. None for p = 0."""
    return slayer.neuron.Dropout(p=p) if p > 0 else None


class CubaNeuron(slayer.neuron.cuba.Neuron):
    """lava-dl's CUBA neuron, its integer dynamics computed faster on the CPU, bit for bit
    (values and gradients: tests/test_nn.py).

    lava-dl loops over the T steps in torch, about ten int64 tensor operations per step and
    state; here a state with decay 1 (no memory: y[t] = trunc(x[t] * s_scale) / s_scale, the
    gradient passed through) is computed for all steps at once, any other in one compiled pass
    per neuron (:class:`_LeakyIntegrator`). Persistent states, per-neuron decays, normalisation,
    other devices and dtypes take lava-dl's own path."""

    def dynamics(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if (
            self.persistent_state or self.norm is not None or not self.shared_param
            or input.device.type != "cpu" or input.dtype != torch.float32 or input.dim() < 3
            or (self.shape is not None and input.shape[1:-1] != self.shape)  # lava-dl's error
        ):
            return super().dynamics(input)
        if self.shape is None:
            self.shape = input.shape[1:-1]
            self.num_neurons = math.prod(self.shape)
        if self.requires_grad:
            self.clamp()
        current = self._integrate(input, self.current_decay, None)
        voltage = self._integrate(current, self.voltage_decay, self.threshold + self.threshold_eps)
        return current, voltage

    def _integrate(
        self, x: torch.Tensor, decay: torch.Tensor, threshold: float | None
    ) -> torch.Tensor:
        decay = quantize(decay)
        if not decay.requires_grad and bool((decay == self.p_scale).all()):  # keeps nothing
            return _OnGrid.apply(x, self.s_scale)
        no_reset = -1.0  # lava-dl's value for a state without threshold
        return _LeakyIntegrator.apply(
            x, decay, no_reset if threshold is None else threshold, self.s_scale
        )
