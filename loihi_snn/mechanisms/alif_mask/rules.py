"""BIASNN's ALIF attention mask (the BIASNN paper, Sci. Rep. 2025): its integer rules, the
parameter record, the integer twin and the float reference step. numpy and numba only.

Per time step t, for one sample (B = 1 on chip) with the gated signal X[t] (C, H, W):

    P  = [ floor(sum_c X / C),  max_c X ]                            channel pooling (Eq. 5)
    Z  = DS2(DS1(P)),   DS = pointwise o depth-wise, 'same' size     (Eq. 6)
    I  = 2^12 - floor(((Z - m_c) << 12) / (M_c - m_c + 1))           min-max norm + inversion
    u  = rshift0(u * lam, 12) + I;  s = u >= theta;  u[s] = 0         ALIF (Eqs. 9-11)
    a  = rshift0(a * rho, 12) + s * (4096 - rho)                      (Eq. 12, B = 1)
    theta = theta0 + rshift0(gamma * a, 12)                           (Eq. 13)
    Y  = X * (1 - s)                                                  spike inversion, gate (15-16)

Decisions (the recommended defaults unless said otherwise):

* D1 stride 1 with 'same' zero padding (2 and 3) for the DS convs (k = 5, 7), so the mask is
  C x H x W. DS1 = PW(2 -> C/r) o DW5x5, DS2 = PW(C/r -> C) o DW7x7, cross-correlation as torch.
* No conv biases: DS2's bias is removed exactly by the per-channel min subtraction and DS1's only
  adds a border pattern. Without them the branch is positively homogeneous, so the mask does not
  depend on the scale of X: the block trains on float X and its eval twin takes the integers of
  whatever scale the producing population uses.
* D2 min-max per (b, c, t) over (h, w); eps = 1 LSB of Z in integers (the '+ 1'), ``eps`` (default
  1e-6, in units of X) in the float forward. A channel with min == max gives I = 4096 (drive 1).
* D3 a is the low-passed spike rate (rho = exp(-1/tau)), theta = theta0 + gamma * a (Bellec/Yin
  adaptive threshold); defaults theta0 = 1, tau = 2, gamma = 1.
* Comparator '>=' (SpikingJelly's Heaviside), in every twin alike; a neuron exactly at threshold
  fires. The reset to 0 is hard.
* D4 threshold state at inference, B = 1, the samples of a batch one after another as on chip,
  from the trained a (quantised to Q12), in one of three modes: ``persist`` (a carries on from
  sample to sample: order-dependent), ``reset`` (a returns to the trained state at every sample;
  the default: deployable and order-independent) and ``frozen`` (a and theta fixed: a per-neuron
  threshold, no adaptation). u always starts each sample at 0. The LIF ablation (LASNN) is
  ``frozen`` with gamma = 0.
* Neurocore-only variant: frozen per-channel statistics (lo_c, span_c) replace the per-step
  spatial min-max by one affine map (:func:`frozen_invert`).

Fixed-point formats (all int64 holding integers; exact, no overflow, for int32 X and C/r <= 8192):

* X: signed integers (int32 on Lava's ports), any scale. Y = X or 0, exact.
* P: scale of X. The mean is rounded toward -inf: an arithmetic ``>> log2(C)`` when C is a power
  of 2, else floor division ``// C`` (identical results).
* DS weights: 8-bit signed mantissas in [-127, 127] with one power-of-two exponent e in [0, 24] per
  tensor (float weight = mantissa * 2^-e). Each DS conv accumulates DW then PW exactly and shifts
  once, Z = sat24(acc >> (e_dw + e_pw)): floor (arithmetic) shift, like Lava Dense's weight
  exponent, then saturation to signed 24 bit [-2^23, 2^23 - 1]. Z has the scale of X.
* I (the inverted normalised drive): unsigned Q12 in [1, 4096]; numerator >= 0, so the floor
  division is also a truncation.
* u, a, theta: Q12 (4096 = 1.0). Decays use rshift0 (round toward zero, Lava's and lava-dl's
  convention, :func:`loihi_snn.loihi.fixed_point.rshift0`). Parameters: lam = round(4096 lambda_a),
  rho = round(4096 exp(-1/tau)) (12 bit), gamma = round(4096 gamma), theta0 = round(4096 theta0).
  The float forward uses exactly these quantised values (q / 4096) and fake-quantised weights; the
  remaining differences to the twin are the floor roundings (each below 1 LSB) and eps.

Timing: zero-latency, as the paper: the mask of step t gates X of step t (one fused process, so
Lava adds no step inside it; :mod:`loihi_snn.mechanisms.alif_mask.lava`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from ...errors import LoihiSnnError
from ...loihi.fixed_point import rshift0

Q = 12  # fractional bits of u, a, theta, the drive and the 12-bit parameters
ONE = 1 << Q
Z_MAX = (1 << 23) - 1  # Z saturates to signed 24 bit
W_MAX = 127  # DS weight mantissas are 8-bit signed, symmetric
E_MAX = 24  # largest weight exponent
K1, K2 = 5, 7  # DS1 and DS2 depth-wise kernel sizes
MODES = ("persist", "reset", "frozen")
NORMS = ("dynamic", "frozen")  # per-step min-max (embedded CPU) or frozen statistics (neurocores)
PERSIST, RESET, FROZEN = range(3)


# -- the integer rules (numba, int64) ----------------------------------------------------------


@njit(cache=True)
def channel_pool(x: np.ndarray, out: np.ndarray) -> None:
    """x (C, H, W) -> out (2, H, W): [floor(sum_c x / C), max_c x] (floor: ``>> log2 C`` when C is
    a power of 2, else ``// C``)."""
    c = x.shape[0]
    shift = 0
    while (1 << shift) < c:
        shift += 1
    if (1 << shift) != c:
        shift = -1
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            total = x[0, i, j]
            peak = x[0, i, j]
            for k in range(1, c):
                total += x[k, i, j]
                peak = max(peak, x[k, i, j])
            out[0, i, j] = total >> shift if shift >= 0 else total // c
            out[1, i, j] = peak


@njit(cache=True)
def ds_conv(p: np.ndarray, dw: np.ndarray, pw: np.ndarray, shift: int, out: np.ndarray) -> None:
    """Depth-wise separable conv, stride 1, 'same' zero padding: p (Cin, H, W), dw (Cin, k, k)
    and pw (Cout, Cin) integer mantissas -> out (Cout, H, W) = sat24((pw . dw * p) >> shift),
    floor shift. Accumulated in float64, which is exact: every partial sum is an integer below
    2^53 as long as |p| * k^2 * Cin < 2^39 (weights <= 127: the first conv takes |p| < 2^31 with
    k^2 Cin = 50, the second the saturated |p| < 2^23 with k^2 Cin <= 2^14, which MaskParams
    checks)."""
    cin, h, w = p.shape
    k = dw.shape[1]
    pad = k // 2
    wide = w + 2 * pad  # rows are computed over the padded width: long branch-free loops
    size = h * wide
    padded = np.zeros((cin, (h + 2 * pad + 1) * wide))  # a spare row for the margin's taps
    for c in range(cin):
        for i in range(h):
            at = (i + pad) * wide + pad
            for j in range(w):
                padded[c, at + j] = p[c, i, j]
    d = np.zeros((cin, size))
    for c in range(cin):  # tap by tap over the whole plane
        target = d[c]
        for ki in range(k):
            for kj in range(k):
                weight = np.float64(dw[c, ki, kj])
                source = padded[c, ki * wide + kj : ki * wide + kj + size]
                for q in range(size):
                    target[q] += weight * source[q]
    acc = np.empty(size)
    for o in range(pw.shape[0]):
        acc[:] = 0.0
        for c in range(cin):
            weight = np.float64(pw[o, c])
            source = d[c]
            for q in range(size):
                acc[q] += weight * source[q]
        for i in range(h):
            for j in range(w):
                total = np.int64(acc[i * wide + j]) >> shift
                out[o, i, j] = min(max(total, -Z_MAX - 1), Z_MAX)


@njit(cache=True)
def minmax_invert(z: np.ndarray, out: np.ndarray) -> None:
    """Per-channel min-max normalisation and inversion: z (C, H, W) -> out, Q12 in [1, 4096],
    out = 4096 - floor(((z - m_c) << 12) / (M_c - m_c + 1))."""
    for c in range(z.shape[0]):
        lo = z[c].min()
        span = z[c].max() - lo + 1
        for i in range(z.shape[1]):
            for j in range(z.shape[2]):
                out[c, i, j] = ONE - ((z[c, i, j] - lo) << Q) // span


@njit(cache=True)
def frozen_invert(z: np.ndarray, lo: np.ndarray, span: np.ndarray, out: np.ndarray) -> None:
    """The neurocore-only form: frozen per-channel statistics lo_c, span_c (trained
    running values, units of Z) make normalisation and inversion one affine map,
    out = 4096 - floor(((z - lo_c) << 12) / span_c) (floor division; not clipped)."""
    for c in range(z.shape[0]):
        for i in range(z.shape[1]):
            for j in range(z.shape[2]):
                out[c, i, j] = ONE - ((z[c, i, j] - lo[c]) << Q) // span[c]


@njit(cache=True)
def start_sample(u: np.ndarray, a: np.ndarray, a_init: np.ndarray, mode: int) -> None:
    """State at the first step of a sample: u = 0; a = a_init in ``reset`` mode (any dtype)."""
    u[:] = 0
    if mode == RESET:
        a[:] = a_init


@njit(cache=True)
def mask_step(
    x: np.ndarray,
    dw1: np.ndarray,
    pw1: np.ndarray,
    shift1: int,
    dw2: np.ndarray,
    pw2: np.ndarray,
    shift2: int,
    lam: int,
    rho: int,
    gamma: int,
    theta0: int,
    norm_lo: np.ndarray,
    norm_span: np.ndarray,
    adapt: bool,
    u: np.ndarray,
    a: np.ndarray,
    theta: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
) -> None:
    """One time step of one sample, all arrays (C, H, W) int64 except the weights (module doc).

    x: the gated signal; norm_lo, norm_span (C,): frozen statistics, or empty for the per-step
    min-max; u, a: states (Q12), updated in place (a only when ``adapt``); theta:
    written with the threshold of the next step (Q12); y: the gated output; s: ALIF spikes 0/1
    (1 = value eliminated).
    """
    c, h, w = x.shape
    p = np.empty((2, h, w), np.int64)
    channel_pool(x, p)
    z1 = np.empty((pw1.shape[0], h, w), np.int64)
    ds_conv(p, dw1, pw1, shift1, z1)
    z = np.empty((c, h, w), np.int64)
    ds_conv(z1, dw2, pw2, shift2, z)
    drive = np.empty((c, h, w), np.int64)
    if norm_span.size:
        frozen_invert(z, norm_lo, norm_span, drive)
    else:
        minmax_invert(z, drive)
    for k in range(c):
        for i in range(h):
            for j in range(w):
                v = rshift0(u[k, i, j] * lam, Q) + drive[k, i, j]
                fire = np.int64(v >= theta0 + rshift0(gamma * a[k, i, j], Q))
                u[k, i, j] = v * (1 - fire)
                if adapt:
                    a[k, i, j] = rshift0(a[k, i, j] * rho, Q) + fire * (ONE - rho)
                theta[k, i, j] = theta0 + rshift0(gamma * a[k, i, j], Q)
                s[k, i, j] = fire
                y[k, i, j] = x[k, i, j] * (1 - fire)


@njit(cache=True)
def _run_sample(
    x: np.ndarray,
    b: int,
    dw1: np.ndarray,
    pw1: np.ndarray,
    shift1: int,
    dw2: np.ndarray,
    pw2: np.ndarray,
    shift2: int,
    rates: tuple,
    norm_lo: np.ndarray,
    norm_span: np.ndarray,
    adapt: bool,
    u: np.ndarray,
    a: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
) -> None:
    """Sample ``b`` of x (N, C, H, W, T) from the states u, a (updated in place) into y and s;
    rates = (lam, rho, gamma, theta0)."""
    c, h, w, steps = x.shape[1:]
    lam, rho, gamma, theta0 = rates
    theta = np.empty((c, h, w), np.int64)
    xt = np.empty((c, h, w), np.int64)
    yt = np.empty((c, h, w), np.int64)
    st = np.empty((c, h, w), np.int64)
    for t in range(steps):
        xt[:] = x[b, :, :, :, t]
        mask_step(
            xt, dw1, pw1, shift1, dw2, pw2, shift2, lam, rho, gamma, theta0, norm_lo, norm_span,
            adapt, u, a, theta, yt, st,
        )
        y[b, :, :, :, t] = yt
        s[b, :, :, :, t] = st


@njit(parallel=True, cache=True)
def mask_run(
    x: np.ndarray,
    dw1: np.ndarray,
    pw1: np.ndarray,
    shift1: int,
    dw2: np.ndarray,
    pw2: np.ndarray,
    shift2: int,
    lam: int,
    rho: int,
    gamma: int,
    theta0: int,
    norm_lo: np.ndarray,
    norm_span: np.ndarray,
    a_init: np.ndarray,
    mode: int,
    y: np.ndarray,
    s: np.ndarray,
    u: np.ndarray,
    a: np.ndarray,
) -> None:
    """Samples x (N, C, H, W, T) as on chip (B = 1), from a = a_init: writes y and s
    (N, C, H, W, T) and leaves the states after the last sample in u and a (C, H, W). In mode
    ``persist`` a sample starts where the previous one ended, so they run in order; in ``reset``
    and ``frozen`` every sample starts from u = 0, a = a_init, so they run in parallel (the same
    arithmetic)."""
    n, c, h, w, _ = x.shape
    rates = (lam, rho, gamma, theta0)
    adapt = mode != FROZEN
    if mode == PERSIST:
        a[:] = a_init
        for b in range(n):
            u[:] = 0
            _run_sample(x, b, dw1, pw1, shift1, dw2, pw2, shift2, rates, norm_lo, norm_span,
                        adapt, u, a, y, s)
        return
    for b in prange(n):
        ub = np.zeros((c, h, w), np.int64)
        ab = np.empty((c, h, w), np.int64)
        ab[:] = a_init
        _run_sample(x, b, dw1, pw1, shift1, dw2, pw2, shift2, rates, norm_lo, norm_span, adapt,
                    ub, ab, y, s)
        if b == n - 1:
            u[:] = ub
            a[:] = ab


@dataclass
class MaskParams:
    """The integer description of one mask, shared by the twin and the Lava process.

    dw1 (2, 5, 5), pw1 (C/r, 2), dw2 (C/r, 7, 7), pw2 (C, C/r): weight mantissas in torch order
    (int64, [-127, 127]); shift1, shift2: each DS conv's right shift (e_dw + e_pw); lam, rho, gamma,
    theta0: Q12; a_init (C, H, W): initial adaptation state, Q12 in [0, 4096]; norm_lo,
    norm_span (C,): frozen normalisation statistics in units of Z (the neurocore-only variant),
    empty for the per-step min-max.
    """

    dw1: np.ndarray
    pw1: np.ndarray
    shift1: int
    dw2: np.ndarray
    pw2: np.ndarray
    shift2: int
    lam: int
    rho: int
    gamma: int
    theta0: int
    a_init: np.ndarray
    norm_lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    norm_span: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        for name in ("dw1", "pw1", "dw2", "pw2", "a_init", "norm_lo", "norm_span"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), np.int64))
        c, r = self.pw2.shape
        shapes = {"dw1": (2, K1, K1), "pw1": (r, 2), "dw2": (r, K2, K2)}
        for name, want in shapes.items():
            if getattr(self, name).shape != want:
                raise LoihiSnnError(f"ALIF mask: {name} has shape {getattr(self, name).shape}, "
                                    f"expected {want}")
        if r * K2 * K2 > 2**14:  # ds_conv's float64 sums stay exact
            raise LoihiSnnError(f"ALIF mask: {r} reduced channels, at most {2**14 // K2**2}")
        if self.a_init.ndim != 3 or self.a_init.shape[0] != c:
            raise LoihiSnnError(f"ALIF mask: a_init {self.a_init.shape} does not match C = {c}")
        if self.norm_lo.shape != self.norm_span.shape or self.norm_span.size not in (0, c):
            raise LoihiSnnError(f"ALIF mask: frozen statistics must hold C = {c} values each")
        if self.norm_span.size and (self.norm_span.min() < 1 or self.norm_span.max() > 2**24):
            raise LoihiSnnError("ALIF mask: frozen spans must lie in [1, 2^24]")
        if self.norm_lo.size and np.abs(self.norm_lo).max() > Z_MAX:
            raise LoihiSnnError("ALIF mask: frozen minima must fit 24 bits")
        for name in ("shift1", "shift2", "lam", "rho", "gamma", "theta0"):
            setattr(self, name, int(getattr(self, name)))
        ranges = {
            "dw1": (-W_MAX, W_MAX), "pw1": (-W_MAX, W_MAX), "dw2": (-W_MAX, W_MAX),
            "pw2": (-W_MAX, W_MAX), "shift1": (0, 2 * E_MAX), "shift2": (0, 2 * E_MAX),
            "lam": (0, ONE), "rho": (0, ONE), "gamma": (0, 1 << 16), "theta0": (0, Z_MAX),
            "a_init": (0, ONE),
        }
        for name, (lo, hi) in ranges.items():
            value = np.asarray(getattr(self, name))
            if value.min() < lo or value.max() > hi:
                raise LoihiSnnError(f"ALIF mask: {name} outside [{lo}, {hi}]")

    @property
    def frozen_norm(self) -> bool:
        return bool(self.norm_span.size)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of X, Y and the states."""
        c, h, w = self.a_init.shape
        return int(c), int(h), int(w)


def mode_index(mode: str) -> int:
    """The threshold-state mode's code (PERSIST, RESET, FROZEN)."""
    if mode not in MODES:
        raise LoihiSnnError(f"ALIF mask: mode must be one of {', '.join(MODES)}, not {mode!r}")
    return MODES.index(mode)


def run_twin(
    params: MaskParams, x: np.ndarray, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The integer twin on x (N, C, H, W, T) integers, samples one after another (B = 1).

    Returns y (N, C, H, W, T) int64, the ALIF spikes s (N, C, H, W, T) int8 (1 = eliminated) and the
    states u, a (C, H, W) after the last step (Q12).
    """
    x = np.ascontiguousarray(x, np.int64)
    if x.ndim != 5 or x.shape[1:4] != params.shape:
        raise LoihiSnnError(f"ALIF mask: input {x.shape} is not (N, *{params.shape}, T)")
    y = np.empty_like(x)
    s = np.empty_like(x)
    u = np.zeros(params.shape, np.int64)
    a = np.empty(params.shape, np.int64)
    p = params
    mask_run(
        x, p.dw1, p.pw1, p.shift1, p.dw2, p.pw2, p.shift2, p.lam, p.rho, p.gamma, p.theta0,
        p.norm_lo, p.norm_span, p.a_init, mode_index(mode), y, s, u, a,
    )
    return y, s.astype(np.int8), u, a


def float_step(
    x: np.ndarray, params: MaskParams, eps: float, adapt: bool, u: np.ndarray, a: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The float rules of one step (Lava's floating_pt model) without rounding, in the twin's
    units: x (C, H, W) float; weights mantissa * 2^-shift; u, a float64 in Q12 units (4096 = 1.0:
    an exact power-of-2 scaling of the block's float forward), updated in place. Returns y, the
    spikes s (0.0/1.0) and theta of the next step, each (C, H, W) float64."""
    z = np.stack([x.mean(0), x.max(0)])
    _, h, w = x.shape
    for dw, pw, shift in ((params.dw1, params.pw1, params.shift1),
                          (params.dw2, params.pw2, params.shift2)):
        k = dw.shape[1]
        pad = np.pad(z, ((0, 0), (k // 2, k // 2), (k // 2, k // 2)))
        d = np.zeros_like(z)
        for i in range(k):
            for j in range(k):
                d += dw[:, i, j, None, None] / 2.0**shift * pad[:, i : i + h, j : j + w]
        z = np.tensordot(pw.astype(np.float64), d, 1)
    if params.frozen_norm:
        lo = params.norm_lo[:, None, None]
        drive = ONE * (1 - (z - lo) / params.norm_span[:, None, None])
    else:
        lo = z.min((1, 2), keepdims=True)
        hi = z.max((1, 2), keepdims=True)
        drive = ONE * (1 - (z - lo) / (hi - lo + eps))
    v = params.lam / ONE * u + drive
    s = v >= params.theta0 + params.gamma / ONE * a
    u[:] = np.where(s, 0.0, v)
    if adapt:
        a[:] = params.rho / ONE * a + (1 - params.rho / ONE) * ONE * s
    theta = params.theta0 + params.gamma / ONE * a
    return np.where(s, 0.0, x), s.astype(np.float64), theta
