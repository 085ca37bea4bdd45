"""SpiLiFormer's FB-LiDiff attention product as a torch block: Attn = Q (K^T V) per head and time
step (:mod:`loihi_snn.mechanisms.qktv.rules`), differentiable through ``torch.einsum``. On 0/1
spikes it equals the integer rule exactly (float32 sums of integers below 2^24)."""

from __future__ import annotations

import torch

from ...errors import LoihiSnnError


class QKTV(torch.nn.Module):
    """Attn = Q (K^T V) per head: q, k, v (B, D, H, W, T) float spikes -> (B, D, H, W, T) float,
    in units of one spike coincidence (0..N d for 0/1 input, N = H W tokens, d = D / heads)."""

    def __init__(self, heads: int) -> None:
        super().__init__()
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
            raise LoihiSnnError(f"QKTV: heads must be an integer >= 1, not {heads!r}")
        self.heads = heads

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if not q.shape == k.shape == v.shape or q.dim() != 5:
            raise LoihiSnnError(
                f"QKTV: q, k, v must share one (B, D, H, W, T) shape, not {tuple(q.shape)}, "
                f"{tuple(k.shape)}, {tuple(v.shape)}"
            )
        b, c, h, w, t = q.shape
        if c % self.heads:
            raise LoihiSnnError(f"QKTV: heads = {self.heads} does not divide D = {c}")
        q, k, v = (a.reshape(b, self.heads, c // self.heads, h * w, t) for a in (q, k, v))
        kv = torch.einsum("bgimt,bgjmt->bgijt", k, v)
        return torch.einsum("bgint,bgijt->bgjnt", q, kv).reshape(b, c, h, w, t)
