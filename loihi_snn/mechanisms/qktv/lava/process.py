"""The ``Qktv`` Lava process: SpiLiFormer's attention product Attn = Q (K^T V) per step and head.

Ports and Vars use Lava's (x, y, z) = (W, H, C) order, as Lava's Conv and netx's conv layers do;
inside, the models work on (D, N) with token n = h W + w.

Timing. The process adds no step and keeps no state: at every step it reads X and sends Attn and
its spikes for that same step (zeros while X is 0, e.g. before the first sample arrives).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class Qktv(AbstractProcess):
    """Attn = Q (K^T V) for one sample stream (B = 1).

    shape: the layer's (D, H, W); heads: attention heads (dividing D); bias: the layer's bias
    (D, H, W) integers added to X (as the fast backend adds it), or None.

    Ports (shape (W, H, D)): ``x_in`` X = Q + 2 K + 4 V (integers in 0..7), ``out`` the graded
    payloads Attn (0..N d), ``s_out`` the recorded spikes Attn > 0. Var: ``bias`` (W, H, D).
    """

    def __init__(
        self,
        *,
        shape: tuple[int, int, int],
        heads: int,
        bias: np.ndarray | None = None,
        name: str | None = None,
    ) -> None:
        c, h, w = shape
        lava_shape = (w, h, c)
        super().__init__(shape=lava_shape, heads=int(heads), name=name)
        self.x_in = InPort(shape=lava_shape)
        self.out = OutPort(shape=lava_shape)
        self.s_out = OutPort(shape=lava_shape)
        bias = np.zeros(shape, np.int64) if bias is None else np.asarray(bias, np.int64)
        self.bias = Var(shape=lava_shape, init=np.ascontiguousarray(np.transpose(bias, (2, 1, 0))))
