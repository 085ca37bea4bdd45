"""The float model of an imported NIR graph (the discrete form of :mod:`.quantise`, before
rounding), run zero-latency like the IR: the reference ``--calibrate`` compares Loihi's
integer run with, layer by layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..ir.graph import Projection, lowered
from .quantise import FloatPopulation

if TYPE_CHECKING:
    from .from_nir import Imported


def _synapse(p: Projection, in_shape: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
    """x (n T, *in_shape) -> the projection's currents (n T, neurons) in C, H, W order."""
    p = lowered(p, in_shape, depthwise=True)
    w = torch.from_numpy(np.asarray(p.weight, np.float64))
    if p.kind == "dense":
        return x.reshape(len(x), -1) @ w.T
    y = F.conv2d(x, w, stride=p.stride, padding=p.padding, dilation=p.dilation, groups=p.groups)
    return y.reshape(len(y), -1)


def run_float(
    pops: list[FloatPopulation], input_shape: tuple[int, ...], inputs: np.ndarray
) -> list[np.ndarray]:
    """Spikes (n, neurons, T) of every population for inputs (n, *input_shape, T); a
    non-spiking population gives its voltage instead."""
    n, steps = len(inputs), inputs.shape[-1]
    x0 = torch.from_numpy(np.moveaxis(inputs, -1, 1).astype(np.float64))  # n, T, *shape
    signals = {0: x0.reshape(n * steps, *input_shape)}
    shapes = {0: input_shape}
    out = []
    for k, pop in enumerate(pops, start=1):
        a = sum(_synapse(p, shapes[p.source], signals[p.source]) for p in pop.inputs)
        a = a.reshape(n, steps, -1)
        bias = torch.from_numpy(pop.bias)
        u = torch.zeros(n, a.shape[-1], dtype=torch.float64)
        v = torch.zeros_like(u)
        trace = torch.zeros_like(a)
        for t in range(steps):
            u = (1 - pop.du) * u + a[:, t]
            v = (1 - pop.dv) * v + u + bias
            if pop.threshold is None:
                trace[:, t] = v
                continue
            spikes = (v > pop.threshold).double()
            v = v * (1 - spikes)
            trace[:, t] = spikes
        signals[k] = trace.reshape(n * steps, *pop.shape)
        shapes[k] = pop.shape
        out.append(trace.transpose(1, 2).numpy())
    return out


def calibration_report(imported: Imported, inputs: np.ndarray) -> str:
    """Per layer: spikes of the float NIR model (:mod:`.reference`) against Loihi's integer run
    (the fast backend, bit-exact with Lava) on ``inputs`` (n, *input shape, T)."""
    from ..backends.fast import run_fast

    graph = imported.graph
    ref = run_float(imported.floats, graph.input_shape, inputs.astype(np.float64))
    sim = run_fast(graph, np.rint(inputs).astype(np.int32), inputs.shape[-1])
    lines = [f"calibration on {len(inputs)} samples: float NIR model vs Loihi fixed point",
             f"{'layer':>5} {'node':24} {'float spikes':>12} {'Loihi spikes':>12} {'mismatch':>9}"]
    for k, (pop, a) in enumerate(zip(imported.floats, ref, strict=True)):
        b = sim.spikes[k]
        if pop.threshold is None:
            lines.append(f"{k + 1:>5} {pop.name[:24]:24} {'(voltage readout)':>35}")
            continue
        lines.append(f"{k + 1:>5} {pop.name[:24]:24} {int(a.sum()):>12} {int(b.sum()):>12} "
                     f"{float((a != b).mean()):>9.2%}")
    last = ref[-1][:, :, -1] if imported.floats[-1].threshold is None else ref[-1].sum(-1)
    agree = float((last.argmax(1) == sim.predictions).mean())
    lines.append(f"predictions agree on {agree:.2%} of the samples")
    return "\n".join(lines)
