"""The ``alif_mask`` layer type of graph files (format 2): BIASNN's ALIF attention mask as a
custom layer (:class:`loihi_snn.ir.graph.LayerType`), its HDF5 record, integer twin, Lava process
and arithmetic (:meth:`AlifMaskType.ops`, the BIASNN paper's op model)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ...errors import LoihiSnnError
from ...ir.graph import LavaNode, LayerType
from .paper import ALIF, LIF
from .rules import K1, K2, MODES, ONE, W_MAX, MaskParams, mode_index, run_twin


@dataclass
class MaskLayer:
    """``Layer.params`` of an ``alif_mask`` layer: the integer description and the threshold-state
    mode the deployment runs in."""

    params: MaskParams
    mode: str = "reset"


_ARRAYS = ("dw1", "pw1", "dw2", "pw2", "a_init", "norm_lo", "norm_span")
_SCALARS = ("shift1", "shift2", "lam", "rho", "gamma", "theta0")


class AlifMaskType(LayerType):
    """An ``alif_mask`` layer: X = the summed input projections + bias (the membrane stream at a
    block's output, integer currents), output Y = X gated by the mask (graded), recorded spikes
    = the ALIF spikes s (1 = value eliminated). Zero latency (the mask of step t gates X of step
    t). HDF5 group ``params``: datasets ``dw1``, ``pw1``, ``dw2``, ``pw2``, ``a_init`` (C, H, W),
    ``norm_lo`` / ``norm_span`` (C,; empty unless frozen), scalars ``shift1``, ``shift2``,
    ``lam``, ``rho``, ``gamma``, ``theta0`` (formats in :class:`MaskParams`) and the string
    attribute ``mode``."""

    kind = "alif_mask"
    graded = True

    def __init__(self) -> None:
        self.carried: np.ndarray | None = None  # mode persist: a after the last batch

    def run_fast(self, layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        params, mode = layer.params.params, layer.params.mode
        if mode == "persist" and self.carried is not None:
            params = replace(params, a_init=self.carried)
        y, s, _, a = run_twin(params, x, mode)
        self.carried = a
        return y, s

    def placement(self, layer) -> tuple[str, str]:
        if layer.params.params.norm_span.size:
            return "neurocores", (
                "the neurocore-only variant (frozen min-max statistics): channel pooling, the two "
                "DS convolutions, one affine map per channel, ALIF neurons and the gate are "
                "per-neuron operations (the adaptive threshold and the gate need Loihi 2 "
                "microcode; the mask's own DS weights are not counted)"
            )
        return "embedded CPU", (
            "its per-step min-max over each channel's H x W map is a reduction across neurons no "
            "neurocore makes: train the neurocore-only variant (minmax = 'frozen', as "
            "fmnist_biasnn_neurocore) to keep it on the chip"
        )

    def check(self, layer, where: str) -> None:
        record = layer.params
        if not isinstance(record, MaskLayer):
            raise LoihiSnnError(f"{where}: no mask parameters")
        mode_index(record.mode)
        if record.params.shape != tuple(layer.shape):
            raise LoihiSnnError(
                f"{where}: mask parameters are for {record.params.shape}, the layer is "
                f"{tuple(layer.shape)}"
            )

    def write(self, group, layer) -> None:
        record = layer.params
        for key in _ARRAYS:
            group.create_dataset(key, data=np.asarray(getattr(record.params, key), np.int32))
        for key in _SCALARS:
            group.create_dataset(key, data=int(getattr(record.params, key)))
        group.attrs["mode"] = record.mode

    def read(self, group, shape: tuple[int, ...]) -> MaskLayer:
        values = {key: np.asarray(group[key][()], np.int64) for key in _ARRAYS}
        values.update({key: int(np.asarray(group[key][()]).reshape(-1)[0]) for key in _SCALARS})
        mode = group.attrs["mode"]
        return MaskLayer(MaskParams(**values), mode if isinstance(mode, str) else mode.decode())

    def ops(self, layer, steps: int) -> dict:
        """Arithmetic per sample of ``steps`` steps: every item of the rules per step, times T.
        The ALIF neurons are priced with the BIASNN paper's op model (4 mults and 6 adds per
        neuron, 1 mult and C + C/4 adds per layer; the LIF's 2 and 4 in mode ``frozen``, which
        adapts nothing); the DS convolutions by their MACs (one mult and one add each, the 'same'
        padding counted as the standard conv formula does); comparisons count as additions,
        divisions as multiplications, shifts and saturation as nothing."""
        record = layer.params
        p = record.params
        c, h, w = p.shape
        pixels, values = h * w, c * h * w
        hidden = p.pw1.shape[0]
        items = []  # (what, mults, adds) per step
        if layer.bias is not None:
            items.append(("bias X + b", 0, values))
        power_of_two = c & (c - 1) == 0
        items.append((
            "channel pooling (sum and max over C; the mean's 1/C "
            + ("a shift)" if power_of_two else "a division per pixel)"),
            0 if power_of_two else pixels, 2 * (c - 1) * pixels,
        ))
        macs = pixels * (2 * K1 * K1 + 2 * hidden + hidden * K2 * K2 + hidden * c)
        items.append((f"DS convs ({macs:,} MACs: DW5x5 on 2, PW 2->{hidden}, DW7x7 on {hidden}, "
                      f"PW {hidden}->{c})", macs, macs))
        if p.frozen_norm:
            items.append(("frozen normalisation (z - lo, / span, 4096 - per value)", values,
                          2 * values))
        else:
            items.append(("min-max normalisation (per channel min, max, M - m + 1; per value "
                          "z - m, / span, 4096 -)", values, c * 2 * pixels + 2 * values))
        neuron = LIF if record.mode == "frozen" else ALIF
        mults, adds = neuron.count(p.shape)
        items.append((f"{neuron.name.upper()} neurons (BIASNN paper: {neuron.note})", mults, adds))
        items.append(("gate Y = X (1 - s) (1 - s is among the neuron additions)", values, 0))
        return {
            "mults": steps * sum(m for _, m, _ in items),
            "adds": steps * sum(a for _, _, a in items),
            "neuron_updates": steps * values,
            "note": f"per step, x T = {steps}: "
            + "; ".join(f"{what}: {m:,} mults + {a:,} adds" for what, m, a in items),
        }

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple, steps: int) -> MaskLayer:
        """Random valid parameters for a layer of ``shape`` (C, H, W): weights over the whole
        8-bit range, shifts that keep Z near the scale of X, Q12 parameters with which a share
        of the neurons fires (theta0 in [0.5, 1], gamma <= 1, a_init <= 0.25), a random mode
        and, half of the time, frozen statistics (units of Z)."""
        c, h, w = (int(s) for s in shape)
        hidden = max(1, c // 4)

        def weights(*size: int) -> np.ndarray:
            return rng.integers(-W_MAX, W_MAX + 1, size)

        norm = ()
        if rng.random() < 0.5:
            norm = (rng.integers(-400, 0, c), rng.integers(200, 1600, c))
        params = MaskParams(
            weights(2, K1, K1), weights(hidden, 2), 15, weights(hidden, K2, K2),
            weights(c, hidden), 15 + math.ceil(math.log2(hidden + 1)),
            int(rng.integers(ONE // 8, 3 * ONE // 4)), int(rng.integers(ONE // 4, 7 * ONE // 8)),
            int(rng.integers(0, ONE + 1)), int(rng.integers(ONE // 2, ONE + 1)),
            rng.integers(0, ONE // 4 + 1, (c, h, w)), *norm,
        )
        return MaskLayer(params, str(rng.choice(MODES)))

    def lava(self, layer, steps: int, offset: int) -> LavaNode:
        from .lava.process import AlifMask as AlifMaskProcess

        bias = None if layer.bias is None else layer.bias.reshape(layer.shape)
        proc = AlifMaskProcess(
            params=layer.params.params, steps=steps, mode=layer.params.mode, offset=offset,
            bias=bias,
        )
        return LavaNode(proc.x_in, proc.y_out, proc.s_out, [proc])
