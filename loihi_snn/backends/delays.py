"""Dense synapses with synaptic delays as netx builds them: Lava's DelayDense, bit-accurate model
(``PyDelayDenseModelBitAcc``, lava-nc 0.10.0 ``lava/proc/dense/models.py``).

At each step DelayDense sends the front of a buffer holding, per neuron, the input of the next 63
steps; then, for every delay k, it sums the weights of the synapses with delay k over this step's
input (each product in int32, the sum in int64), shifts that sum by the weight exponent on its own
(``<<``, or an arithmetic ``>>``) and adds it k places behind the front (the buffer is int32).
Delay 0 is a plain Dense (one step per hop); delay k arrives k steps later.

The buffer is never reset. In a run of samples back to back (netx's reset interval), what a
sample's last steps send reaches the next sample's first steps, and what the source sends before
its own first window (its neurons run from global step 0, driven by their bias alone, and are
reset at each window start) reaches the first sample. The fast backend therefore runs a delayed
synapse over a batch as one sequence of steps, sample after sample, each in its layer's window,
and keeps the source's last ``reach`` steps for the next batch, seeded with the steps the source
spends before its first window (:func:`prewindow`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Projection
from ..loihi.fixed_point import lif_run, wrap_int32_array
from .kernels import dense_weight, to_backend_order

FLOAT64_EXACT = 2.0**53  # float64 holds every integer below this
INT32_PRODUCT = 2**31  # Lava forms each weight * input product in int32


def _dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (m, a) @ w (a, b) as Lava's DelayDense forms it: products in int32 (wrapping), the sum
    in int64. Through float64 where that is exact (no product wraps, every sum below 2^53)."""
    top = float(np.abs(x).max(initial=0))
    if top * float(np.abs(w).max(initial=0)) < INT32_PRODUCT:
        if top * float(np.abs(w).sum(0).max(initial=0)) < FLOAT64_EXACT:
            return (x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
        return x.astype(np.int64) @ w
    total = np.zeros((len(x), w.shape[1]), np.int64)
    for j in range(w.shape[0]):  # graded payloads of 2^23 and more: products that wrap
        total += wrap_int32_array(x[:, j : j + 1].astype(np.int64) * w[j])
    return total


@dataclass
class DelayedDense:
    """A dense projection with delays, lowered for the fast backend: per delay k, the inputs
    (backend order of the source) and outputs it connects and their packed weights, (inputs,
    outputs) int64; the weight exponent; ``history``: the source's last ``reach`` steps
    (reach = the largest delay) before the next batch, (reach, inputs)."""

    groups: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]
    exponent: int
    inputs: int
    neurons: int
    reach: int
    history: np.ndarray

    @classmethod
    def build(cls, p: Projection, in_shape: tuple[int, ...]) -> DelayedDense:
        weight, exponent = dense_weight(p.weight)  # what Lava applies, (out, in) file order
        order = to_backend_order(np.arange(weight.shape[1])[None], in_shape)[0]
        weight, delay = weight[:, order], np.asarray(p.delay)[:, order]
        groups = []
        for k in np.unique(delay[weight != 0]):
            mask = (delay == k) & (weight != 0)
            inputs, outputs = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
            w = np.where(mask, weight, 0)[np.ix_(outputs, inputs)].T
            groups.append((int(k), inputs, outputs, w.astype(np.int64)))
        reach = max((k for k, *_ in groups), default=0)
        out, inputs = weight.shape
        return cls(groups, exponent, inputs, out, reach, np.zeros((reach, inputs), np.int64))

    def reset(self, before: np.ndarray | None = None) -> None:
        """Start a run: the source's steps before it (rows, inputs), latest last (zeros before
        them), or silence."""
        self.history = np.zeros((self.reach, self.inputs), np.int64)
        if before is not None and self.reach and len(before):
            tail = before[-self.reach :]
            self.history[self.reach - len(tail) :] = tail

    def finished(self, x: np.ndarray, carry: bool = True) -> np.ndarray:
        """The synapse's finished output (n, T, N) int64 (int32 as Lava's buffer holds it) for
        the source's signal x (n, T, inputs), the samples one after another; ``carry``: after
        the history (then updated with x's last steps), else after silence."""
        n, steps, inputs = x.shape
        flat = x.reshape(n * steps, inputs)
        before = self.history if carry else np.zeros_like(self.history)
        sequence = np.concatenate([before, flat.astype(np.int64)])
        out = np.zeros((n * steps, self.neurons), np.int64)
        for k, rows, cols, w in self.groups:
            sums = _dot(sequence[self.reach - k : self.reach - k + n * steps][:, rows], w)
            out[:, cols] += sums << self.exponent if self.exponent > 0 else sums >> -self.exponent
        if carry and self.reach:
            self.history = sequence[-self.reach :].copy()
        return wrap_int32_array(out).reshape(n, steps, self.neurons)


def prewindow(
    finished_input, bias: np.ndarray, neuron, start: int, steps: int
) -> np.ndarray:
    """A LIF population's spikes before its first window: global steps 0 .. ``start`` - 1, reset
    (u = v = 0) at each step g with g = start mod ``steps`` (netx's reset interval), from its
    ``finished_input`` (start, N) int64 and its ``bias`` (N,) (<< 6 applied). Returns (start, N)
    int8."""
    neurons = len(bias)
    if start == 0:
        return np.zeros((0, neurons), np.int8)
    cuts = [0] + [g for g in range(1, start) if (g - start) % steps == 0] + [start]
    segments = list(zip(cuts[:-1], cuts[1:], strict=True))
    acc = np.zeros((len(segments), steps, neurons), np.int64)
    for s, (lo, hi) in enumerate(segments):
        acc[s, : hi - lo] = finished_input[lo:hi]
    spikes = np.empty(acc.shape, np.int8)
    none = np.empty((0, 0, 0), np.int64)
    bias = np.ascontiguousarray(np.broadcast_to(bias, (len(acc), neurons)))
    lif_run(acc, 3, 0, neuron.cu, neuron.cv, bias, neuron.vth, spikes, none, none, False)
    return np.concatenate([spikes[s, : hi - lo] for s, (lo, hi) in enumerate(segments)])
