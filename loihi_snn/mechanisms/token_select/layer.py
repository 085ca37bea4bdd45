"""The ``token_select`` layer type of graph files (format 2): SPARTA's token selection as a custom
layer (:class:`loihi_snn.ir.graph.LayerType`), its HDF5 record, integer twin, Lava process and
arithmetic (:meth:`TokenSelectType.ops`)."""

from __future__ import annotations

import math

import h5py
import numpy as np

from ...errors import LoihiSnnError
from ...ir.graph import LavaNode, LayerType
from .rules import GATE_MAX, SelectParams, make_luts, run_twin, sigmoid_lut

_ARRAYS = ("lut_first", "lut_isi", "lut_rate", "w1", "b1", "w2", "lut_sig")
_INTS = ("steps", "k_fixed", "k_min", "b2", "gate_on", "gate_off")
_FLOATS = ("alpha", "beta", "gamma")


class TokenSelectType(LayerType):
    """Layer kind ``token_select`` (:mod:`loihi_snn.mechanisms.token_select.rules`): graded output
    (payloads s g), latency T (the output of window j is replayed during window j + 1), recorded
    spikes s M. Parameters (``Layer.params``: a :class:`SelectParams`) in the layer's HDF5 group
    ``params``: int64 datasets ``lut_first``, ``lut_isi``, ``lut_rate``, ``w1``, ``b1``, ``w2``,
    ``lut_sig``, scalars ``steps``, ``k_fixed``, ``k_min``, ``b2``, ``gate_on``, ``gate_off`` and
    float64 ``alpha``, ``beta``, ``gamma`` (floating_pt only). X adds the layer's bias as it is."""

    kind = "token_select"
    graded = True

    def latency(self, layer, steps: int) -> int:
        return int(steps)

    def placement(self, layer) -> tuple[str, str]:
        return "embedded CPU", (
            "the top-K over all tokens and its predictor MLP read a whole window of every token "
            "(latency T): sorting and reductions, not neuron-local arithmetic"
        )

    def check(self, layer, where: str) -> None:
        params = getattr(layer, "params", None)
        if not isinstance(params, SelectParams):
            raise LoihiSnnError(f"{where}: token_select layer without its parameters")
        if tuple(layer.shape) != params.shape:
            raise LoihiSnnError(
                f"{where}: token_select parameters are for shape {params.shape}, the layer has "
                f"{tuple(layer.shape)}"
            )
        params.check(where)

    def write(self, group: h5py.Group, layer) -> None:
        p, g = layer.params, group
        for key in _ARRAYS:
            g.create_dataset(key, data=getattr(p, key).astype(np.int64))
        for key in _INTS:
            g.create_dataset(key, data=np.int64(getattr(p, key)))
        for key in _FLOATS:
            g.create_dataset(key, data=np.float64(getattr(p, key)))

    def read(self, group: h5py.Group, shape: tuple[int, ...]) -> SelectParams:
        g = group
        try:
            values = {key: np.asarray(g[key][()]) for key in (*_ARRAYS, *_INTS, *_FLOATS)}
        except KeyError as err:
            raise LoihiSnnError(f"{group.name}/params: missing {err}") from None
        if len(shape) != 3:
            raise LoihiSnnError(f"{group.name}: token_select needs a (C, H, W) shape")
        kwargs = {k: values[k] for k in _ARRAYS}
        kwargs.update({k: int(values[k]) for k in _INTS})
        kwargs.update({k: float(values[k]) for k in _FLOATS})
        try:
            return SelectParams(shape=tuple(shape), **kwargs)
        except LoihiSnnError as err:
            raise LoihiSnnError(f"{group.name}: {err}") from None

    def run_fast(self, layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = run_twin(layer.params, x)
        return result.y, result.rec

    def ops(self, layer, steps: int) -> dict:
        """Arithmetic per sample (one window of T = ``steps`` steps) of the integer rules, every
        conditional step counted as if taken; comparisons count as additions, divisions and the
        one integer square root as multiplications, LUT reads, shifts and selects as nothing.
        The top-K is counted as N ceil(log2 N) comparisons, the order of a comparison sort: the
        rules' argsort is data-dependent, so this one item is a convention, said in ``note``.
        The recorded spikes s M (for verification) are not counted; the layer has no neurons."""
        p = layer.params
        c, h, w = p.shape
        tokens = h * w
        pairs = c * tokens
        hidden = len(p.b1)
        items = []  # (what, mults, adds) per window
        if layer.bias is not None:
            items.append(("bias X + b", 0, pairs * steps))
        items.append(("spike test X > 0", 0, pairs * steps))
        items.append(("statistics (count per step, span per pair)", 0, pairs * steps + pairs))
        power_of_two = c & (c - 1) == 0
        items.append((
            "priority (two Q15 products per pair, channel sum, 1/C "
            + ("a shift)" if power_of_two else "a division per token)"),
            2 * pairs + (0 if power_of_two else tokens), (c - 1) * tokens,
        ))
        if p.k_fixed == 0:
            items.append(("features (sums of f, f^2, n, span, n - 1 per pair; 3 divisions, "
                          "M S2 - S1^2, isqrt)", pairs + 6, 7 * pairs + 2))
            items.append((f"predictor (MLP 3 -> {hidden} -> 1 with ReLU, clamp, K rule)",
                          4 * hidden + 1, 5 * hidden + 6))
        sort = tokens * math.ceil(math.log2(tokens)) if tokens > 1 else 0
        items.append((f"top-K (keys P N + N - 1 - j; {sort} comparisons, a comparison sort's "
                      "order: convention)", tokens, tokens + sort))
        items.append(("replay Y = s g", pairs * steps, 0))
        return {
            "mults": sum(m for _, m, _ in items),
            "adds": sum(a for _, _, a in items),
            "neuron_updates": 0,
            "note": f"per window of T = {steps} steps: "
            + "; ".join(f"{what}: {m:,} mults + {a:,} adds" for what, m, a in items),
        }

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple, steps: int) -> SelectParams:
        """Random valid parameters for a layer of ``shape`` (C, H, W) and T = ``steps``: LUTs
        from random alpha, beta, gamma, a random predictor (or, a third of the time, fixed K),
        random gates."""
        shape = tuple(int(s) for s in shape)
        tokens = shape[1] * shape[2]
        alpha, beta, gamma = (float(v) for v in rng.uniform((0.05, 0.05, 0.5), (1.0, 1.0, 4.0)))
        hidden = int(rng.integers(2, 9))
        k_fixed = int(rng.integers(1, tokens + 1)) if rng.random() < 1 / 3 else 0
        gate_on = int(rng.integers(8, GATE_MAX // 4))
        return SelectParams(
            shape, steps, *make_luts(alpha, beta, gamma, steps), k_fixed,
            int(rng.integers(1, max(1, tokens // 2) + 1)),
            rng.integers(-400, 401, (hidden, 3)), rng.integers(-20000, 20001, hidden),
            rng.integers(-300, 301, hidden), int(rng.integers(-30000, 30001)), sigmoid_lut(),
            gate_on, int(rng.integers(0, gate_on // 2)), alpha, beta, gamma,
        )

    def lava(self, layer, steps: int, offset: int) -> LavaNode:
        from .lava.process import TokenSelect as Process

        if int(steps) != layer.params.steps:
            raise LoihiSnnError(
                f"token_select was exported for T = {layer.params.steps}, the run uses {steps}"
            )
        bias = None if layer.bias is None else np.asarray(layer.bias).reshape(layer.shape)
        proc = Process(params=layer.params, offset=offset, bias=bias)
        return LavaNode(proc.x_in, proc.y_out, proc.s_out, [proc])
