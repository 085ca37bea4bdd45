"""ProcessModels of ``TokenSelect``: ``fixed_pt`` runs the integer rules of
:mod:`loihi_snn.mechanisms.token_select.rules` (:func:`select_window` and :func:`replay_step`, the
functions the integer twin runs, so the two are bit-exact); ``floating_pt`` the same statistics
with exact exp, sigmoid and a float predictor
(:func:`loihi_snn.mechanisms.token_select.rules.float_select`).

Absolute imports only: Lava's compiler executes this file as a top-level module.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from loihi_snn.mechanisms.token_select.lava.process import TokenSelect
from loihi_snn.mechanisms.token_select.rules import (
    SelectParams,
    float_select,
    replay_step,
    select_window,
)
from loihi_snn.mechanisms.tokens import from_tokens, to_tokens


class _TokenSelectModel(PyLoihiProcessModel):
    """Time handling shared by both models (process.py's module doc). Subclasses set
    ``_select(s) -> (prio, mask, gate, k, rho)`` for one window s (C, N, T) int64."""

    _float = False

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.steps = proc_params["steps"]
        self.offset = proc_params["offset"]
        self.chw = proc_params["chw"]

    def run_spk(self) -> None:
        x = self.x_in.recv()
        k = self.time_step - 1 - self.offset
        shape = x.shape
        if k < 0:
            self.y_out.send(np.zeros_like(x))
            self.s_out.send(np.zeros_like(x))
            return
        t = k % self.steps
        c, n = self.cur.shape[:2]
        y = np.zeros((c, n), np.int64)
        r = np.zeros((c, n), np.int64)
        if k >= self.steps:  # replay the last finished window
            prev = np.ascontiguousarray(self.prev[:, :, t], np.int64)
            gate = np.ascontiguousarray(self.gate, np.int64)
            replay_step(prev, gate, np.ascontiguousarray(self.mask, np.int64), y, r)
        drive = to_tokens(x).astype(np.float64 if self._float else np.int64) + to_tokens(self.bias)
        self.cur[:, :, t] = (drive > 0).astype(self.cur.dtype)
        if t == self.steps - 1:
            prio, mask, gate, k_sel, rho = self._select(np.ascontiguousarray(self.cur, np.int64))
            self.prio[:] = prio
            self.mask[:] = mask
            self.gate[:] = gate
            self.k[:] = k_sel
            self.rho[:] = rho
            self.prev[:] = self.cur
        self.y_out.send(from_tokens(y, shape).astype(x.dtype))
        self.s_out.send(from_tokens(r, shape).astype(x.dtype))

    def _params(self) -> SelectParams:
        return SelectParams(
            self.chw, self.steps, self.lut_first, self.lut_isi, self.lut_rate, int(self.k_fixed[0]),
            int(self.k_min[0]), self.w1, self.b1, self.w2, int(self.b2[0]), self.lut_sig,
            int(self.gate_on[0]), int(self.gate_off[0]), float(self.alpha[0]),
            float(self.beta[0]), float(self.gamma[0]),
        )


@implements(proc=TokenSelect, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTokenSelectModelFixed(_TokenSelectModel):
    """Bit-exact: :func:`loihi_snn.mechanisms.token_select.rules.select_window` on int64."""

    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=8)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    cur: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    prev: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    prio: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    mask: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    gate: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    k: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    rho: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    lut_first: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    lut_isi: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    lut_rate: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    lut_sig: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    w1: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    b1: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    w2: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    b2: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    k_fixed: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    k_min: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    gate_on: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    gate_off: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    alpha: np.ndarray = LavaPyType(np.ndarray, float)
    beta: np.ndarray = LavaPyType(np.ndarray, float)
    gamma: np.ndarray = LavaPyType(np.ndarray, float)

    def _select(self, s: np.ndarray) -> tuple:
        n = s.shape[1]
        prio = np.empty(n, np.int64)
        mask = np.empty(n, np.int64)
        gate = np.empty(n, np.int64)
        rho, k = select_window(s, *self._params().args(), prio, mask, gate)
        return prio, mask, gate, k, rho


@implements(proc=TokenSelect, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTokenSelectModelFloat(_TokenSelectModel):
    """Exact exp and sigmoid, float predictor
    (:func:`loihi_snn.mechanisms.token_select.rules.float_select`);
    payloads s g in the same units (gate Q4)."""

    _float = True
    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    cur: np.ndarray = LavaPyType(np.ndarray, float)
    prev: np.ndarray = LavaPyType(np.ndarray, float)
    prio: np.ndarray = LavaPyType(np.ndarray, float)
    mask: np.ndarray = LavaPyType(np.ndarray, float)
    gate: np.ndarray = LavaPyType(np.ndarray, float)
    k: np.ndarray = LavaPyType(np.ndarray, float)
    rho: np.ndarray = LavaPyType(np.ndarray, float)
    lut_first: np.ndarray = LavaPyType(np.ndarray, float)
    lut_isi: np.ndarray = LavaPyType(np.ndarray, float)
    lut_rate: np.ndarray = LavaPyType(np.ndarray, float)
    lut_sig: np.ndarray = LavaPyType(np.ndarray, float)
    w1: np.ndarray = LavaPyType(np.ndarray, float)
    b1: np.ndarray = LavaPyType(np.ndarray, float)
    w2: np.ndarray = LavaPyType(np.ndarray, float)
    b2: np.ndarray = LavaPyType(np.ndarray, float)
    k_fixed: np.ndarray = LavaPyType(np.ndarray, float)
    k_min: np.ndarray = LavaPyType(np.ndarray, float)
    gate_on: np.ndarray = LavaPyType(np.ndarray, float)
    gate_off: np.ndarray = LavaPyType(np.ndarray, float)
    alpha: np.ndarray = LavaPyType(np.ndarray, float)
    beta: np.ndarray = LavaPyType(np.ndarray, float)
    gamma: np.ndarray = LavaPyType(np.ndarray, float)

    def _select(self, s: np.ndarray) -> tuple:
        gate, mask, k = float_select(s, self._params())
        return np.zeros(s.shape[1]), mask, gate, k, 0.0
