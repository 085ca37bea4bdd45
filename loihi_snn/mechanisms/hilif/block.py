"""SPARTA's HI-LIF neurons (the SPARTA paper's Algorithm 1): a conv synapse into per-channel
heterogeneous LIF neurons, trainable, and its exact realisation with stock Loihi LIF populations.

Algorithm 1 (D14: learnable w^c and vth^c initialised from the normal priors, hard reset to 0):

    tau^c ~ N(mu_tau, sigma_tau^2) clipped to >= 1.01,  w^c = -log(tau^c - 1),  d^c = sigmoid(w^c)
    vth^c ~ N(mu_vth, sigma_vth^2) clipped to >= 0.05
    v[t+1] = v[t] + (z[t] - v[t]) d^c,   s = v[t+1] >= vth^c,   v <- 0 where s

with z = conv(x) (no bias). Divided by vth^c this is the folded, unit-threshold form

    v~[t+1] = v~[t] (1 - d^c) + (d^c / vth^c) z[t],   s = v~ >= 1

which is a Lava LIF with no current memory (iDecay = 4096: u = a_in << 6), voltage decay
dv^c = d^c 4096 and the incoming weights of channel c scaled by d^c / vth^c.

Decision (the Lava realisation): per-channel thresholds and input scales are folded into the
incoming conv weights, and channels are grouped into one stock LIF population per distinct
quantised decay dv (``dv_step``: dv = step round(4096 d / step), 12 bit); the groups are
concatenated (format 2's ``concat``) and read back in the original channel order through a 1x1
permutation conv (weights 0/1, exact). Why: stock LIFs run on neurocores (the deployable route;
a custom process with a vector decay would run on the embedded CPU, or need neurocore microcode
Lava does not expose), the folding is exact because the integer twin *is* defined in the folded
form, and grouping keeps it exact at the price of at most 4096 / dv_step populations (16 channels
give at most 16). Per group g the folded weights get one integer scale S_g =
floor(min(254 / max |d W / vth|, 2^17 - 1)): w = round(S_g d W / vth) (8 bit), vThMant = S_g
(Lava fires when v > vThMant << 6, i.e. v~ > 1: the comparator is Lava's strict '>' in the twin,
the float forward uses '>=', which differ only at exact equality).

The training forward is the float folded form with d fake-quantised to the dv grid (STE) and the
arctan surrogate (SpikingJelly's ATan, alpha = 2); the eval forward of the model that contains the
block is the integer twin through :mod:`loihi_snn.backends.fast` (the very LIF rules Lava
runs).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import LoihiSnnError
from ...ir.graph import Layer, Neuron, Projection
from ...loihi.limits import TRAINED_WEIGHT_MAX as WEIGHT_MAX
from ...loihi.limits import VTH_MAX
from ...nn import ArcTanSpike

NO_CURRENT = 4096  # iDecay: u carries nothing over (u = a_in << 6)


class HiLIF(torch.nn.Module):
    """Conv (in_channels -> channels, kernel, stride, padding; no bias) into HI-LIF neurons.
    Input (N, C_in, H, W, T) float; output spikes (N, channels, H', W', T)."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        *,
        mu_tau: float = 2.0,
        sigma_tau: float = 0.3,
        mu_vth: float = 1.0,
        sigma_vth: float = 0.2,
        dv_step: int = 1,
        weight_scale: float = 1.0,
        surrogate_alpha: float = 2.0,
    ) -> None:
        super().__init__()
        if not 1 <= dv_step <= 4096:
            raise LoihiSnnError(f"HI-LIF: dv_step {dv_step} outside 1..4096")
        self.channels, self.kernel, self.stride, self.padding = channels, kernel, stride, padding
        self.dv_step, self.surrogate_alpha = dv_step, surrogate_alpha
        self.conv = torch.nn.Conv2d(in_channels, channels, kernel, stride, padding, bias=False)
        with torch.no_grad():
            self.conv.weight.mul_(weight_scale)
        tau = torch.clamp(mu_tau + sigma_tau * torch.randn(channels), min=1.01)
        self.w = torch.nn.Parameter(-torch.log(tau - 1))  # sigmoid(w) = 1/tau exactly at init
        self.vth = torch.nn.Parameter(mu_vth + sigma_vth * torch.randn(channels))

    def decay(self) -> torch.Tensor:
        """d = sigmoid(w) fake-quantised to the dv grid (STE), in (0, 1]."""
        d = torch.sigmoid(self.w)
        step = self.dv_step / 4096
        q = torch.clamp(torch.round(d.detach() / step) * step, step, 1.0)
        return q + d - d.detach()

    def threshold(self) -> torch.Tensor:
        return self.vth.clamp(min=0.05)

    def currents(self, x: torch.Tensor) -> torch.Tensor:
        """z = conv(x) per step: (N, C_in, H, W, T) -> (N, C, H', W', T)."""
        n, c, h, w, steps = x.shape
        z = self.conv(x.permute(0, 4, 1, 2, 3).reshape(n * steps, c, h, w))
        return z.reshape(n, steps, *z.shape[1:]).permute(0, 2, 3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.currents(x)
        d = self.decay()[None, :, None, None]
        gain = d / self.threshold()[None, :, None, None]
        v = torch.zeros_like(z[..., 0])
        out = []
        for t in range(z.shape[-1]):
            v = v * (1 - d) + gain * z[..., t]
            s = ArcTanSpike.apply(v - 1.0, self.surrogate_alpha)
            v = v * (1 - s.detach())
            out.append(s)
        return torch.stack(out, -1)

    # -- the exact Lava realisation -------------------------------------------------------------

    def dv(self) -> np.ndarray:
        """The 12-bit voltage decay per channel (vDecay), multiples of dv_step in [step, 4096]."""
        return np.round(self.decay().detach().double().numpy() * 4096).astype(np.int64)

    def groups(self) -> list[tuple[int, list[int]]]:
        """(dv, channels) per population, by ascending dv, channels ascending within."""
        dv = self.dv()
        return [(int(v), [int(c) for c in np.flatnonzero(dv == v)]) for v in np.unique(dv)]

    def to_layers(
        self, source: int, in_shape: tuple[int, int, int], first_index: int
    ) -> tuple[list[Layer], Projection]:
        """The HI-LIF as graph layers: one LIF population per decay group (file indices
        first_index, ...) and their concat (the last of the returned layers), plus the 1x1
        permutation conv that reads the concat in the original channel order (its ``source`` set
        to the concat's index)."""
        w = self.conv.weight.detach().double().numpy()
        gain = self.decay().detach().double().numpy() / self.threshold().detach().double().numpy()
        folded = w * gain[:, None, None, None]
        layers, order = [], []
        for dv, channels in self.groups():
            part = folded[channels]
            peak = float(np.abs(part).max())
            scale = math.floor(min(WEIGHT_MAX / peak if peak else VTH_MAX, VTH_MAX))
            if scale < 1:
                raise LoihiSnnError("HI-LIF: folded weights too large for an 8-bit mantissa")
            proj = Projection(
                source, "conv", np.round(part * scale), (self.stride,) * 2, (self.padding,) * 2
            )
            layers.append(Layer("population", self._out_shape(in_shape, len(channels)),
                                Neuron(NO_CURRENT, dv, scale), None, [proj]))
            order += channels
        concat = first_index + len(layers)
        layers.append(
            Layer("concat", self._out_shape(in_shape, self.channels),
                  sources=list(range(first_index, concat)))
        )
        perm = np.zeros((self.channels, self.channels, 1, 1))
        perm[order, np.arange(self.channels)] = 1
        return layers, Projection(concat, "conv", perm)

    def _out_shape(self, in_shape: tuple[int, int, int], channels: int) -> tuple[int, int, int]:
        size = [(s + 2 * self.padding - self.kernel) // self.stride + 1 for s in in_shape[1:]]
        return (channels, *size)


def reference_integer(
    x: np.ndarray, weight: np.ndarray, stride: int, dv: np.ndarray, vth: np.ndarray
) -> np.ndarray:
    """An independent numpy HI-LIF on Lava's rules with a vector decay (for tests): x
    (N, C_in, H, W, T) integers, weight (C, C_in, k, k) integer mantissas (no padding), dv and
    vth (C,) integers -> spikes (N, C, H', W', T). u = a << 6, v = rshift0(v (4096 - dv)) + u,
    s = v > vth << 6, hard reset."""
    z = F.conv2d(
        torch.from_numpy(np.moveaxis(x, -1, 1).reshape(-1, *x.shape[1:4]).astype(np.float64)),
        torch.from_numpy(weight.astype(np.float64)),
        stride=stride,
    ).numpy().astype(np.int64)
    n, steps = x.shape[0], x.shape[-1]
    z = z.reshape(n, steps, *z.shape[1:])
    v = np.zeros(z.shape[:1] + z.shape[2:], np.int64)
    cv = (4096 - dv)[None, :, None, None]
    out = np.zeros_like(z)
    for t in range(steps):
        prod = v * cv
        v = np.sign(prod) * (np.abs(prod) >> 12) + (z[:, t] << 6)
        s = v > (vth[None, :, None, None] << 6)
        v[s] = 0
        out[:, t] = s
    return np.moveaxis(out, 1, -1)
