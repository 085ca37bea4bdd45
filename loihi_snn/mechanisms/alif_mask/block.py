"""BIASNN's ALIF attention mask as a trainable torch block (the BIASNN paper, Sci. Rep. 2025); its
eval forward is the integer twin of :mod:`loihi_snn.mechanisms.alif_mask.rules`.

Training forward, input X (N, C, H, W, T) float, per step t:

    Z = DS2(DS1([mean_c X, max_c X]))            fake-quantised weights (8-bit, 2^-e), no biases
    I = 1 - (Z - m_c) / (M_c - m_c + eps)        min-max over (h, w) per (n, c, t), or frozen
                                                 running statistics (``minmax="frozen"``)
    u = lam u + I;  s = ATan(u - theta);  u = u (1 - s)         reset path detached
    a = rho a + (1 - rho) mean_n(s)              (Eq. 12, batch mean, no gradient; not for LIF)
    theta = theta0 + gamma a
    Y = X (1 - s)                                STE (Eq. 16): dY/dX = 1, dY/dmask = X

with lam, rho, gamma, theta0 the Q12-quantised values the twin uses (q / 4096). ``a`` persists
across forward calls (the paper resets it at every epoch end, :meth:`AlifMask.reset_state`).
Surrogate: arctan, alpha = 2 (:class:`loihi_snn.nn.ArcTanSpike`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import LoihiSnnError
from ...nn import ArcTanSpike
from .rules import E_MAX, K1, K2, NORMS, ONE, W_MAX, MaskParams, mode_index, run_twin


class STEGate(torch.autograd.Function):
    """Y = X * mask forward; backward dY/dX = 1 (all of X gets gradient), dY/dmask = X."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (x,) = ctx.saved_tensors
        return grad, grad * x


def quantize_weight(w: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Per-tensor power-of-two quantisation: (mantissas in [-127, 127] as w's dtype, exponent e
    in [0, 24]) with w ~ mantissa * 2^-e; e is the largest that keeps max |w| 2^e <= 127."""
    peak = float(w.detach().abs().max())
    e = 0 if peak == 0 else min(max(math.floor(math.log2(W_MAX / peak)), 0), E_MAX)
    return torch.clamp(torch.round(w.detach() * 2.0**e), -W_MAX, W_MAX), e


def _fake_quant(w: torch.Tensor) -> torch.Tensor:
    """w replaced by its quantised value in the forward, identity gradient (STE)."""
    q, e = quantize_weight(w)
    return q / 2.0**e + (w - w.detach())


class AlifMask(torch.nn.Module):
    """BIASNN's attention mask as a block (module doc). Input X (N, C, H, W, T): float in
    training, integer-valued in eval; output Y of the same shape. The ALIF spikes (1 = value
    eliminated) of the last forward are kept in ``last_spikes`` (N, C, H, W, T).

    Training: float forward (fake-quantised weights, Q12-quantised parameters), arctan surrogate,
    batch-mean adaptation of ``a`` persisting across calls (paper). Eval: the integer twin
    (:func:`run_twin`) in threshold-state mode ``mode``, starting from the trained ``a``.
    ``lif=True`` is the LASNN ablation: a fixed threshold theta0. ``minmax="frozen"`` is the
    neurocore-only variant: training keeps running per-channel minima and maxima of
    Z (momentum ``momentum``, updated before use) and normalises with them, so that deployment
    normalises with fixed statistics (an affine map that folds into DS2) instead of a spatial
    min-max per step.
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        *,
        reduction: int = 16,
        lif: bool = False,
        lambda_a: float = 0.25,
        tau: float = 2.0,
        gamma: float = 1.0,
        theta0: float = 1.0,
        alpha: float = 2.0,
        eps: float = 1e-6,
        mode: str = "reset",
        minmax: str = "dynamic",
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        mode_index(mode)
        if minmax not in NORMS:
            raise LoihiSnnError(f"ALIF mask: minmax must be one of {', '.join(NORMS)}")
        self.minmax, self.momentum = minmax, momentum
        self.shape = (channels, height, width)
        hidden = max(1, channels // reduction)
        self.lif, self.alpha, self.eps, self.mode = lif, alpha, eps, mode
        self.lam_q = round(ONE * lambda_a)
        self.rho_q = round(ONE * math.exp(-1.0 / tau))
        self.gamma_q = 0 if lif else round(ONE * gamma)
        self.theta0_q = round(ONE * theta0)

        def uniform(*shape: int, fan_in: int) -> torch.nn.Parameter:
            bound = 1 / math.sqrt(fan_in)
            return torch.nn.Parameter(torch.empty(shape).uniform_(-bound, bound))

        self.dw1 = uniform(2, K1, K1, fan_in=K1 * K1)
        self.pw1 = uniform(hidden, 2, fan_in=2)
        self.dw2 = uniform(hidden, K2, K2, fan_in=K2 * K2)
        self.pw2 = uniform(channels, hidden, fan_in=hidden)
        self.register_buffer("a", torch.zeros(self.shape))
        self.register_buffer("norm_lo", torch.zeros(channels))  # running statistics of Z,
        self.register_buffer("norm_hi", torch.ones(channels))  # units of X (minmax frozen)
        self.last_spikes: torch.Tensor | None = None
        self.integer_params()  # validates the parameters

    @property
    def deploy_mode(self) -> str:
        """The threshold-state mode of the twin and the process (LIF: frozen, a = 0)."""
        return "frozen" if self.lif else self.mode

    def reset_state(self) -> None:
        """Reset the adaptation state (the paper does this at the end of every epoch)."""
        self.a.zero_()

    def _integer_weights(self) -> tuple:
        out = []
        for dw, pw in ((self.dw1, self.pw1), (self.dw2, self.pw2)):
            qd, ed = quantize_weight(dw)
            qp, ep = quantize_weight(pw)
            out += [qd.long().numpy(), qp.long().numpy(), ed + ep]
        return tuple(out)

    def integer_params(self, x_scale: float = 1.0) -> MaskParams:
        """The integer description of the block as it is now (for the twin and Lava), for X in
        integers of ``x_scale`` per unit of the float X (used by the frozen statistics only)."""
        a_init = torch.clamp(torch.round(self.a.detach().double() * ONE), 0, ONE).long()
        norm = ()
        if self.minmax == "frozen":
            lo = torch.round(self.norm_lo.double() * x_scale)
            span = torch.round((self.norm_hi - self.norm_lo).double() * x_scale).clamp(min=0) + 1
            norm = (lo.long().numpy(), span.long().numpy())
        return MaskParams(*self._integer_weights(), self.lam_q, self.rho_q, self.gamma_q,
                          self.theta0_q, a_init.numpy(), *norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or tuple(x.shape[1:4]) != self.shape:
            raise LoihiSnnError(f"ALIF mask: input {tuple(x.shape)} is not (N, *{self.shape}, T)")
        if not self.training:
            return self._twin(x)
        n, c, h, w, steps = x.shape
        p = torch.stack([x.mean(1), x.amax(1)], 1)  # (N, 2, H, W, T)
        z = p.permute(0, 4, 1, 2, 3).reshape(n * steps, 2, h, w)
        for dw, pw in ((self.dw1, self.pw1), (self.dw2, self.pw2)):
            dwq = _fake_quant(dw).to(x.dtype)
            z = F.conv2d(z, dwq.unsqueeze(1), padding=dw.shape[1] // 2, groups=dw.shape[0])
            z = F.conv2d(z, _fake_quant(pw).to(x.dtype)[:, :, None, None])
        lo = z.amin((2, 3), keepdim=True)
        hi = z.amax((2, 3), keepdim=True)
        if self.minmax == "frozen":  # running statistics, updated first (like BN's momentum)
            with torch.no_grad():
                m = self.momentum
                self.norm_lo.mul_(1 - m).add_(m * lo.mean(0).reshape(c).to(self.norm_lo))
                self.norm_hi.mul_(1 - m).add_(m * hi.mean(0).reshape(c).to(self.norm_hi))
            lo = self.norm_lo.to(z).reshape(1, c, 1, 1)
            hi = self.norm_hi.to(z).reshape(1, c, 1, 1)
        drive = (1 - (z - lo) / (hi - lo + self.eps)).reshape(n, steps, c, h, w)
        lam, rho = self.lam_q / ONE, self.rho_q / ONE
        theta0, gamma = self.theta0_q / ONE, self.gamma_q / ONE
        a = self.a.to(x.dtype)
        u = torch.zeros_like(drive[:, 0])
        spikes = []
        for t in range(steps):
            u = lam * u + drive[:, t]
            s = ArcTanSpike.apply(u - (theta0 + gamma * a), self.alpha)
            u = u * (1 - s.detach())
            if not self.lif:
                a = rho * a + (1 - rho) * s.detach().mean(0)
            spikes.append(s)
        s = torch.stack(spikes, -1)
        self.a.copy_(a.detach())
        self.last_spikes = s.detach()
        return STEGate.apply(x, 1 - s)

    def _twin(self, x: torch.Tensor) -> torch.Tensor:
        xi = x.detach().cpu().numpy()
        if not np.array_equal(xi, np.round(xi)) or np.abs(xi).max(initial=0) >= 2**31:
            raise LoihiSnnError("ALIF mask: eval (the integer twin) needs int32-valued input")
        y, s, _, _ = run_twin(self.integer_params(), xi.astype(np.int64), self.deploy_mode)
        self.last_spikes = torch.from_numpy(s)
        return torch.from_numpy(y).to(x.dtype)
