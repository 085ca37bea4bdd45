"""ProcessModels of ``GradedDelay`` (fixed_pt: int32 payloads; floating_pt: floats). Absolute
imports only: Lava's compiler executes this file as a top-level module."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from loihi_snn.backends.graded_delay.process import GradedDelay


class _GradedDelayModel(PyLoihiProcessModel):
    def run_spk(self) -> None:
        x = self.s_in.recv()
        out = self.buffer[0].copy()
        self.buffer[:-1] = self.buffer[1:]
        self.buffer[-1] = x
        self.s_out.send(out)


@implements(proc=GradedDelay, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGradedDelayModelFixed(_GradedDelayModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    buffer: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)


@implements(proc=GradedDelay, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyGradedDelayModelFloat(_GradedDelayModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    buffer: np.ndarray = LavaPyType(np.ndarray, float)
