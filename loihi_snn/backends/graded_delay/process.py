"""The ``GradedDelay`` Lava process: out[k] = in[k - delay] (zeros for the first ``delay`` steps),
graded payloads passed through unchanged. Lag 0 inside a step like any direct port connection,
so the process adds exactly ``delay`` steps."""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class GradedDelay(AbstractProcess):
    """Delay line of ``delay`` >= 1 steps for a stream of ``shape`` (Lava's order).

    Ports: ``s_in``, ``s_out`` (graded). Var ``buffer`` (delay, *shape): the payloads in flight,
    oldest first."""

    def __init__(self, *, shape: tuple[int, ...], delay: int, name: str | None = None) -> None:
        if delay < 1:
            raise ValueError(f"GradedDelay needs delay >= 1, got {delay}")
        super().__init__(shape=shape, delay=delay, name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.buffer = Var(shape=(delay, *shape), init=0)
