"""Training-time augmentation of encoded inputs: random translations and horizontal flips.

Applied to the integer input tensors (N, C, H, W, T) the encoders make, so it works the same for
every encoder and for binned events, and changes no value: pixels move, zeros fill in. Sample
``i`` of epoch ``e`` draws from a generator seeded by (``seed``, ``e``, ``i``): its augmentation
does not depend on how the batch is cut between processes.
"""

from __future__ import annotations

import numpy as np


def augment(
    x: np.ndarray,
    sample_ids: np.ndarray,
    shift: int,
    flip: bool,
    seed: int,
    epoch: int,
) -> np.ndarray:
    """``x`` (N, C, H, W, T) with each sample moved by dy, dx drawn uniformly from
    -``shift``..``shift`` pixels (zero fill) and, if ``flip``, mirrored left-right with
    probability 1/2. ``shift`` 0 and ``flip`` False return ``x`` itself."""
    if not shift and not flip:
        return x
    height, width = x.shape[2:4]
    padded = np.pad(x, ((0, 0), (0, 0), (shift, shift), (shift, shift), (0, 0)))
    out = np.empty_like(x)
    for row, i in enumerate(sample_ids):
        rng = np.random.default_rng((seed, epoch, int(i)))
        dy, dx = rng.integers(0, 2 * shift + 1, size=2)
        sample = padded[row, :, dy : dy + height, dx : dx + width]
        out[row] = sample[:, :, ::-1] if flip and rng.random() < 0.5 else sample
    return out
