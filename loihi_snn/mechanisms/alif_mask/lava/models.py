"""ProcessModels of ``AlifMask``: ``fixed_pt`` runs the integer rules of
:mod:`loihi_snn.mechanisms.alif_mask.rules` (the functions the integer twin runs, so the two are
bit-exact), ``floating_pt`` the same rules in float64 without rounding
(:func:`loihi_snn.mechanisms.alif_mask.rules.float_step`).

Both keep their state in the process's Vars (Lava's (W, H, C) order, Q12 units; floats in the
floating_pt model) and compute in (C, H, W) copies. Absolute imports only: Lava's compiler
executes this file as a top-level module.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from loihi_snn.mechanisms.alif_mask.lava.process import AlifMask
from loihi_snn.mechanisms.alif_mask.rules import (
    FROZEN,
    MaskParams,
    float_step,
    mask_step,
    start_sample,
)


def _swap(array: np.ndarray, dtype: type) -> np.ndarray:
    """(W, H, C) <-> (C, H, W), as a contiguous copy of ``dtype``."""
    return np.ascontiguousarray(np.transpose(array, (2, 1, 0)), dtype)


class _AlifMaskModel(PyLoihiProcessModel):
    """Time handling shared by both models (process.py's module doc). Subclasses set ``_dtype``
    and ``_step(x, u, a) -> (y, s, theta)``: one step on (C, H, W) arrays, u and a in place."""

    _dtype = np.int64

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.steps = proc_params["steps"]
        self.offset = proc_params["offset"]
        self.mode = proc_params["mode"]
        self.eps = proc_params["eps"]
        self.frozen = proc_params["frozen"]

    def run_spk(self) -> None:
        x = self.x_in.recv()
        k = self.time_step - 1 - self.offset
        if k < 0:
            self.y_out.send(np.zeros_like(x))
            self.s_out.send(np.zeros_like(x))
            return
        u, a = _swap(self.u, self._dtype), _swap(self.a, self._dtype)
        if k % self.steps == 0:
            start_sample(u, a, _swap(self.a_init, self._dtype), self.mode)
        y, s, theta = self._step(_swap(x + self.bias, self._dtype), u, a)
        self.u[:] = _swap(u, self.u.dtype)
        self.a[:] = _swap(a, self.a.dtype)
        self.theta[:] = _swap(theta, self.theta.dtype)
        self.y_out.send(_swap(y, x.dtype))
        self.s_out.send(_swap(s, x.dtype))


@implements(proc=AlifMask, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyAlifMaskModelFixed(_AlifMaskModel):
    """Bit-exact: :func:`loihi_snn.mechanisms.alif_mask.rules.mask_step` on int64."""

    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    a: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    a_init: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    theta: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    dw1: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    pw1: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    dw2: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    pw2: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    shift1: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
    shift2: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
    lam: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    rho: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    gamma: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    theta0: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    norm_lo: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    norm_span: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=25)

    def _step(
        self, x: np.ndarray, u: np.ndarray, a: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        theta, y, s = np.empty_like(u), np.empty_like(u), np.empty_like(u)

        def weight(w: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(w, np.int64)

        mask_step(
            x, weight(self.dw1), weight(self.pw1), int(self.shift1[0]), weight(self.dw2),
            weight(self.pw2), int(self.shift2[0]), int(self.lam[0]), int(self.rho[0]),
            int(self.gamma[0]), int(self.theta0[0]), weight(self.norm_lo[: self.frozen]),
            weight(self.norm_span[: self.frozen]),
            self.mode != FROZEN, u, a, theta, y, s,
        )
        return y, s, theta


@implements(proc=AlifMask, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyAlifMaskModelFloat(_AlifMaskModel):
    """The same rules in float64, no rounding
    (:func:`loihi_snn.mechanisms.alif_mask.rules.float_step`)."""

    _dtype = np.float64
    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    y_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    a: np.ndarray = LavaPyType(np.ndarray, float)
    a_init: np.ndarray = LavaPyType(np.ndarray, float)
    theta: np.ndarray = LavaPyType(np.ndarray, float)
    dw1: np.ndarray = LavaPyType(np.ndarray, float)
    pw1: np.ndarray = LavaPyType(np.ndarray, float)
    dw2: np.ndarray = LavaPyType(np.ndarray, float)
    pw2: np.ndarray = LavaPyType(np.ndarray, float)
    shift1: np.ndarray = LavaPyType(np.ndarray, float)
    shift2: np.ndarray = LavaPyType(np.ndarray, float)
    lam: np.ndarray = LavaPyType(np.ndarray, float)
    rho: np.ndarray = LavaPyType(np.ndarray, float)
    gamma: np.ndarray = LavaPyType(np.ndarray, float)
    theta0: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    norm_lo: np.ndarray = LavaPyType(np.ndarray, float)
    norm_span: np.ndarray = LavaPyType(np.ndarray, float)

    def _step(
        self, x: np.ndarray, u: np.ndarray, a: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        params = MaskParams(
            self.dw1, self.pw1, self.shift1[0], self.dw2, self.pw2, self.shift2[0],
            self.lam[0], self.rho[0], self.gamma[0], self.theta0[0], _swap(self.a_init, np.int64),
            self.norm_lo[: self.frozen], self.norm_span[: self.frozen],
        )
        return float_step(x, params, self.eps, self.mode != FROZEN, u, a)
