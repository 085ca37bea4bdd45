"""Tokens in Lava's layout, for the mechanisms' process models: a (W, H, C) port vector as C
channels of N = H W tokens (token n = h W + w, row-major, as the fast backend numbers them)."""

from __future__ import annotations

import numpy as np


def to_tokens(x: np.ndarray) -> np.ndarray:
    """(W, H, C) -> (C, N), token n = h W + w."""
    w, h, c = x.shape
    return np.transpose(x, (2, 1, 0)).reshape(c, h * w)


def from_tokens(y: np.ndarray, shape: tuple) -> np.ndarray:
    """(C, N) -> (W, H, C) of the port ``shape`` (W, H, C)."""
    w, h, c = shape
    return np.ascontiguousarray(np.transpose(y.reshape(c, h, w), (2, 1, 0)))
