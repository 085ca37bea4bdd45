"""Spike encoders: raw pixels -> integer input tensors (N, C, H, W, T) for both twins.

The values are what the first synapse receives in Lava: graded spike payloads (``direct``) or
0/1 spikes (``rate``). Training and simulation use the same arrays, so the encoders are the single
definition of the network's input.
"""

from __future__ import annotations

import numpy as np

from ..errors import LoihiSnnError


def input_levels(x_raw: np.ndarray, max_value: int, levels: int) -> np.ndarray:
    """Quantise raw pixels 0..max_value to integers 0..levels (round half to even)."""
    return np.rint(x_raw.astype(np.float64) * (levels / max_value)).astype(np.int32)


def encode(
    x_raw: np.ndarray,
    encoder: str,
    max_value: int,
    levels: int,
    time_steps: int,
    sample_ids: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Encode raw images (N, C, H, W) into an int32 array (N, C, H, W, T).

    direct: the quantised level repeated at every step (graded spikes, ``levels`` <= 255).
    rate: Bernoulli spikes with probability pixel/max_value; sample i draws from a generator
    seeded by (``seed``, ``sample_ids[i]``), so its spikes do not depend on how data is batched.
    """
    if encoder == "direct":
        lv = input_levels(x_raw, max_value, levels)
        return np.repeat(lv[..., None], time_steps, axis=-1)
    if encoder == "rate":
        ids = np.arange(len(x_raw)) if sample_ids is None else sample_ids
        p = x_raw.astype(np.float64) / max_value
        draws = np.empty(p.shape + (time_steps,))
        for row, i in enumerate(ids):
            draws[row] = np.random.default_rng((seed, int(i))).random(p.shape[1:] + (time_steps,))
        return (draws < p[..., None]).astype(np.int32)
    raise LoihiSnnError(f"unknown encoder '{encoder}': use direct or rate")
