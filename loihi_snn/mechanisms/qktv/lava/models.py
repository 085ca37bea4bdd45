"""ProcessModels of ``Qktv``: ``fixed_pt`` runs the integer rule of
:mod:`loihi_snn.mechanisms.qktv.rules` (:func:`attention`, the function the fast backend runs, so
the two are bit-exact), ``floating_pt`` the float rule (:func:`float_attention`); both are exact
for X in 0..7.

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

from loihi_snn.mechanisms.qktv.lava.process import Qktv
from loihi_snn.mechanisms.qktv.rules import attention, float_attention
from loihi_snn.mechanisms.tokens import from_tokens, to_tokens


class _QktvModel(PyLoihiProcessModel):
    """One step, shared by both models: X = x_in + bias -> Attn and Attn > 0. Subclasses set
    ``_dtype`` and ``_rule(x (C, N), heads) -> Attn (C, N)``."""

    _dtype = np.int64

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.heads = proc_params["heads"]

    def run_spk(self) -> None:
        x = self.x_in.recv()
        attn = self._rule(to_tokens(x.astype(self._dtype) + self.bias), self.heads)
        self.out.send(from_tokens(attn, x.shape).astype(x.dtype))
        self.s_out.send(from_tokens(attn > 0, x.shape).astype(x.dtype))


@implements(proc=Qktv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyQktvModelFixed(_QktvModel):
    """Bit-exact: :func:`loihi_snn.mechanisms.qktv.rules.attention` on int64, int32 out."""

    _rule = staticmethod(attention)
    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)


@implements(proc=Qktv, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyQktvModelFloat(_QktvModel):
    """:func:`loihi_snn.mechanisms.qktv.rules.float_attention` in float64."""

    _dtype = np.float64
    _rule = staticmethod(float_attention)
    x_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
