"""The IR as a NIR graph (``loihi-snn nir export``): one node per population and one per
projection, with Loihi's discrete dynamics written in NIR's continuous-time parameters.

Convention (snnTorch's and NIR's Euler step of length ``dt``; the importer reads it back):
a decay fraction d = iDecay/4096 or vDecay/4096 is written as tau = dt / d, and the gains as
r = tau_mem / dt and w_in = tau_syn / dt, so that NIR's equations stepped by Euler at ``dt`` are

    I[t] = (1 - dt/tau_syn) I[t-1] + (dt/tau_syn) w_in W x[t] = (1 - du) I[t-1] + W x[t]
    v[t] = (1 - dt/tau_mem) v[t-1] + (dt/tau_mem) (v_leak + r I[t]) = (1 - dv) v[t-1] + I[t] + b

in Loihi's units divided by 64: weights are the integer mantissas, ``v_threshold`` is vThMant,
``v_reset`` is 0 (Loihi's hard reset), and the bias mantissa b is ``v_leak`` = b r (a constant
voltage input). A population without current memory (iDecay 4096) is a ``LIF`` node, whose input
reaches v at once: its bias is written as the bias of its first Affine or Conv2d instead, the
same thing for a LIF (most peers read no ``v_leak``). Others are ``CubaLIF``, netx's
never-spiking readout (vThMant 1 << 17) an ``LI`` or ``CubaLI``. A decay of 0 (a perfect
integrator) is written as tau = 16384 dt, which quantises back to 0; a float reader sees it
leak 6e-5 per step. Projections: dense -> ``Linear``/``Affine`` (after a ``Flatten`` of a
(C, H, W) source), conv -> ``Conv2d`` (``input_shape`` spatial), pool -> ``SumPool2d`` then a
``Scale`` by the integer weight, identity -> ``Scale``; a projection reading a concat is
written as one per concatenated source. NIR edges, like the IR, carry no delay; Lava's step per
hop is the loader's business (:mod:`loihi_snn.backends.lava_graph`), so no ``Delay`` node is
needed. Not exact in a float reader: the rounding of u and v's decays toward zero (at 1/64 of a
weight unit), the 24-bit wrap of u and of conv sums and the clipping of v.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nir
import numpy as np

from .. import __version__
from ..errors import LoihiSnnError
from ..fileio import atomic_path
from ..ir.graph import Graph, Layer, Projection, Resonator, SigmaDelta
from ..ir.hdf5 import read_network
from ..loihi.limits import DECAY_UNIT, NETX_FALLBACK_VTH

DEFAULT_DT = 1e-4  # snnTorch's dt: its importer reads the decays of a file written with it
NO_DECAY_STEPS = 16384  # tau of a decay 0, in steps: 4096 / 16384 rounds back to 0


def tau(decay: int, dt: float) -> float:
    """The time constant (s) of a 12-bit decay (of 4096) at step ``dt``."""
    return dt * DECAY_UNIT / decay if decay else dt * NO_DECAY_STEPS


def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, float(value))


def _dense(p: Projection, bias: np.ndarray | None) -> nir.NIRNode:
    weight = np.asarray(p.weight, np.float64)
    if bias is None:
        return nir.Linear(weight=weight)
    return nir.Affine(weight=weight, bias=bias)


def _conv(p: Projection, in_shape: tuple[int, ...], bias: np.ndarray | None) -> nir.NIRNode:
    weight = np.asarray(p.weight, np.float64)
    return nir.Conv2d(
        input_shape=tuple(in_shape[1:]),
        weight=weight,
        stride=tuple(p.stride),
        padding=tuple(p.padding),
        dilation=tuple(p.dilation),
        groups=p.groups,
        bias=np.zeros(weight.shape[0]) if bias is None else bias,
    )


def _scalar(p: Projection) -> float:
    return float(np.asarray(p.weight).reshape(-1)[0])


def _pool(p: Projection) -> nir.NIRNode:
    return nir.SumPool2d(
        kernel_size=np.array(p.kernel), stride=np.array(p.stride), padding=np.zeros(2, int)
    )


def _scale(shape: tuple[int, ...], value: float) -> nir.NIRNode:
    return nir.Scale(scale=_full(shape, value))


def _neuron(layer: Layer, dt: float, v_bias: np.ndarray) -> nir.NIRNode:
    """The neuron node of a population; ``v_bias``: the bias mantissas that go to ``v_leak``."""
    n = layer.neuron
    shape = layer.shape
    tau_mem = tau(n.v_decay, dt)
    r = _full(shape, tau_mem / dt)
    common = {"r": r, "v_leak": v_bias.reshape(shape) * r}
    spiking = n.vth != NETX_FALLBACK_VTH
    if spiking:
        common |= {"v_threshold": _full(shape, n.vth), "v_reset": np.zeros(shape)}
    if n.i_decay == DECAY_UNIT:
        return (nir.LIF if spiking else nir.LI)(tau=_full(shape, tau_mem), **common)
    tau_syn = tau(n.i_decay, dt)
    cuba = nir.CubaLIF if spiking else nir.CubaLI
    return cuba(
        tau_syn=_full(shape, tau_syn), tau_mem=_full(shape, tau_mem),
        w_in=_full(shape, tau_syn / dt), **common,
    )


def _refuse(graph: Graph) -> None:
    """What NIR cannot express, one LoihiSnnError naming the layer."""
    if graph.bias_input:
        raise LoihiSnnError(
            f"{graph.name}: {graph.label(0)} has neurons driven through their bias per sample "
            f"(a lava-dl netx input layer): NIR's Input node feeds data to the first synapses, "
            f"so this input has no NIR form"
        )
    for i, layer in enumerate(graph.layers):
        if layer.custom:
            raise LoihiSnnError(
                f"{graph.name}: {graph.label(i)} is a custom layer type that NIR cannot express "
                f"(NIR has stock neurons, synapses, pooling and delays only)"
            )
        delays = ["synaptic delays" for p in layer.inputs if p.delay is not None]
        kind = {SigmaDelta: "sigma-delta neurons", Resonator: "RF neurons"}.get(type(layer.neuron))
        recurrent = ["a recurrent synapse (dense_rec)" for p in layer.inputs if p.source == i]
        features = [*layer.netx_only, *([kind] if kind else []), *recurrent, *delays]
        if features:
            raise LoihiSnnError(
                f"{graph.name}: {graph.label(i)} uses {features[0]}, which the NIR export does "
                f"not express"
            )


def _bias_per_channel(layer: Layer, bias: np.ndarray) -> np.ndarray | None:
    """The bias as one value per output channel (a conv's bias), if it is that."""
    if len(layer.shape) != 3:
        return bias
    per_channel = bias.reshape(layer.shape[0], -1)
    return per_channel[:, 0] if np.all(per_channel == per_channel[:, :1]) else None


def to_nir(graph: Graph, dt: float = DEFAULT_DT, meta: dict | None = None) -> nir.NIRGraph:
    """The NIR graph of ``graph`` at step ``dt`` (module doc); ``meta``: loihi_snn metadata kept
    in the graph's metadata (JSON) for the way back."""
    if not dt > 0:
        raise LoihiSnnError(f"dt must be positive, got {dt}")
    _refuse(graph)
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(graph.input_shape))}
    edges: list[tuple[str, str]] = []
    names = {0: "input"}
    for i in graph.order:
        layer = graph.layers[i]
        if layer.kind != "population":
            continue  # input; a concat is split into its sources' projections below
        name = names[i] = f"layer{i}"
        parts = [part for p in layer.inputs for part in graph.resolved(p)]
        bias = np.zeros(layer.neurons) if layer.bias is None else layer.bias.astype(np.float64)
        # a LIF's input reaches v at once: a synapse bias is the voltage bias (portable)
        carrier = None
        if layer.bias is not None and layer.neuron.i_decay == DECAY_UNIT:
            carrier = next(
                (k for k, (_, p) in enumerate(parts)
                 if p.kind == "dense" or (p.kind == "conv"
                                          and _bias_per_channel(layer, bias) is not None)),
                None,
            )
        for k, (source, p) in enumerate(parts):
            src_shape = graph.layers[source].shape
            src = names[source]
            here = None if k != carrier else (
                bias if p.kind == "dense" else _bias_per_channel(layer, bias)
            )
            node = f"{name}.in{k}"
            if p.kind == "dense":
                if len(src_shape) > 1:
                    flat = f"{src}.flatten"
                    if flat not in nodes:
                        nodes[flat] = nir.Flatten(
                            input_type={"input": np.array(src_shape)}, start_dim=0, end_dim=-1
                        )
                        edges.append((src, flat))
                    src = flat
                nodes[node] = _dense(p, here)
            elif p.kind == "conv":
                nodes[node] = _conv(p, src_shape, here)
            elif p.kind == "pool":
                nodes[f"{node}.sum"] = _pool(p)
                edges.append((src, f"{node}.sum"))
                src = f"{node}.sum"
                nodes[node] = _scale(layer.shape, _scalar(p))
            else:
                nodes[node] = _scale(src_shape, _scalar(p))
            edges += [(src, node), (node, name)]
        v_bias = bias if carrier is None else np.zeros(layer.neurons)
        nodes[name] = _neuron(layer, dt, v_bias)
    last = names[graph.populations[-1]]
    nodes["output"] = nir.Output(output_type=np.array(graph.layers[graph.populations[-1]].shape))
    edges.append((last, "output"))
    metadata = {"producer": f"loihi_snn {__version__}", "dt": float(dt)}
    if graph.time_steps:
        metadata["time_steps"] = int(graph.time_steps)
    if meta:
        metadata["loihi_snn"] = json.dumps(meta)
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    except (ValueError, AssertionError) as err:
        raise LoihiSnnError(f"{graph.name}: NIR refuses the graph: {err}") from None


def rebase_checkpoint(meta: dict | None, old: Path, new: Path) -> dict | None:
    """``meta`` with its checkpoint path (relative to the file ``old``) made relative to the file
    ``new``."""
    if not meta or "checkpoint" not in meta:
        return meta
    checkpoint = (old.resolve().parent / meta["checkpoint"]).resolve()
    return {**meta, "checkpoint": os.path.relpath(checkpoint, new.resolve().parent)}


def export_nir(source: str | Path, out: str | Path, dt: float = DEFAULT_DT) -> Path:
    """Write the network file ``source`` as a NIR file ``out`` (atomic)."""
    source, out = Path(source), Path(out)
    graph = read_network(source)
    meta = rebase_checkpoint(graph.meta, source, out)
    g = to_nir(graph, dt, meta)
    with atomic_path(out) as tmp:
        nir.write(tmp, g)
    return out
