"""SPARTA's token selection as a trainable torch block (the SPARTA paper); its eval forward is the
integer twin of :mod:`loihi_snn.mechanisms.token_select.rules`.

Training forward, input spikes s (N, C, H, W, T) float, per sample:

    first, count, span per (c, j) as the rules (no gradient)
    P[j] = mean_c exp(-alpha first) exp(-beta span / (n - 1)) sigmoid(gamma n / T)   float exp
    rho  = sigmoid(MLP(f_in)),  f_in: the rules' integer features (no gradient)    (Eqs. 6-7)
    K    = max(K_min, floor((1 - rho) N + 1/2))      |   K = K_fixed in fixed-K mode
    M    = M_hard + sigmoid((P - theta) / tau) - stop_grad(sigmoid(...))           (D16, STE)
    Y    = s (M alpha' + (1 - M) beta')               alpha', beta' fake-quantised to Q4

M_hard is the top-K of P (ties to the lower index); theta is interpolated in the sorted
priorities at the position (1 - rho) N - 1/2, so that alpha, beta, gamma and (through theta) the
predictor get gradients; tau = 0.05 (max P - min P) + 1e-6. The predictor also gets
``sparsity_weight`` * mean(1 - rho) (:meth:`TokenSelect.aux_loss`, a regulariser the paper does
not describe). beta' stays 0 by default (trained only with ``learn_gate_off``): a learnable beta'
grew to alpha' in a first dynamic run, which makes the selection a no-op. The LUTs are quantised
from the float alpha, beta, gamma at every eval and export, so the reported accuracies are the
twin's.
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import LoihiSnnError
from .rules import (
    GATE_MAX,
    QF,
    QG,
    W_Q_MAX,
    SelectParams,
    TwinResult,
    features,
    fixed_k,
    make_luts,
    run_twin,
    sigmoid_lut,
    window_stats,
)


def _ste_round(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x) - x.detach() + x


class TokenSelect(torch.nn.Module):
    """SPARTA's token selection and gating (module doc). Input: spikes (N, C, H, W, T) (float in
    training, 0/1 or integer currents in eval; X > 0 is a spike); output Y (N, C, H, W, T) in
    units of 1.0 = one spike (the integer payload is 16 Y). Eval runs :func:`run_twin` and keeps
    ``last`` (its TwinResult).

    mode ``dynamic`` (predictor, K >= k_min) or ``fixed`` (K from ``sparsity``). beta'
    (``gate_off``) is trained only with ``learn_gate_off``."""

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        steps: int,
        *,
        mode: str = "dynamic",
        sparsity: float = 0.5,
        k_min: int = 4,
        hidden: int = 8,
        alpha: float = 0.3,
        beta: float = 0.3,
        gamma: float = 2.0,
        gate_on: float = 1.0,
        gate_off: float = 0.0,
        learn_gate_off: bool = False,
        sparsity_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if mode not in ("dynamic", "fixed"):
            raise LoihiSnnError(f"token selection: mode must be dynamic or fixed, not {mode!r}")
        if not 0 <= sparsity < 1:
            raise LoihiSnnError(f"token selection: sparsity {sparsity} outside [0, 1)")
        self.shape = (channels, height, width)
        self.steps, self.mode = steps, mode
        n = height * width
        self.k_fixed = fixed_k(sparsity, n) if mode == "fixed" else 0
        self.k_min = min(max(1, k_min), n)
        self.sparsity_weight = sparsity_weight
        self.alpha = torch.nn.Parameter(torch.tensor(float(alpha)))
        self.beta = torch.nn.Parameter(torch.tensor(float(beta)))
        self.gamma = torch.nn.Parameter(torch.tensor(float(gamma)))
        self.gate_on = torch.nn.Parameter(torch.tensor(float(gate_on)))
        self.gate_off = torch.nn.Parameter(
            torch.tensor(float(gate_off)), requires_grad=learn_gate_off
        )
        self.fc1 = torch.nn.Linear(3, hidden)
        self.fc2 = torch.nn.Linear(hidden, 1)
        self.last: TwinResult | None = None
        self.rho: torch.Tensor | None = None  # training: predicted rho of the last batch
        self.last_hard: torch.Tensor | None = None
        self.lut_sig = sigmoid_lut()

    def _gates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """alpha', beta' fake-quantised to Q4 in [0, 255/16] (STE)."""
        scale = 1 << QG
        on = _ste_round(self.gate_on.clamp(0, GATE_MAX / scale) * scale) / scale
        off = _ste_round(self.gate_off.clamp(0, GATE_MAX / scale) * scale) / scale
        return on, off

    def integer_params(self) -> SelectParams:
        """The integer description of the block as it is now (twin, Lava, file)."""
        alpha, beta, gamma = (float(p.detach().clamp(min=0)) for p in (self.alpha, self.beta,
                                                                         self.gamma))
        luts = make_luts(alpha, beta, gamma, self.steps)
        on, off = (int(round(float(g.detach()) * (1 << QG))) for g in self._gates())
        w1 = torch.round(self.fc1.weight.detach().double() * (1 << QF)).clamp(-W_Q_MAX, W_Q_MAX)
        b1 = torch.round(self.fc1.bias.detach().double() * (1 << 2 * QF))
        w2 = torch.round(self.fc2.weight.detach().double()[0] * (1 << QF)).clamp(-W_Q_MAX, W_Q_MAX)
        b2 = round(float(self.fc2.bias.detach()[0]) * (1 << 2 * QF))
        return SelectParams(
            self.shape, self.steps, *luts, self.k_fixed, self.k_min, w1.long().numpy(),
            b1.long().numpy(), w2.long().numpy(), b2, self.lut_sig, on, off, alpha, beta, gamma,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or tuple(x.shape[1:4]) != self.shape or x.shape[4] != self.steps:
            raise LoihiSnnError(
                f"token selection: input {tuple(x.shape)} is not (N, *{self.shape}, {self.steps})"
            )
        if not self.training:
            xi = x.detach().cpu().numpy()
            self.last = run_twin(self.integer_params(), np.rint(xi).astype(np.int64))
            return torch.from_numpy(self.last.y).to(x.dtype) / (1 << QG)
        return self._float_forward(x)

    def _float_forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w, steps = x.shape
        n = h * w
        s = x.reshape(b, c, n, steps)
        fired = s.detach() > 0
        t = torch.arange(steps, dtype=x.dtype)
        count = fired.sum(-1).to(x.dtype)
        first = torch.where(fired, t, torch.tensor(float(steps))).amin(-1)
        last = torch.where(fired, t, torch.tensor(-1.0)).amax(-1)
        span = torch.where(count > 0, last - first, torch.zeros_like(first))
        isi = span / (count - 1).clamp(min=1)
        alpha, beta, gamma = (p.clamp(min=0) for p in (self.alpha, self.beta, self.gamma))
        w_t = torch.exp(-alpha * first) * (count > 0)
        w_i = torch.exp(-beta * isi) * (count >= 2)
        w_r = torch.sigmoid(gamma * count / steps)
        prio = (w_t * w_i * w_r).mean(1)  # (B, N)
        order = torch.sort(prio.detach(), dim=1, descending=True, stable=True)
        if self.k_fixed:
            k = torch.full((b,), self.k_fixed, dtype=torch.long)
            pos = torch.full((b,), self.k_fixed - 0.5, dtype=x.dtype)
            self.rho = None
        else:
            feats = self._features(fired)
            rho = torch.sigmoid(self.fc2(torch.relu(self.fc1(feats))).squeeze(1).clamp(-8, 8))
            self.rho = rho
            k = torch.floor((1 - rho.detach()) * n + 0.5).long().clamp(self.k_min, n)
            pos = ((1 - rho) * n - 0.5).clamp(0, n - 1)
        hard = torch.zeros(b, n, dtype=x.dtype)
        ranks = torch.arange(n).expand(b, n)
        hard.scatter_(1, order.indices, (ranks < k[:, None]).to(x.dtype))
        sorted_p = torch.gather(prio, 1, order.indices)  # differentiable in alpha, beta, gamma
        lo = pos.detach().floor().long().clamp(0, n - 1)
        hi = (lo + 1).clamp(max=n - 1)
        frac = pos - lo.to(x.dtype)
        theta = torch.gather(sorted_p, 1, lo[:, None])[:, 0] * (1 - frac) + torch.gather(
            sorted_p, 1, hi[:, None]
        )[:, 0] * frac
        tau = 0.05 * (prio.detach().amax(1) - prio.detach().amin(1)) + 1e-6
        soft = torch.sigmoid((prio - theta[:, None]) / tau[:, None])
        self.last_hard = hard.detach()  # the top-K mask of the last training batch (B, N)
        mask = hard + soft - soft.detach()
        on, off = self._gates()
        gate = mask * on + (1 - mask) * off
        return (s * gate[:, None, :, None]).reshape(b, c, h, w, steps)

    def _features(self, fired: torch.Tensor) -> torch.Tensor:
        """Eq. 6 with the twin's integer formulas (no gradient), as floats (Q8 / 256)."""
        s = fired.to(torch.int64).numpy()
        out = np.empty((s.shape[0], 3), np.int64)
        c, n, steps = s.shape[1:]
        first = np.empty((c, n), np.int64)
        count = np.empty((c, n), np.int64)
        span = np.empty((c, n), np.int64)
        feats = np.empty(3, np.int64)
        for i in range(s.shape[0]):
            window_stats(np.ascontiguousarray(s[i]), first, count, span)
            features(first, count, span, steps, feats)
            out[i] = feats
        return torch.from_numpy(out / (1 << QF)).float()

    def aux_loss(self) -> torch.Tensor:
        """The predictor's sparsity regulariser of the last training batch (0 in fixed mode)."""
        if self.rho is None or not self.sparsity_weight:
            return torch.zeros(())
        return self.sparsity_weight * (1 - self.rho).mean()
