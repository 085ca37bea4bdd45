"""The ``TokenSelect`` Lava process: SPARTA's spike-timing token selection and Eq. 9 gating fused
into one process.

Ports use Lava's (x, y, z) = (W, H, C) order, as Lava's Conv and netx's conv layers do; inside,
the models work on (C, N, T) with token j = h W + w.

Timing. ``offset`` is the global step at which the first step of sample 0 reaches ``x_in`` (0 for
a RingBuffer wired to it, 1 per Dense/Conv hop before it). Sample j's window occupies global steps
offset + j T ... + T - 1; at its last step the process selects the tokens, and during the next
window (offset + (j + 1) T + t, t = 0..T-1) it replays the window's spikes step for step: ``y_out``
sends the graded payloads s g, ``s_out`` the binary spikes of the selected tokens s M. Before the
first replay both send zeros. A run of n samples therefore needs n T + offset + T steps (latency T).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from loihi_snn.mechanisms.token_select.rules import SelectParams


class TokenSelect(AbstractProcess):
    """Token selection for one sample stream (B = 1).

    params: the integer description
    (:class:`loihi_snn.mechanisms.token_select.rules.SelectParams`: LUTs, K rule, predictor,
    gates; its ``steps`` is T); offset: see the module doc; bias: the layer's bias
    (C, H, W) integers added to X (as the fast backend adds it), or None.

    Ports (shape (W, H, C)): ``x_in`` X (a spike where X > 0), ``y_out`` graded payloads,
    ``s_out`` the recorded binary spikes. Vars: ``bias`` (W, H, C); ``cur``, ``prev`` (C, N, T)
    the spikes of the current and the last finished window; ``prio``, ``mask``, ``gate`` (N,),
    ``k`` and ``rho`` (1,) of the last selection (rho Q15, 0 in fixed-K mode); the parameters
    (LUTs, predictor, scalars (1,)) as Vars of the same names.
    """

    def __init__(
        self,
        *,
        params: SelectParams,
        offset: int = 0,
        bias: np.ndarray | None = None,
        name: str | None = None,
    ) -> None:
        c, h, w = params.shape
        shape = (w, h, c)
        n = h * w
        super().__init__(
            shape=shape, chw=params.shape, steps=params.steps, offset=int(offset), name=name
        )
        self.x_in = InPort(shape=shape)
        self.y_out = OutPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        bias = np.zeros(params.shape, np.int64) if bias is None else np.asarray(bias, np.int64)
        self.bias = Var(shape=shape, init=np.ascontiguousarray(np.transpose(bias, (2, 1, 0))))
        self.cur = Var(shape=(c, n, params.steps), init=0)
        self.prev = Var(shape=(c, n, params.steps), init=0)
        self.prio = Var(shape=(n,), init=0)
        self.mask = Var(shape=(n,), init=0)
        self.gate = Var(shape=(n,), init=0)
        self.k = Var(shape=(1,), init=0)
        self.rho = Var(shape=(1,), init=0)
        for key in ("lut_first", "lut_isi", "lut_rate", "w1", "b1", "w2", "lut_sig"):
            value = getattr(params, key)
            setattr(self, key, Var(shape=value.shape, init=value))
        for key in ("k_fixed", "k_min", "b2", "gate_on", "gate_off", "alpha", "beta", "gamma"):
            setattr(self, key, Var(shape=(1,), init=getattr(params, key)))
