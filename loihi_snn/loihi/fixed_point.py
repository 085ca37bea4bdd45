"""Loihi's fixed-point arithmetic as Lava's ``fixed_pt`` models compute it: the one definition of
the integer rules that the fast backend (and the custom processes' twins) use.

Compiled with numba; every value is computed as an int64 holding an integer (the states u and v are
stored in int32 arrays: they stay within its range). Where Lava's numpy code passes a value through
an int32 (channels, ``np.int32`` casts, int32 sums) the same two's-complement wrap is applied here,
so results match Lava bit for bit even outside the intended ranges. Line numbers are those of
lava-nc 0.10.0 (``lava/proc/lif/models.py``, ``lava/proc/dense/models.py``, ``lava/proc/conv``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .limits import STATE_BITS

# GNU OpenMP where numba finds it (beside torch's own OpenMP pool it runs the kernels ~25% faster
# than numba's workqueue), else the workqueue. GNU OpenMP is not fork-safe for a child that opens
# a parallel region: the runtime processes Lava forks from this process run only serial code.
numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]

DECAY_SHIFT = 12  # decays are 12-bit fractions of 4096 (lif/models.py L94-108)
ACT_SHIFT = 6  # synaptic input and threshold are MSB-aligned by << 6
MAX_UV = 1 << (STATE_BITS - 1)  # u wraps and v clips at 24 bits
BLOCK = 2048  # neurons per parallel work item


@njit(inline="always")
def wrap_int32(x: int) -> int:
    """Two's-complement wrap to int32, as numpy does when an int64 result lands in an int32."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@njit(inline="always")
def rshift0(x: int, bits: int) -> int:
    """Right shift rounding toward zero: sign(x) * (|x| >> bits)."""
    return (x + ((x >> 63) & ((1 << bits) - 1))) >> bits


@njit(inline="always")
def lif_update(u: int, v: int, a: int, cu: int, cv: int, bias: int, vth: int) -> tuple:
    """One step of Lava's bit-accurate LIF (``PyLifModelBitAcc``, lif/models.py L145-218).

    u, v: current and voltage; a: synaptic input (an int32 on the wire); cu = 4096 - (du + 1) and
    cv = 4096 - dv: 12-bit decay complements; bias: ``bias_mant << bias_exp``; vth: threshold
    mantissa, compared as ``v > vth << 6``. Returns (u, v after reset, spike 0/1). Branch-free,
    so that numba vectorises the loops that call it.
    """
    u = wrap_int32(
        wrap_int32(rshift0(u * cu, DECAY_SHIFT)) + wrap_int32(wrap_int32(a) << ACT_SHIFT)
    )
    # a single wrap, as in Lava (L160-168): u > 2^23 loses 2^24, u <= -2^23 gains 2^24
    u = u - 2 * MAX_UV * (u > MAX_UV) + 2 * MAX_UV * (u <= -MAX_UV)
    v = wrap_int32(wrap_int32(rshift0(v * cv, DECAY_SHIFT)) + u + bias)
    v = min(max(v, -(MAX_UV - 1)), MAX_UV - 1)
    spike = np.int64(v > (vth << ACT_SHIFT))
    return u, v * (1 - spike), spike


@njit(inline="always")
def dendrite(acc: float, kind: int, exponent: int) -> int:
    """Finish a synapse's accumulated integer sum (an int, or held exactly in a float) as Lava does.

    kind 1, Dense (dense/models.py L96-107): the weight exponent as ``<<`` or an arithmetic (floor)
    ``>>``. kind 2, Conv (conv/utils.py signed_clamp): a 24-bit wrap. kind 3: an input already
    finished per synapse and summed (several projections into one population). kind 0: no synapse.
    """
    if kind == 0:
        return 0
    x = np.int64(acc)
    if kind == 3:
        return x
    if kind == 1:
        return x << exponent if exponent > 0 else x >> -exponent
    return ((x + MAX_UV) & ((1 << 24) - 1)) - MAX_UV


@njit(inline="always")
def _lif_loop(
    acc: np.ndarray,
    kind: int,
    exponent: int,
    cu: int,
    cv: int,
    bias: np.ndarray,
    vth: int,
    u: np.ndarray,
    v: np.ndarray,
    spikes: np.ndarray,
) -> None:
    """:func:`lif_step`'s loop (compiled per constant kind and cu = 0)."""
    for i in range(u.size):
        a = dendrite(acc[i], kind, exponent) if kind else 0
        u[i], v[i], spikes[i] = lif_update(u[i], v[i], a, cu, cv, bias[i], vth)


@njit(inline="always")
def lif_step(
    acc: np.ndarray,
    kind: int,
    exponent: int,
    cu: int,
    cv: int,
    bias: np.ndarray,
    vth: int,
    u: np.ndarray,
    v: np.ndarray,
    spikes: np.ndarray,
) -> None:
    """One time step of N neurons: acc (N,) synaptic sums finished by :func:`dendrite` with
    ``kind`` and ``exponent`` (unread for kind 0); bias (N,); u, v (N,) states, updated in place;
    spikes (N,) written 0/1. Pass ``kind`` as a constant: the loop is then branch-free and
    vectorises. cu = 0 (no current carried over: iDecay 4096, as in lava-dl's CUBA networks) is
    compiled with the constant, which drops the current's decay (a third faster)."""
    if cu == 0:
        _lif_loop(acc, kind, exponent, 0, cv, bias, vth, u, v, spikes)
    else:
        _lif_loop(acc, kind, exponent, cu, cv, bias, vth, u, v, spikes)


@njit(parallel=True, cache=True)
def lif_run(
    acc: np.ndarray,
    kind: int,
    exponent: int,
    cu: int,
    cv: int,
    bias: np.ndarray,
    vth: int,
    spikes: np.ndarray,
    u_out: np.ndarray,
    v_out: np.ndarray,
    record: bool,
) -> None:
    """Run a LIF population from zero state over T steps for a batch.

    acc: synaptic sums (B, T, N), integers in any int or float dtype, finished by :func:`dendrite`
    with ``kind`` and ``exponent`` (unread for kind 0: any non-empty 3-D array); bias: (B, N)
    effective bias, int64 or int32. Writes spikes (B, T, N) as 0/1 in their dtype (float32 for a
    next layer's float input) and, when ``record``, u_out and v_out (B, T, N) int64, the states
    after each step.
    """
    batch, steps, neurons = spikes.shape
    blocks = (neurons + BLOCK - 1) // BLOCK
    for item in prange(batch * blocks):
        b = item // blocks
        lo = (item % blocks) * BLOCK
        hi = min(lo + BLOCK, neurons)
        u = np.zeros(hi - lo, np.int32)  # u and v stay within int32 (wrapped, clipped)
        v = np.zeros(hi - lo, np.int32)
        a = np.zeros(hi - lo, np.int64)  # contiguous: lif_step's loop vectorises
        bias_b = np.empty(hi - lo, np.int64)
        bias_b[:] = bias[b, lo:hi]
        for t in range(steps):
            if kind == 1:  # a constant kind per loop
                for j in range(hi - lo):
                    a[j] = dendrite(acc[b, t, lo + j], 1, exponent)
            elif kind == 2:
                for j in range(hi - lo):
                    a[j] = dendrite(acc[b, t, lo + j], 2, 0)
            elif kind == 3:
                for j in range(hi - lo):
                    a[j] = np.int64(acc[b, t, lo + j])
            spikes_bt = spikes[b, t, lo:hi]
            if kind == 0:
                lif_step(a, 0, exponent, cu, cv, bias_b, vth, u, v, spikes_bt)
            else:
                lif_step(a, 3, 0, cu, cv, bias_b, vth, u, v, spikes_bt)
            if record:
                u_out[b, t, lo:hi] = u
                v_out[b, t, lo:hi] = v


# Sigma-delta neurons as netx builds them (lava-dl 0.6.0 ``netx/hdf5.py`` get_neuron_params:
# spike_exp = state_exp = 6) and Lava runs them (``lava/proc/sdn/models.py``, fixed_pt; every
# state an int32 array, so every sum wraps as int32).
SD_SCALE = 12  # spike_exp + state_exp: Delta's input, and the threshold and bias, are << 12
SD_STATE_EXP = 6  # a sent change is the scaled delta >> 6
SD_DELTA, SD_SIGMA_DELTA, SD_SIGMA = 0, 1, 2  # the roles: encoder, hidden neuron, decoder
_INT32_MIN = -(1 << 31)


def wrap_int32_array(x: np.ndarray) -> np.ndarray:
    """:func:`wrap_int32` of an int64 array."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@njit(parallel=True, cache=True)
def sigma_delta_run(
    a_in: np.ndarray,
    role: int,
    bias: np.ndarray,
    vth: int,
    sigma: np.ndarray,
    act: np.ndarray,
    residue: np.ndarray,
    out: np.ndarray,
) -> None:
    """Run sigma-delta neurons over S steps from the states they hold (one stream: netx builds
    them without reset).

    a_in: (S, N) integer input per step (a Delta's value, or the int32 its synapses send);
    role: SD_DELTA (``PyDeltaModelFixed``: act = a_in << 12), SD_SIGMA_DELTA
    (``PySigmaDeltaModelFixed``: sigma += a_in, act = ReLU(sigma + bias)) or SD_SIGMA
    (``PySigmaModelFixed``: sends sigma += a_in); bias (N,) the bias mantissa << 12 and vth the
    threshold mantissa << 12 (the Vars' scaling); sigma, act, residue (N,) int64 states updated in
    place. Delta and SigmaDelta send the change delta = act - act_before + residue when
    |delta| >= vth (an int32 |-2^31| stays negative, as numpy's), as delta >> 6, and keep the rest
    as residue. Writes out (S, N) int32.
    """
    steps, neurons = a_in.shape
    blocks = (neurons + BLOCK - 1) // BLOCK
    for item in prange(blocks):
        lo = item * BLOCK
        hi = min(lo + BLOCK, neurons)
        for t in range(steps):
            for j in range(lo, hi):
                a = wrap_int32(np.int64(a_in[t, j]))
                if role == SD_SIGMA:
                    sigma[j] = wrap_int32(sigma[j] + a)
                    out[t, j] = sigma[j]
                    continue
                if role == SD_DELTA:
                    new = wrap_int32(a << SD_SCALE)
                else:
                    sigma[j] = wrap_int32(sigma[j] + a)
                    new = max(wrap_int32(sigma[j] + bias[j]), 0)
                delta = wrap_int32(new - act[j] + residue[j])
                sent = delta if delta != _INT32_MIN and abs(delta) >= vth else 0
                residue[j] = delta - sent
                act[j] = new
                out[t, j] = sent >> SD_STATE_EXP


# Resonate-and-fire neurons as netx builds them (get_neuron_params: state_exp 6, decay_bits 12)
# and Lava runs them (``lava/proc/rf/models.py`` PyRFModelFixed, ``lava/proc/rf_iz/models.py``
# PyRF_IZModelFixed): the input an int32 << 6 (wrapping), decays applied as sign(x) * (|x| >> 12)
# in int64, the states clipped to 24 bits (12-bit decays: ri_bitwidth 2 x 12).
RF_STATE_EXP = 6  # the synaptic input and the threshold are << 6
RF_LIMIT = (1 << 23) - 1  # real and imag clip to [-RF_LIMIT, RF_LIMIT]


@njit(inline="always")
def resonator_update(
    real: int, imag: int, a_real: int, a_imag: int, sin: int, cos: int, vth: int, iz: bool
) -> tuple:
    """One step of Lava's fixed-point RF (``iz``: RF_IZ) neuron: (real, imag) the state, a_real
    and a_imag the int32 inputs its two synapses send, sin and cos its 12-bit decays, vth the
    threshold << 6. Returns (real, imag, spike 0/1)."""
    a_real = wrap_int32(wrap_int32(a_real) << RF_STATE_EXP)
    a_imag = wrap_int32(wrap_int32(a_imag) << RF_STATE_EXP)
    new_real = rshift0(cos * real, DECAY_SHIFT) - rshift0(sin * imag, DECAY_SHIFT) + a_real
    new_imag = rshift0(sin * real, DECAY_SHIFT) + rshift0(cos * imag, DECAY_SHIFT) + a_imag
    new_real = min(max(new_real, -RF_LIMIT), RF_LIMIT)
    new_imag = min(max(new_imag, -RF_LIMIT), RF_LIMIT)
    if iz:
        spike = np.int64(new_imag >= vth)
        return new_real * (1 - spike), spike * (vth - 1) + (1 - spike) * new_imag, spike
    spike = np.int64(new_real >= vth and new_imag >= 0 and imag < 0)
    return new_real, new_imag, spike


@njit(parallel=True, cache=True)
def resonator_run(
    a_real: np.ndarray,
    a_imag: np.ndarray,
    sin: int,
    cos: int,
    vth: int,
    iz: bool,
    real: np.ndarray,
    imag: np.ndarray,
    spikes: np.ndarray,
    real_out: np.ndarray,
    imag_out: np.ndarray,
    record: bool,
) -> None:
    """Run RF (or RF_IZ) neurons over S steps from the states they hold (one stream: netx builds
    them without reset).

    a_real, a_imag: (S, N) integer inputs per step (what the real and the imaginary synapses
    send); sin, cos: the decays of :class:`loihi_snn.ir.graph.Resonator`; vth: the threshold
    mantissa (compared as vth << 6); real, imag: (N,) int64 states, updated in place. Writes
    spikes (S, N) 0/1 and, when ``record``, real_out and imag_out (S, N) int64, the states after
    each step.
    """
    steps, neurons = a_real.shape
    threshold = vth << RF_STATE_EXP
    blocks = (neurons + BLOCK - 1) // BLOCK
    for item in prange(blocks):
        lo = item * BLOCK
        hi = min(lo + BLOCK, neurons)
        for t in range(steps):
            for j in range(lo, hi):
                real[j], imag[j], spikes[t, j] = resonator_update(
                    real[j], imag[j], np.int64(a_real[t, j]), np.int64(a_imag[t, j]), sin, cos,
                    threshold, iz,
                )
                if record:
                    real_out[t, j] = real[j]
                    imag_out[t, j] = imag[j]


@njit(cache=True)
def lif_recurrent_run(
    ff: np.ndarray,
    resets: np.ndarray,
    rows: np.ndarray,
    exponent: int,
    cu: int,
    cv: int,
    bias: np.ndarray,
    vth: int,
    last: np.ndarray,
    spikes: np.ndarray,
    u_out: np.ndarray,
    v_out: np.ndarray,
    record: bool,
) -> None:
    """A LIF population with a recurrent dense synapse (netx's RecurrentDense) over S steps, one
    after another: at each step its input is ``ff`` (S, N), the finished feed-forward input, plus
    its own spikes of the step before through ``rows`` (N, N) int32 (source neuron -> its weight
    row, as Lava's Dense applies them) finished by :func:`dendrite` with ``exponent``; u and v start
    at 0 and are zeroed before the steps where ``resets`` (S,) is true (netx's LIFReset).

    bias (N,) as for :func:`lif_run`; last (N,) int8: the spikes of the step before the first
    (updated to those of the last step). Writes spikes (S, N) 0/1 and, when ``record``, u_out
    and v_out (S, N) int64.
    """
    steps, neurons = ff.shape
    u = np.zeros(neurons, np.int32)
    v = np.zeros(neurons, np.int32)
    rec = np.zeros(neurons, np.int64)
    a = np.zeros(neurons, np.int64)
    for t in range(steps):
        if resets[t]:
            u[:] = 0
            v[:] = 0
        rec[:] = 0
        for j in range(neurons):
            if last[j]:
                for k in range(neurons):
                    rec[k] += rows[j, k]
        for k in range(neurons):
            a[k] = np.int64(ff[t, k]) + wrap_int32(dendrite(rec[k], 1, exponent))
        lif_step(a, 3, 0, cu, cv, bias, vth, u, v, last)
        for k in range(neurons):
            spikes[t, k] = last[k]
        if record:
            u_out[t] = u
            v_out[t] = v
