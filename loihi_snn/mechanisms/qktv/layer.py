"""The ``qktv`` layer type of graph files (format 2): SpiLiFormer's FB-LiDiff attention product
Attn = Q (K^T V) as a custom layer (:class:`loihi_snn.ir.graph.LayerType`), its HDF5 record,
integer twin, Lava process and arithmetic (:meth:`QktvType.ops`).

A ``qktv`` layer of shape (D, H, W) (N = H W tokens, D channels) reads the Q, K and V LIF
populations, each (D, H, W), through three ``identity`` projections of weights 1, 2 and 4: its
one input X = Q + 2 K + 4 V (+ the layer's bias, if any, as every custom layer) lies in 0..7 per
step and is decoded bit by bit (:mod:`loihi_snn.mechanisms.qktv.rules`). Output: graded int32
payloads Attn (D, H, W) per step, latency 0; recorded spikes Attn > 0 (0/1).
"""

from __future__ import annotations

import h5py
import numpy as np

from ...errors import LoihiSnnError
from ...ir.graph import LavaNode, LayerType
from .rules import X_MAX, QktvParams, attention


def _label(layer) -> str:
    """The layer in messages: its shape and the layers that feed it (the type gets no index)."""
    sources = ", ".join(str(p.source) for p in layer.inputs) or "none"
    return f"the qktv layer of shape {tuple(layer.shape)} fed by layers {sources}"


class QktvType(LayerType):
    """Layer kind ``qktv``: graded output Attn (int32 payloads, 0..N d), latency 0, no state
    across steps, recorded spikes Attn > 0. HDF5 group ``params``: the int64 scalar ``heads``."""

    kind = "qktv"
    graded = True
    spike_inputs = 3  # X = Q + 2 K + 4 V

    def check(self, layer, where: str) -> None:
        if not isinstance(layer.params, QktvParams):
            raise LoihiSnnError(f"{where}: qktv layer without its parameters (heads)")
        layer.params.check(tuple(layer.shape), where)

    def write(self, group: h5py.Group, layer) -> None:
        group.create_dataset("heads", data=np.int64(layer.params.heads))

    def read(self, group: h5py.Group, shape: tuple[int, ...]) -> QktvParams:
        """The record as stored; :meth:`check` (the reader's validation) refuses a value that
        does not fit the layer."""
        if "heads" not in group:
            raise LoihiSnnError(f"{group.name}: missing heads")
        value = np.asarray(group["heads"][()])
        if value.shape != () or value.dtype.kind not in "iu":
            raise LoihiSnnError(f"{group.name}/heads: one integer, not {value.dtype} {value.shape}")
        return QktvParams(int(value))

    def run_fast(self, layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X (n, D, H, W, T) in 0..7 -> (Attn int64, Attn > 0 int8), both (n, D, H, W, T)."""
        x = np.asarray(x, np.int64)
        if x.size and (x.min() < 0 or x.max() > X_MAX):
            raise LoihiSnnError(
                f"{_label(layer)}: X spans [{x.min()}, {x.max()}], outside 0..{X_MAX}: feed it "
                f"Q, K, V spikes through identity projections of weights 1, 2, 4 and no bias"
            )
        n, c, h, w, steps = x.shape
        tokens = np.moveaxis(x, -1, 1).reshape(n, steps, c, h * w)
        attn = attention(tokens, layer.params.heads).reshape(n, steps, c, h, w)
        out = np.moveaxis(attn, 1, -1)
        return out, (out > 0).astype(np.int8)

    def ops(self, layer, steps: int) -> dict:
        """Arithmetic per sample of ``steps`` steps, from the dimensions (every term counted, as
        if every spike coincided: an upper bound, not data dependent), per step and head: K^T V,
        N d^2 products of two spikes (an AND, accumulated: adds), then Q (K^T V), N d^2 integer
        terms gated by a binary Q (adds). Decoding X (shifts, ANDs) and the recorded test
        Attn > 0 count as nothing; the layer has no neurons."""
        c, h, w = layer.shape
        heads, tokens = layer.params.heads, h * w
        d = c // heads
        terms = heads * tokens * d * d
        items = []  # (what, adds) per step
        if layer.bias is not None:
            items.append(("bias X + b", c * tokens))
        items.append((f"K^T V ({heads} heads x N {tokens} x d^2 {d * d} spike coincidences)",
                       terms))
        items.append((f"Q (K^T V) ({heads} heads x N {tokens} x d^2 {d * d} terms gated by Q)",
                       terms))
        return {
            "mults": 0,
            "adds": steps * sum(a for _, a in items),
            "neuron_updates": 0,
            "note": f"per step, x T = {steps}, dense count (every term, as if all spikes "
            "coincided): " + "; ".join(f"{what}: {a:,} adds" for what, a in items),
        }

    def placement(self, layer) -> tuple[str, str]:
        return "embedded CPU", (
            "Q (K^T V) multiplies two spike tensors that change every step: synapses hold static "
            "weights, so a product of dynamic spike tensors has no synaptic realisation on the "
            "neurocores (and K^T V sums over all N tokens)"
        )

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple, steps: int) -> QktvParams:
        """Random valid parameters for a layer of ``shape`` (D, H, W): a random divisor of D
        heads."""
        channels = int(shape[0])
        divisors = [k for k in range(1, channels + 1) if channels % k == 0]
        return QktvParams(int(rng.choice(divisors)))

    def lava(self, layer, steps: int, offset: int) -> LavaNode:
        """The ``Qktv`` process; ``steps`` and ``offset`` do not matter to a per-step layer
        without state."""
        from .lava.process import Qktv

        bias = None if layer.bias is None else np.asarray(layer.bias).reshape(layer.shape)
        proc = Qktv(shape=tuple(layer.shape), heads=layer.params.heads, bias=bias)
        return LavaNode(proc.x_in, proc.out, proc.s_out, [proc])
