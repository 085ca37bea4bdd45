"""The spiking transformer blocks of the graph models (:class:`loihi_snn.models.resnet.GraphNet`),
after SpiLiFormer (Zheng et al., 2025) on QKFormer's layout, with MS-ResNet's membrane
shortcuts: a block adds populations through ``add_pop(terms, threshold, inherits=None,
memoryless=False, qktv=0)`` and returns its output population (index, shape).

Tokens are the H x W positions of a (D, H, W) population, channels its D neurons.

FF-LiDiff block (``lidiff``; ``qkta``: QKFormer's token attention, the "w/o FF-LiDiff" ablation),
stock populations and fixed synapses only (:mod:`loihi_snn.mechanisms.lidiff.rules`)::

    Q = LIF(BN(conv1x1(X))),  K = LIF(BN(conv1x1(X)))
    A = LIF_0.5(fixed +-1 conv(Q))       (h, H, W): one neuron per token and head
    M = coincidence(fan-out(A) + K)      A AND K per channel
    O = LIF(z_X + BN(conv1x1(M)))        z_X: the input currents of X (membrane shortcut)
    Y = LIF(z_O + BN(conv1x1(LIF(BN(conv1x1(O))))))     MLP, hidden width 2D

Q(K^T V) block (``ssa``; the "w/o FB-LiDiff" ablation of SpiLiFormer's last stage)::

    Q, K, V = LIF(BN(conv1x1(X))) each
    Attn = Q (K^T V) per head                    a ``qktv`` layer (custom Lava process)
    S = LIF(Attn / 8)                            Spikformer's scale s = 0.125, fires from 4
    O = LIF(z_X + BN(conv1x1(S))),  Y as above

FB-LiDiff stage (consecutive ``fblidiff`` layers, Eqs. 9-19): pass 1 runs the stage's Q(K^T V)
blocks on the stage input; the feedback X_FB^m = LIF(BN(conv1x1_m(prompts * Y_1))) from the
last block's output Y_1 (reading (a): learnable prompts p1, p2, per channel
clamp(p1, 0, 1) - clamp(p2, 0, 1), folded into the weights at export); pass 2 runs the same
blocks again (the same weights) on the stage input, block m's K neurons also receiving
X_FB^m (weight 1). Pass 2's output is the stage's. Every part is per time step, so running both
passes in one graph (pass 2 a second copy of the stage's populations) is the two-pass
computation exactly. Decision: trained on pass 2's loss only (the paper's Eq. 20 also weighs a
head on pass 1's output with alpha = 0.5; this model has no second head).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..mechanisms.lidiff.rules import (
    ATTENTION_THRESHOLD,
    COINCIDENCE_THRESHOLD,
    fan_out,
    token_weights,
)
from ..recipe import LayerSpec
from .terms import Term

QKTV_SCALE = 0.125  # Spikformer's scale of Q K^T V before the attention LIF
# its attention LIF fires from Attn = 4 on a fresh membrane (Spikformer: 0.5 after the scale),
# the threshold set between two counts so that the float model's >= and Lava's > agree
QKTV_THRESHOLD = 3.5 * QKTV_SCALE
QKTV_BITS = (1.0, 2.0, 4.0)  # X = Q + 2 K + 4 V (loihi_snn.mechanisms.qktv.rules)


def _eye(d: int, gain: float = 1.0) -> np.ndarray:
    return (np.eye(d) * gain).reshape(d, d, 1, 1)


def _mlp(add_pop: Callable, spec: LayerSpec, o: int, shape: tuple, terms: list[Term] | None):
    """Y = LIF(z_O + BN(conv1x1(LIF(BN(conv1x1(O)))))); ``terms``: reuse these two synapses
    (pass 2), else new ones. Returns Y and the two synapses."""
    d = shape[0]
    up = terms[0].reading(o) if terms else Term(o, "conv", shape, 2 * d, 1, 1, 0)
    u, wide = add_pop([up], spec.threshold)
    down = terms[1].reading(u) if terms else Term(u, "conv", wide, d, 1, 1, 0)
    y, _ = add_pop([down], None, inherits=o)
    return y, [up, down]


def add_ff_block(add_pop: Callable, spec: LayerSpec, x: int, shape: tuple) -> tuple[int, tuple]:
    """An FF-LiDiff (or QKFormer token attention) block on population ``x`` (module doc)."""
    d, heads = shape[0], spec.heads
    q, _ = add_pop([Term(x, "conv", shape, d, 1, 1, 0)], spec.threshold)
    k, _ = add_pop([Term(x, "conv", shape, d, 1, 1, 0)], spec.threshold)
    a, per_head = add_pop(
        [Term(q, "fixed", shape, weight=token_weights(spec.type, d, heads))], ATTENTION_THRESHOLD
    )
    m, _ = add_pop(
        [Term(a, "fixed", per_head, weight=fan_out(d, heads)),
         Term(k, "fixed", shape, weight=_eye(d))],
        COINCIDENCE_THRESHOLD, memoryless=True,
    )
    o, _ = add_pop([Term(m, "conv", shape, d, 1, 1, 0)], None, inherits=x)
    y, _ = _mlp(add_pop, spec, o, shape, None)
    return y, shape


def _qktv_block(
    add_pop: Callable, spec: LayerSpec, x: int, shape: tuple, shared: list[Term] | None = None,
    feedback: int | None = None,
) -> tuple[int, list[Term]]:
    """One Q(K^T V) block on population ``x``; ``shared``: pass 1's synapses of this block (then
    ``feedback``, the X_FB population added into K). Returns Y and the block's synapses."""
    d = shape[0]
    synapses = [t.reading(x) for t in shared[:3]] if shared else [
        Term(x, "conv", shape, d, 1, 1, 0) for _ in range(3)
    ]
    inputs = [[t] for t in synapses]
    if feedback is not None:  # K = LIF(BN(X W_K) + X_FB)
        inputs[1].append(Term(feedback, "fixed", shape, weight=_eye(d)))
    q, k, v = (add_pop(terms, spec.threshold)[0] for terms in inputs)
    attn, _ = add_pop(
        [Term(p, "identity", shape, weight=b) for p, b in zip((q, k, v), QKTV_BITS, strict=True)],
        None, qktv=spec.heads,
    )
    s, _ = add_pop([Term(attn, "fixed", shape, weight=_eye(d, QKTV_SCALE))], QKTV_THRESHOLD)
    proj = shared[3].reading(s) if shared else Term(s, "conv", shape, d, 1, 1, 0)
    o, _ = add_pop([proj], None, inherits=x)
    y, mlp = _mlp(add_pop, spec, o, shape, shared[4:] if shared else None)
    return y, [*(shared or synapses)[:3], proj, *mlp]


def add_qktv_block(add_pop: Callable, spec: LayerSpec, x: int, shape: tuple) -> tuple[int, tuple]:
    """A Q(K^T V) block (``ssa``) on population ``x`` (module doc)."""
    return _qktv_block(add_pop, spec, x, shape)[0], shape


def add_fb_stage(
    add_pop: Callable, specs: list[LayerSpec], x: int, shape: tuple
) -> tuple[int, tuple]:
    """An FB-LiDiff stage of ``len(specs)`` blocks on population ``x``: pass 1, the feedback,
    pass 2 (module doc)."""
    first, inputs = [], x
    for spec in specs:
        inputs, terms = _qktv_block(add_pop, spec, inputs, shape)
        first.append(terms)
    d = shape[0]
    feedback = [
        add_pop([Term(inputs, "conv", shape, d, 1, 1, 0, prompt=True)], spec.threshold)[0]
        for spec in specs
    ]
    inputs = x
    for spec, terms, fb in zip(specs, first, feedback, strict=True):
        inputs, _ = _qktv_block(add_pop, spec, inputs, shape, terms, fb)
    return inputs, shape
