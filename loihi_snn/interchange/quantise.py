"""A float population on Loihi's fixed point: one scale per population, 8-bit weights, 13-bit
bias, 17-bit threshold, 12-bit decays; and the quantisation error it costs.

The float model a population arrives in (every NIR neuron, read with a step ``dt``, is brought to
this discrete form by :mod:`.from_nir`):

    u[t] = (1 - du) u[t-1] + sum_k W_k x_k[t]        (synaptic current)
    v[t] = (1 - dv) v[t-1] + u[t] + b                (voltage), spike when v[t] > theta, v -> 0

Loihi's integer LIF computes the same with u, v scaled by s * 64 (:mod:`loihi_snn.loihi.
fixed_point`): weights round(W s) (8 bit), bias round(b s) (13 bit, applied << 6), threshold
round(theta s) (17 bit, compared as v > vth << 6), iDecay = round(4096 du), vDecay =
round(4096 dv), and the decays of u and v round toward zero at 1/64 of a weight unit. The scale is
the one the trained residual models use (``loihi_snn.models.resnet``): the largest that fits every
weight, the bias and the threshold; a population whose parameters are already integers that fit
(a file exported by this toolkit) keeps s = 1, so a round trip is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import LoihiSnnError
from ..ir.graph import Layer, Neuron, Projection
from ..loihi.limits import BIAS_MAX, DECAY_UNIT, NETX_FALLBACK_VTH, TRAINED_WEIGHT_MAX, VTH_MAX

EXACT_TOL = 1e-6  # this close to an integer is that integer (float32 files, tau round trips)


@dataclass
class FloatPopulation:
    """One population in the discrete float form of the module doc. ``name``: the NIR node;
    ``shape``: (C, H, W) or (features,); ``inputs``: projections with float weights (sources are
    IR layer indices); ``bias`` (neurons,) per step, voltage units; ``threshold`` None: a
    non-spiking readout (netx's never-spiking neuron, classes read from v)."""

    name: str
    shape: tuple[int, ...]
    inputs: list[Projection]
    bias: np.ndarray
    du: float
    dv: float
    threshold: float | None


@dataclass
class QuantError:
    """What quantising one population cost. ``weight``: RMS |round(W s) - W s| / RMS |W s| over
    all its weights; ``bias``: max |round(b s) - b s| in weight units of the result; ``threshold``,
    ``du``, ``dv``: relative errors of the threshold and of the two decays (0 where exact)."""

    name: str
    scale: float
    weight: float
    bias: float
    threshold: float
    du: float
    dv: float
    notes: list[str] = field(default_factory=list)


def _integral(values: list[np.ndarray]) -> bool:
    return all(np.all(np.abs(v - np.round(v)) <= EXACT_TOL * np.maximum(1, np.abs(v)))
               for v in values)


def population_scale(pop: FloatPopulation) -> float:
    """Integer units per float unit: 1 when every weight, the bias and the threshold are already
    integers in range, else the largest scale that fits them (module doc)."""
    weights = [np.asarray(p.weight, np.float64) for p in pop.inputs]
    w_max = max(float(np.abs(w).max()) for w in weights)
    b_max = float(np.abs(pop.bias).max(initial=0.0))
    theta = pop.threshold
    values = [*weights, pop.bias] + ([np.array([theta])] if theta is not None else [])
    fits = w_max <= TRAINED_WEIGHT_MAX and b_max <= BIAS_MAX
    if _integral(values) and fits and (theta is None or 1 <= theta <= VTH_MAX):
        return 1.0
    limits = [TRAINED_WEIGHT_MAX / w_max if w_max else math.inf]
    limits.append(BIAS_MAX / b_max if b_max else math.inf)
    limits.append(VTH_MAX / theta if theta is not None else math.inf)
    scale = min(limits)
    if not math.isfinite(scale):
        raise LoihiSnnError(f"node {pop.name}: all weights and the bias are 0: nothing to scale")
    return scale


def decay(value: float, name: str, where: str) -> tuple[int, float]:
    """A decay fraction (1 - the share kept per step) as a 12-bit integer of 4096, and its
    relative error."""
    if not math.isfinite(value) or not -EXACT_TOL <= value <= 1 + EXACT_TOL:
        raise LoihiSnnError(
            f"node {where}: {name} = dt/tau = {value:g} per step: Loihi's decays lie in [0, 1] "
            f"(tau >= dt); pass the dt the model was trained with (--dt)"
        )
    integer = int(round(value * DECAY_UNIT))
    return integer, abs(integer / DECAY_UNIT - value) / value if value else 0.0


def quantise(pop: FloatPopulation) -> tuple[Layer, QuantError]:
    """The IR population of ``pop`` and its quantisation error; parameters Loihi cannot hold are
    one LoihiSnnError naming the node."""
    scale = population_scale(pop)
    i_decay, du_err = decay(pop.du, "the current decay", pop.name)
    v_decay, dv_err = decay(pop.dv, "the voltage decay", pop.name)
    notes = []
    if pop.threshold is None:
        vth, th_err = NETX_FALLBACK_VTH, 0.0
    else:
        if not pop.threshold > 0:
            raise LoihiSnnError(
                f"node {pop.name}: threshold {pop.threshold:g} is not positive: Loihi spikes when "
                f"v > vth with vth in 1..{VTH_MAX}"
            )
        vth = int(round(pop.threshold * scale))
        if vth < 1:
            raise LoihiSnnError(
                f"node {pop.name}: threshold {pop.threshold:g} rounds to 0 at the scale "
                f"{scale:g} its weights need (up to {TRAINED_WEIGHT_MAX}): threshold and weights "
                f"are more than 8 bits apart"
            )
        th_err = abs(vth - pop.threshold * scale) / (pop.threshold * scale)
    projections, exact, rounded = [], [], []
    for p in pop.inputs:
        w = np.asarray(p.weight, np.float64) * scale
        projections.append(p.copy_with(p.source, np.round(w)))
        exact.append(w.reshape(-1))
        rounded.append(np.round(w).reshape(-1))
    exact_all, rounded_all = np.concatenate(exact), np.concatenate(rounded)
    rms = float(np.sqrt(np.mean(exact_all**2)))
    w_err = float(np.sqrt(np.mean((rounded_all - exact_all) ** 2))) / rms if rms else 0.0
    if np.any((rounded_all == 0) & (exact_all != 0)):
        share = float(np.mean((rounded_all == 0) & (exact_all != 0)))
        notes.append(f"{share:.1%} of the non-zero weights round to 0")
    bias = pop.bias * scale
    b_int = np.round(bias).astype(np.int64)
    b_err = float(np.abs(b_int - bias).max(initial=0.0))
    neuron = Neuron(i_decay, v_decay, vth)
    has_bias = bool(np.any(b_int))
    if i_decay == 0 and pop.du:
        notes.append("current decay rounds to 0 (tau_syn > 8192 dt): a perfect integrator")
    if v_decay == 0 and pop.dv:
        notes.append("voltage decay rounds to 0 (tau_mem > 8192 dt): no leak")
    layer = Layer("population", pop.shape, neuron, b_int if has_bias else None, projections)
    return layer, QuantError(pop.name, scale, w_err, b_err, th_err, du_err, dv_err, notes)


def format_errors(errors: list[QuantError]) -> str:
    """The per-layer quantisation report, one line per population."""
    lines = [
        f"{'layer':>5} {'node':24} {'scale':>9} {'weight rms err':>14} {'bias err':>9} "
        f"{'vth err':>8} {'iDecay err':>10} {'vDecay err':>10}"
    ]
    for i, e in enumerate(errors, start=1):
        lines.append(
            f"{i:>5} {e.name[:24]:24} {e.scale:>9.4g} {e.weight:>14.2%} {e.bias:>9.3g} "
            f"{e.threshold:>8.2%} {e.du:>10.2%} {e.dv:>10.2%}"
            + (f"  ({'; '.join(e.notes)})" if e.notes else "")
        )
    return "\n".join(lines)
