"""FF-LiDiff (SpiLiFormer, Eqs. 4-8) as fixed synapses and stock LIF populations.

SpiLiFormer (Zheng et al., "SpiLiFormer: Enhancing Spiking Transformers with Lateral Inhibition")
computes, per token i of N and per time step, from the spiking queries Qs (N x D) and keys Ks:

    A_e[i] = sum_{j < D/2} Qs[i, j],   A_i[i] = sum_{j >= D/2} Qs[i, j]     (Eq. 6)
    A[i]   = SN(A_e[i] - A_i[i])                                          (Eq. 7)
    X'     = A (x) Ks          (A[i] masks every channel of token i)      (Eq. 8)

With h heads the two halves are each split into h groups, one A per (token, head), masking the
D/h channels of that head. On Loihi 2 every part is a synapse or a stock neuron:

* Eqs. 6-7: a 1x1 conv from Qs with fixed weights +1 (first half of a head's queries) and -1
  (second half) into h LIF neurons per token (:func:`token_weights`), threshold
  :data:`ATTENTION_THRESHOLD`: the neuron fires when A_e - A_i >= 1 on a fresh membrane.
* Eq. 8: coincidence neurons, one per (channel, token): weight 1 from their head's A
  (:func:`fan_out`) plus weight 1 from their own Ks channel, threshold
  :data:`COINCIDENCE_THRESHOLD` (in (1, 2]: fires only when both spike) and no memory (current
  and voltage decays 4096/4096), so the output is the binary AND of the two at every step.

QKFormer's token attention (the "w/o FF-LiDiff" ablation) is the same with all query weights +1:
A = SN(sum_j Qs[i, j]).

Weights are float units: the model scales them with the population (8-bit mantissas).
"""

from __future__ import annotations

import numpy as np

from ...errors import LoihiSnnError

ATTENTIONS = ("lidiff", "qkta")  # FF-LiDiff | QKFormer's token attention (w/o FF-LiDiff)
ATTENTION_THRESHOLD = 0.5  # float units: a difference of one query spike fires it
COINCIDENCE_THRESHOLD = 1.5  # two inputs of weight 1: fires on both, never on one


def head_problem(kind: str, channels: int, heads: int) -> str | None:
    """Why ``heads`` do not split ``channels`` for attention ``kind`` (None when they do):
    FF-LiDiff splits each head's queries in two halves."""
    if kind not in ATTENTIONS:
        return f"attention '{kind}' is not one of {', '.join(ATTENTIONS)}"
    parts = 2 * heads if kind == "lidiff" else heads
    if heads < 1 or channels % parts:
        return f"{kind} with {heads} heads needs a multiple of {parts} channels, got {channels}"
    return None


def token_weights(kind: str, channels: int, heads: int) -> np.ndarray:
    """The fixed 1x1 conv from the D query channels to the h token-attention neurons, (h, D, 1,
    1): head g reads its D/h channels, +1 for the first half and -1 for the second (lidiff) or +1
    for all (qkta)."""
    problem = head_problem(kind, channels, heads)
    if problem:
        raise LoihiSnnError(problem)
    d = channels // heads
    weight = np.zeros((heads, channels, 1, 1))
    for g in range(heads):
        weight[g, g * d : (g + 1) * d] = 1.0
        if kind == "lidiff":
            weight[g, g * d + d // 2 : (g + 1) * d] = -1.0
    return weight


def fan_out(channels: int, heads: int) -> np.ndarray:
    """The fixed 1x1 conv from the h attention neurons to the D coincidence neurons, (D, h, 1,
    1): weight 1 from head g to each of its D/h channels."""
    d = channels // heads
    weight = np.zeros((channels, heads, 1, 1))
    for g in range(heads):
        weight[g * d : (g + 1) * d, g] = 1.0
    return weight


def coincidence(a: np.ndarray, k: np.ndarray, heads: int) -> np.ndarray:
    """Eq. 8 on spikes: A (n, h, H, W, T) broadcast to its head's channels, AND Ks (n, D, H, W,
    T); 0/1 int8."""
    d = k.shape[1] // heads
    return (np.repeat(a, d, axis=1) & k).astype(np.int8)
