"""The ``AlifMask`` Lava process: BIASNN's attention mask fused into one process.

Ports and Vars use Lava's (x, y, z) = (W, H, C) order, as Lava's Conv and netx's conv layers do,
so that a Conv can feed ``x_in`` and read ``y_out`` directly. Weights keep torch's order.

Timing. The process adds no step: at global step k (Lava's ``time_step - 1``) it reads X and
sends Y and the spikes of that same step (the mask of step t gates X of step t, as in the paper).
``offset`` is the global step at which the first step of sample 0 arrives (0 when a RingBuffer
feeds ``x_in`` directly, 1 per Dense/Conv hop before it). Before ``offset`` the process sends
zeros and keeps its state; afterwards sample j occupies steps offset + j*steps ... + steps - 1 and
u (and a, in mode ``reset``) is reset at the first of them.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from loihi_snn.mechanisms.alif_mask.rules import MaskParams, mode_index


def _lava(array: np.ndarray) -> np.ndarray:
    """(C, H, W) -> Lava's (W, H, C)."""
    return np.ascontiguousarray(np.transpose(array, (2, 1, 0)))


class AlifMask(AbstractProcess):
    """BIASNN's ALIF attention mask for one sample stream (B = 1).

    params: the integer description (weights, shifts, Q12 parameters, initial adaptation state);
    steps: time steps per sample (T); mode: threshold state across samples, ``persist``,
    ``reset`` or ``frozen`` (:mod:`loihi_snn.mechanisms.alif_mask.rules`); offset: see the module
    doc; bias (C, H, W): integers added to ``x_in`` (X = x_in + bias, the layer bias of a graph
    file); eps: the floating_pt model's normalisation epsilon (units of X; fixed_pt uses 1 LSB).

    Ports (shape (W, H, C)): ``x_in`` the graded signal X, ``y_out`` the gated Y (graded),
    ``s_out`` the ALIF spikes (1 = value eliminated; the mask is 1 - s).
    Vars (W, H, C), Q12: ``u`` membrane, ``a`` adaptation, ``theta`` threshold of the next step,
    ``a_init`` the state ``reset`` returns to. Weights: ``dw1`` (2, 5, 5), ``pw1`` (C/r, 2),
    ``dw2`` (C/r, 7, 7), ``pw2`` (C, C/r); scalars (1,): ``shift1``, ``shift2``, ``lam``, ``rho``,
    ``gamma``, ``theta0``; ``bias`` (W, H, C); ``norm_lo``, ``norm_span`` (C,): the frozen
    statistics of the neurocore-only variant (one unused entry each when not frozen).
    """

    def __init__(
        self,
        *,
        params: MaskParams,
        steps: int,
        mode: str = "reset",
        offset: int = 0,
        bias: np.ndarray | None = None,
        eps: float = 1e-6,
        name: str | None = None,
    ) -> None:
        shape = params.shape[::-1]
        frozen = int(params.norm_span.size)
        super().__init__(
            shape=shape, steps=int(steps), mode=mode_index(mode), offset=int(offset),
            eps=float(eps), frozen=frozen, name=name,
        )
        self.x_in = InPort(shape=shape)
        self.y_out = OutPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.a = Var(shape=shape, init=_lava(params.a_init))
        self.a_init = Var(shape=shape, init=_lava(params.a_init))
        # a and gamma are >= 0, so >> is the rshift0 of the rules
        theta = params.theta0 + (params.gamma * params.a_init >> 12)
        self.theta = Var(shape=shape, init=_lava(theta))
        for key in ("dw1", "pw1", "dw2", "pw2"):
            weight = getattr(params, key)
            setattr(self, key, Var(shape=weight.shape, init=weight))
        for key in ("shift1", "shift2", "lam", "rho", "gamma", "theta0"):
            setattr(self, key, Var(shape=(1,), init=getattr(params, key)))
        bias = np.zeros(params.shape, np.int64) if bias is None else bias.reshape(params.shape)
        self.bias = Var(shape=shape, init=_lava(bias))
        # Vars cannot be empty: one unused entry when the statistics are not frozen
        for key in ("norm_lo", "norm_span"):
            value = getattr(params, key) if frozen else np.ones(1, np.int64)
            setattr(self, key, Var(shape=value.shape, init=value))
