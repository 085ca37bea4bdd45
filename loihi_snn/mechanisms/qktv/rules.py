"""SpiLiFormer's FB-LiDiff attention product Attn = Q (K^T V) (the SpiLiFormer paper): its integer
rule, the float reference (the floating_pt model's rule) and the parameter record. numpy only.

One time step of one sample (B = 1 on chip, no state across steps): binary spike tensors Q, K, V
(D, N), D channels of N = H W tokens (token n = h W + w, row-major), D split into ``heads`` heads
of d = D / heads consecutive channels (head g: channels g d .. g d + d - 1). Per head:

    KV[i, j]   = sum_m K[i, m] V[j, m]          (d, d), in 0..N
    Attn[j, n] = sum_i Q[i, n] KV[i, j]         (d, N), in 0..N d

The layer gets ONE integer input X (D, H, W) per step, the sum of three ``identity`` projections
from the Q, K and V populations with weights 1, 2 and 4: X = Q + 2 K + 4 V in 0..7, decoded
exactly as q = X & 1, k = (X >> 1) & 1, v = (X >> 2) & 1 (:func:`decode`). X must lie in 0..7;
the fast backend refuses any other value (the layer type's ``run_fast``), the Lava models decode
the bits as they are, clipping nothing.

Fixed-point formats: X integers (int32 on Lava's ports); q, k, v 0/1; KV and Attn int64 inside,
exact (no rounding anywhere); Attn is sent as int32 graded payloads and must fit a signed 24-bit
graded stream, N d <= 2^23 - 1 (:data:`MAX_PAYLOAD`, checked per layer shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import LoihiSnnError
from ...loihi.limits import GRADED_STREAM_BITS

X_MAX = 7  # X = q + 2 k + 4 v
MAX_PAYLOAD = (1 << (GRADED_STREAM_BITS - 1)) - 1  # largest Attn a graded stream carries


@dataclass(frozen=True)
class QktvParams:
    """``Layer.params`` of a ``qktv`` layer: ``heads``, the number of attention heads (>= 1,
    dividing the layer's D channels)."""

    heads: int

    def check(self, shape: tuple[int, ...], where: str) -> None:
        """Refuse heads that do not fit a layer of ``shape`` (D, H, W) (LoihiSnnError naming
        ``where``)."""
        heads = self.heads
        if isinstance(heads, bool) or not isinstance(heads, int | np.integer) or heads < 1:
            raise LoihiSnnError(f"{where}: qktv heads must be an integer >= 1, not {heads!r}")
        if len(shape) != 3:
            raise LoihiSnnError(f"{where}: a qktv layer needs a (D, H, W) shape, not {shape}")
        channels, tokens = shape[0], shape[1] * shape[2]
        if channels % heads:
            raise LoihiSnnError(f"{where}: qktv heads = {heads} does not divide D = {channels}")
        if tokens * (channels // heads) > MAX_PAYLOAD:
            raise LoihiSnnError(
                f"{where}: qktv Attn reaches N d = {tokens * (channels // heads):,}, beyond the "
                f"{GRADED_STREAM_BITS}-bit graded stream ({MAX_PAYLOAD:,})"
            )


def decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X = q + 2 k + 4 v (integers) -> (q, k, v) int64 0/1, each of X's shape."""
    x = np.asarray(x, np.int64)
    return x & 1, (x >> 1) & 1, (x >> 2) & 1


def head_product(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int) -> np.ndarray:
    """Attn = Q (K^T V) per head: q, k, v (..., D, N) -> (..., D, N) in their dtype (exact for
    integer dtypes and for floats below 2^53)."""
    *lead, channels, tokens = q.shape
    d = channels // heads
    q, k, v = (a.reshape(*lead, heads, d, tokens) for a in (q, k, v))
    kv = k @ np.swapaxes(v, -1, -2)  # (..., heads, d_i, d_j)
    return (np.swapaxes(kv, -1, -2) @ q).reshape(*lead, channels, tokens)


def attention(x: np.ndarray, heads: int) -> np.ndarray:
    """The integer rule (the fast backend's and the fixed_pt model's): X (..., D, N) integers
    -> Attn (..., D, N) int64."""
    return head_product(*decode(x), heads)


def float_attention(x: np.ndarray, heads: int) -> np.ndarray:
    """The float rule (the floating_pt model's): the bits of X by floor division in float64,
    then the same product; equal to :func:`attention` for integer X in 0..7."""
    x = np.asarray(x, np.float64)
    return head_product(x % 2, (x // 2) % 2, (x // 4) % 2, heads)
