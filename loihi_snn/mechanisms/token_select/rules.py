"""SPARTA's spike-timing token selection (the SPARTA paper): its integer rules, the parameter
record, the integer twin and the float reference (the floating_pt model's rules). numpy and numba
only.

One sample (B = 1 on chip), a window of T steps, input X (C, H, W) per step: C channels of
N = H W tokens (token j = h W + w, row-major). A (channel, token) spikes at step t when X > 0.

    per (c, j):  first f (T if silent), count n, span = last - first             (D15)
    w[c, j] = LUT_first[f] * LUT_isi[span, n] >> 15, then * LUT_rate[n] >> 15     (Eqs. 3-5, Q15)
    P[j]    = floor(sum_c w[c, j] / C)                        priority, channel mean (D15)
    f_in    = [mean rate, std of first times, pooled mean ISI]    Q8 integers       (Eq. 6)
    z       = W2 relu(W1 f_in + b1 >> 8) + b2 >> 8;  rho = LUT_sig[z]             (Eq. 7)
    K       = max(K_min, (32768 - rho) N + 16384 >> 15)    dynamic   |   K = K_fixed  fixed-K mode
    M[j]    = 1 for the K largest keys P[j] N + (N - 1 - j)   (top-K, ties to the lower index)
    g[j]    = gate_on if M[j] else gate_off                   (Eq. 9, alpha', beta' in Q4)
    Y[c, j, t'] = s[c, j, t'] * g[j]                          replayed over the NEXT window

Decisions (the recommended defaults unless said otherwise):

* D15 statistics per (token, channel), averaged over channels. A silent (c, j) has f = T and
  LUT_first[T] = 0 (weight 0); n < 2 has no interval: LUT_isi[., n < 2] = 0 (weight 0). So a
  channel contributes only when it spikes at least twice. T_burst is not used (no equation uses it).
* The score of the top-K is the MSP priority P alone (the paper's fusion MLP of s_spatial, s_MSP
  and s_temporal is not built: s_temporal is a factor of P and a 7 x 7 grid leaves little for a
  centre-surround term).
* LUTs in Q15 (32768 = 1.0, unsigned, 16 bit): LUT_first (T + 1), LUT_isi (T, T + 1) indexed
  [span, n] holding round(2^15 exp(-beta span / (n - 1))) (exact: the ISI is never rounded),
  LUT_rate (T + 1) = round(2^15 sigmoid(gamma n / T)). They are quantised from the float alpha,
  beta, gamma at export (and at every eval) and are what the twin and the Lava process read.
  Products are floor shifts of non-negative values.
* Eqs. 6-7 in integers. Features in Q8 (256 = 1.0) with M = C N (c, j) pairs: mean rate
  floor(256 sum n / (M T)); std of the first times isqrt(floor(65536 (M S2 - S1^2) / M^2)) (S1, S2
  the sums of f and f^2, silent pairs counted with f = T, population std); mean ISI pooled over the
  pairs with n >= 2: floor(256 sum span / sum (n - 1)) (one division; 0 if no pair qualifies).
  MLP 3 -> H -> 1 with ReLU: weights Q8 (round(256 w)), biases Q16, arithmetic (floor)
  ``>> 8`` after each layer; the logit z (Q8) is clamped to [-2048, 2048] (+-8.0) and LUT_sig
  (4097 entries, Q15) gives rho. K = max(K_min, round-half-up((1 - rho) N)), at most N.
* D16 top-K by unique keys P N + (N - 1 - j): ties go to the lower token index, in every twin.
* Fixed-K mode (the paper's Table 3 baselines): K = floor((1 - sparsity) N + 1/2), no predictor.
* Eq. 9 gates alpha' (selected) and beta' (suppressed), quantised to Q4 (16 = 1.0) integers in
  [0, 255] (8-bit graded payloads).
* Output timing: the selection needs the whole window, so the gated spikes of window j are
  replayed, step for step, during window j + 1 as graded payloads s * g (latency T). In the twin
  every layer lives in its own window (local time), so the classifier of sample j simply reads Y
  of sample j. The recorded binary spikes of the layer are the replayed
  spikes of the selected tokens, s * M, in the same replay window (what ``verify`` compares).

Fixed-point formats: X integers (int32 on Lava's ports), only X > 0 is read; first, n, span in
0..T; w, P, rho Q15; features and hidden units Q8; gate Q4 in [0, 255]; Y = s g in [0, 255].
All arithmetic int64, exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ...errors import LoihiSnnError

QP = 15  # fractional bits of the LUTs, w, P and rho
ONE_P = 1 << QP
QF = 8  # fractional bits of the predictor's features, weights and hidden units
QG = 4  # fractional bits of the gates
GATE_MAX = 255  # gates are 8-bit unsigned payload factors
Z_CLAMP = 2048  # logit clamp in Q8 (+-8.0)
W_Q_MAX = (1 << 15) - 1  # predictor weights and biases fit int16 / int32
B_Q_MAX = (1 << 31) - 1


# -- the integer rules (numba, int64) ----------------------------------------------------------


@njit(cache=True)
def isqrt(v: int) -> int:
    """floor(sqrt(v)) for v >= 0, exact."""
    if v <= 0:
        return 0
    r = np.int64(math.sqrt(v))
    while r * r > v:
        r -= 1
    while (r + 1) * (r + 1) <= v:
        r += 1
    return r


@njit(cache=True)
def window_stats(s: np.ndarray, first: np.ndarray, count: np.ndarray, span: np.ndarray) -> None:
    """s (C, N, T) 0/1 -> first spike time (T if silent), spike count, last - first (0 if
    silent), each (C, N)."""
    c_, n_, steps = s.shape
    for c in range(c_):
        for j in range(n_):
            f, last, n = steps, -1, 0
            for t in range(steps):
                if s[c, j, t] != 0:
                    if f == steps:
                        f = t
                    last = t
                    n += 1
            first[c, j] = f
            count[c, j] = n
            span[c, j] = last - f if n > 0 else 0


@njit(cache=True)
def priority(
    first: np.ndarray,
    count: np.ndarray,
    span: np.ndarray,
    lut_first: np.ndarray,
    lut_isi: np.ndarray,
    lut_rate: np.ndarray,
    out: np.ndarray,
) -> None:
    """P[j] = floor(sum_c w[c, j] / C), w = (LUT_first[f] LUT_isi[span, n] >> 15) LUT_rate[n]
    >> 15 (Q15)."""
    c_, n_ = first.shape
    for j in range(n_):
        total = 0
        for c in range(c_):
            n = count[c, j]
            w = (lut_first[first[c, j]] * lut_isi[span[c, j], n]) >> QP
            total += (w * lut_rate[n]) >> QP
        out[j] = total // c_


@njit(cache=True)
def features(
    first: np.ndarray, count: np.ndarray, span: np.ndarray, steps: int, out: np.ndarray
) -> None:
    """Eq. 6 in Q8: out = [mean rate, std of first times, pooled mean ISI] (module doc)."""
    m = first.size
    s1, s2, total, spans, gaps = 0, 0, 0, 0, 0
    for c in range(first.shape[0]):
        for j in range(first.shape[1]):
            f = first[c, j]
            s1 += f
            s2 += f * f
            total += count[c, j]
            if count[c, j] >= 2:
                spans += span[c, j]
                gaps += count[c, j] - 1
    out[0] = (total << QF) // (m * steps)
    out[1] = isqrt(((m * s2 - s1 * s1) << (2 * QF)) // (m * m))
    out[2] = (spans << QF) // gaps if gaps > 0 else 0


@njit(cache=True)
def predict_k(
    feats: np.ndarray,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: int,
    lut_sig: np.ndarray,
    k_min: int,
    tokens: int,
) -> tuple:
    """Eq. 7 and K (module doc): returns (rho Q15, K)."""
    z = b2
    for i in range(w1.shape[0]):
        acc = b1[i]
        for k in range(3):
            acc += w1[i, k] * feats[k]
        z += w2[i] * max(acc >> QF, 0)
    z = min(max(z >> QF, -Z_CLAMP), Z_CLAMP)
    rho = lut_sig[z + Z_CLAMP]
    k = ((ONE_P - rho) * tokens + (ONE_P >> 1)) >> QP
    return rho, min(max(k, k_min), tokens)


@njit(cache=True)
def topk_mask(prio: np.ndarray, k: int, mask: np.ndarray) -> None:
    """mask[j] = 1 for the k largest keys prio[j] N + (N - 1 - j) (ties: lower index)."""
    n_ = prio.size
    keys = np.empty(n_, np.int64)
    for j in range(n_):
        keys[j] = prio[j] * n_ + (n_ - 1 - j)
    order = np.argsort(-keys)  # keys are unique: any sort gives the same order
    mask[:] = 0
    for r in range(k):
        mask[order[r]] = 1


@njit(cache=True)
def select_window(
    s: np.ndarray,
    lut_first: np.ndarray,
    lut_isi: np.ndarray,
    lut_rate: np.ndarray,
    k_fixed: int,
    k_min: int,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: int,
    lut_sig: np.ndarray,
    gate_on: int,
    gate_off: int,
    prio: np.ndarray,
    mask: np.ndarray,
    gate: np.ndarray,
) -> tuple:
    """The whole selection of one window: s (C, N, T) 0/1 -> prio, mask, gate (N,) written;
    returns (rho Q15, K). k_fixed > 0: fixed-K mode (rho = 0 reported)."""
    c_, n_, steps = s.shape
    first = np.empty((c_, n_), np.int64)
    count = np.empty((c_, n_), np.int64)
    span = np.empty((c_, n_), np.int64)
    window_stats(s, first, count, span)
    priority(first, count, span, lut_first, lut_isi, lut_rate, prio)
    if k_fixed > 0:
        rho, k = 0, k_fixed
    else:
        feats = np.empty(3, np.int64)
        features(first, count, span, steps, feats)
        rho, k = predict_k(feats, w1, b1, w2, b2, lut_sig, k_min, n_)
    topk_mask(prio, k, mask)
    for j in range(n_):
        gate[j] = gate_on if mask[j] else gate_off
    return rho, k


@njit(cache=True)
def replay_step(
    s_t: np.ndarray, gate: np.ndarray, mask: np.ndarray, y: np.ndarray, r: np.ndarray
) -> None:
    """One replayed step: s_t (C, N) -> y = s_t g[j] (payload), r = s_t M[j] (recorded)."""
    for c in range(s_t.shape[0]):
        for j in range(s_t.shape[1]):
            y[c, j] = s_t[c, j] * gate[j]
            r[c, j] = s_t[c, j] * mask[j]


@njit(cache=True)
def run_windows(
    x: np.ndarray,
    lut_first: np.ndarray,
    lut_isi: np.ndarray,
    lut_rate: np.ndarray,
    k_fixed: int,
    k_min: int,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: int,
    lut_sig: np.ndarray,
    gate_on: int,
    gate_off: int,
    y: np.ndarray,
    rec: np.ndarray,
    prio: np.ndarray,
    mask: np.ndarray,
    ks: np.ndarray,
    rhos: np.ndarray,
) -> None:
    """The twin on x (n, C, N, T): y, rec (n, C, N, T) in each sample's replay window; prio,
    mask (n, N); ks, rhos (n,)."""
    n, c_, n_, steps = x.shape
    s = np.empty((c_, n_, steps), np.int64)
    gate = np.empty(n_, np.int64)
    yt = np.empty((c_, n_), np.int64)
    rt = np.empty((c_, n_), np.int64)
    for b in range(n):
        for c in range(c_):
            for j in range(n_):
                for t in range(steps):
                    s[c, j, t] = 1 if x[b, c, j, t] > 0 else 0
        rho, k = select_window(
            s, lut_first, lut_isi, lut_rate, k_fixed, k_min, w1, b1, w2, b2, lut_sig,
            gate_on, gate_off, prio[b], mask[b], gate,
        )
        ks[b] = k
        rhos[b] = rho
        for t in range(steps):
            replay_step(s[:, :, t], gate, mask[b], yt, rt)
            y[b, :, :, t] = yt
            rec[b, :, :, t] = rt


# -- parameters -----------------------------------------------------------------------------


def make_luts(alpha: float, beta: float, gamma: float, steps: int):
    """(LUT_first (T+1), LUT_isi (T, T+1) [span, n], LUT_rate (T+1)) in Q15 from the float
    alpha, beta, gamma (module doc); silent and n < 2 entries are 0."""
    t = np.arange(steps + 1, dtype=np.float64)
    lut_first = np.round(ONE_P * np.exp(-alpha * t)).astype(np.int64)
    lut_first[steps] = 0
    lut_isi = np.zeros((steps, steps + 1), np.int64)
    for span in range(steps):
        for n in range(2, steps + 1):
            if span >= n - 1:  # n spikes need a span of at least n - 1 steps
                lut_isi[span, n] = round(ONE_P * math.exp(-beta * span / (n - 1)))
    lut_rate = np.round(ONE_P / (1 + np.exp(-gamma * t / steps))).astype(np.int64)
    return lut_first, lut_isi, lut_rate


def sigmoid_lut() -> np.ndarray:
    """LUT_sig[z + 2048] = round(2^15 sigmoid(z / 256)), z in [-2048, 2048] (Q8 logits)."""
    z = np.arange(-Z_CLAMP, Z_CLAMP + 1, dtype=np.float64) / (1 << QF)
    return np.round(ONE_P / (1 + np.exp(-z))).astype(np.int64)


def fixed_k(sparsity: float, tokens: int) -> int:
    """K of the fixed-K mode: floor((1 - sparsity) N + 1/2), at least 1."""
    return max(1, math.floor((1 - sparsity) * tokens + 0.5))


@dataclass
class SelectParams:
    """The integer description of one token-selection layer, shared by the twin, the Lava
    process and the file (module doc). ``shape`` (C, H, W); ``steps`` T; LUTs Q15; ``k_fixed``
    (> 0: fixed-K mode) and ``k_min``; predictor ``w1`` (H, 3) Q8, ``b1`` (H,) Q16, ``w2`` (H,)
    Q8, ``b2`` Q16, ``lut_sig`` (4097,) Q15; gates Q4. ``alpha``, ``beta``, ``gamma`` and the
    float predictor (w1f, b1f, w2f, b2f) are kept for the floating_pt model."""

    shape: tuple[int, int, int]
    steps: int
    lut_first: np.ndarray
    lut_isi: np.ndarray
    lut_rate: np.ndarray
    k_fixed: int
    k_min: int
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: int
    lut_sig: np.ndarray
    gate_on: int
    gate_off: int
    alpha: float = 0.0
    beta: float = 0.0
    gamma: float = 0.0

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        for name in ("lut_first", "lut_isi", "lut_rate", "w1", "b1", "w2", "lut_sig"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), np.int64))
        for name in ("steps", "k_fixed", "k_min", "b2", "gate_on", "gate_off"):
            setattr(self, name, int(getattr(self, name)))
        self.check("token selection")

    @property
    def tokens(self) -> int:
        return self.shape[1] * self.shape[2]

    def check(self, where: str) -> None:
        """Refuse inconsistent parameters (LoihiSnnError naming ``where``)."""
        t, n = self.steps, self.tokens
        if len(self.shape) != 3 or min(self.shape) < 1 or t < 1:
            raise LoihiSnnError(f"{where}: shape {self.shape} / steps {t} invalid (C, H, W)")
        shapes = {
            "lut_first": (t + 1,), "lut_isi": (t, t + 1), "lut_rate": (t + 1,),
            "lut_sig": (2 * Z_CLAMP + 1,), "b1": (self.w1.shape[0],), "w2": (self.w1.shape[0],),
        }
        for name, want in shapes.items():
            if getattr(self, name).shape != want:
                raise LoihiSnnError(
                    f"{where}: {name} has shape {getattr(self, name).shape}, expected {want}"
                )
        if self.w1.ndim != 2 or self.w1.shape[1] != 3:
            raise LoihiSnnError(f"{where}: w1 must be (H, 3), not {self.w1.shape}")
        for name in ("lut_first", "lut_isi", "lut_rate", "lut_sig"):
            v = getattr(self, name)
            if v.min() < 0 or v.max() > ONE_P:
                raise LoihiSnnError(f"{where}: {name} outside Q15 [0, {ONE_P}]")
        if np.abs(self.w1).max(initial=0) > W_Q_MAX or np.abs(self.w2).max(initial=0) > W_Q_MAX:
            raise LoihiSnnError(f"{where}: predictor weights outside 16 bit")
        if np.abs(self.b1).max(initial=0) > B_Q_MAX or abs(self.b2) > B_Q_MAX:
            raise LoihiSnnError(f"{where}: predictor biases outside 32 bit")
        if not 0 <= self.k_fixed <= n or not 1 <= self.k_min <= n:
            raise LoihiSnnError(
                f"{where}: k_fixed {self.k_fixed} / k_min {self.k_min} outside 0..{n} / 1..{n}"
            )
        for name in ("gate_on", "gate_off"):
            if not 0 <= getattr(self, name) <= GATE_MAX:
                raise LoihiSnnError(f"{where}: {name} outside [0, {GATE_MAX}]")

    def args(self) -> tuple:
        """The parameters in the order :func:`select_window` and :func:`run_windows` take."""
        return (
            self.lut_first, self.lut_isi, self.lut_rate, self.k_fixed, self.k_min, self.w1,
            self.b1, self.w2, self.b2, self.lut_sig, self.gate_on, self.gate_off,
        )


@dataclass
class TwinResult:
    """The twin's output on n samples: y, rec (n, C, H, W, T); prio, mask (n, H, W); k, rho (n,)."""

    y: np.ndarray
    rec: np.ndarray
    prio: np.ndarray
    mask: np.ndarray
    k: np.ndarray
    rho: np.ndarray


def run_twin(params: SelectParams, x: np.ndarray) -> TwinResult:
    """The integer twin on x (n, C, H, W, T) integers, samples one after another; outputs are in
    each sample's replay window (local time)."""
    x = np.asarray(x)
    c, h, w = params.shape
    if x.ndim != 5 or x.shape[1:4] != params.shape or x.shape[4] != params.steps:
        raise LoihiSnnError(
            f"token selection: input {x.shape} is not (n, {c}, {h}, {w}, {params.steps})"
        )
    n = x.shape[0]
    xf = np.ascontiguousarray(x.reshape(n, c, h * w, params.steps), np.int64)
    y, rec = np.empty_like(xf), np.empty_like(xf)
    prio = np.empty((n, h * w), np.int64)
    mask = np.empty((n, h * w), np.int64)
    ks, rhos = np.empty(n, np.int64), np.empty(n, np.int64)
    run_windows(xf, *params.args(), y, rec, prio, mask, ks, rhos)
    shape5 = (n, c, h, w, params.steps)
    return TwinResult(
        y.reshape(shape5), rec.reshape(shape5).astype(np.int8), prio.reshape(n, h, w),
        mask.reshape(n, h, w).astype(np.int8), ks, rhos,
    )


def float_select(s: np.ndarray, params: SelectParams) -> tuple[np.ndarray, np.ndarray, int]:
    """The floating_pt rules of one window, no rounding: s (C, N, T) 0/1 -> (gate (N,) float in
    units of the Q4 payload, mask (N,), K). exp and sigmoid exact from the float alpha, beta,
    gamma; predictor from the dequantised weights; same statistics, features, K rule and tie
    order as the twin."""
    c_, n_, steps = s.shape
    first = np.empty((c_, n_), np.int64)
    count = np.empty((c_, n_), np.int64)
    span = np.empty((c_, n_), np.int64)
    window_stats(np.ascontiguousarray(s, np.int64), first, count, span)
    w_t = np.where(count > 0, np.exp(-params.alpha * first), 0.0)
    isi = span / np.maximum(count - 1, 1)
    w_i = np.where(count >= 2, np.exp(-params.beta * isi), 0.0)
    w_r = 1 / (1 + np.exp(-params.gamma * count / steps))
    prio = (w_t * w_i * w_r).mean(0)
    if params.k_fixed > 0:
        k = params.k_fixed
    else:
        feats = np.empty(3, np.int64)
        features(first, count, span, steps, feats)
        f = feats / (1 << QF)
        h = np.maximum(params.w1 / (1 << QF) @ f + params.b1 / (1 << 2 * QF), 0)
        z = float(params.w2 / (1 << QF) @ h + params.b2 / (1 << 2 * QF))
        rho = 1 / (1 + math.exp(-min(max(z, -8.0), 8.0)))
        k = min(max(math.floor((1 - rho) * n_ + 0.5), params.k_min), n_)
    order = np.argsort(-prio, kind="stable")  # ties: lower index first
    mask = np.zeros(n_, np.int64)
    mask[order[:k]] = 1
    gate = np.where(mask == 1, params.gate_on, params.gate_off).astype(np.float64)
    return gate, mask, k
