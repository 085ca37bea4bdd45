"""``loihi-snn inspect``: what a network file holds, without running it: format, metadata, layers
with shapes and inputs, neuron parameters in Loihi's integer units and as time constants and
thresholds, which backends run it, and what it needs on a Loihi 2 board (the deploy mapper).

Units: a CUBA neuron decays its current by du/4096 and its voltage by dv/4096 per step, a time
constant of tau = -1 / ln(1 - d/4096) steps (infinite for d = 0: no leak; 0 for d = 4096: no
memory); it spikes when v > vThMant * 2^6, which is vThMant / 64 in units of a weight mantissa of
64 (weights w_int act as w_int / 64 in lava-dl SLAYER, the toolkit's training).
"""

from __future__ import annotations

import math
from pathlib import Path

from .ir.graph import Graph, Layer, Neuron, numeral
from .loihi.limits import DECAY_UNIT


def time_constant(decay: int) -> float | None:
    """Steps for a state to fall to 1/e under a 12-bit decay (None: no decay, infinite)."""
    if decay <= 0:
        return None
    if decay >= DECAY_UNIT:
        return 0.0
    return -1.0 / math.log(1.0 - decay / DECAY_UNIT)


def _neuron(neuron: object) -> dict:
    """A layer's neuron (a LIF, a sigma-delta or an RF neuron) as the table's columns (du and dv
    "-" for a sigma-delta or RF neuron, which have neither) and its ``type``. A sigma-delta
    neuron has no current and sums its input without leak (tau_u 0, tau_v infinite); its
    threshold is that of a change, vThMant << 12, vThMant in units of a weight of 64 times a
    payload of 1.0. An RF neuron adds its input to its state directly (tau_u 0), which turns by
    2 pi / ``period_steps`` per step and shrinks by ``alpha`` (tau_v: the time constant of that
    shrinking, infinite when it does not shrink); it compares its real part (RF_IZ: its
    imaginary part) with vThMant << 6, as a LIF its voltage."""
    from .ir.graph import Resonator, SigmaDelta

    if isinstance(neuron, Neuron):
        du, dv = neuron.i_decay - 1 if neuron.i_decay else 0, neuron.v_decay
        return {
            "type": "CUBA LIF",
            "du": du,
            "dv": dv,
            "vth_mant": neuron.vth,
            "current_decay": du / DECAY_UNIT,
            "voltage_decay": dv / DECAY_UNIT,
            "tau_current_steps": time_constant(du),
            "tau_voltage_steps": time_constant(dv),
            "threshold_v": neuron.vth << 6,
            "threshold_weight_units": neuron.vth / 64,
        }
    if isinstance(neuron, SigmaDelta):
        return {
            "type": f"sigma-delta ({neuron.role})", "du": "-", "dv": "-",
            "vth_mant": neuron.vth, "current_decay": None, "voltage_decay": 0.0,
            "tau_current_steps": 0.0, "tau_voltage_steps": None,
            "threshold_v": neuron.vth << 12, "threshold_weight_units": float(neuron.vth),
        }
    assert isinstance(neuron, Resonator)
    radius = math.hypot(neuron.sin_decay, neuron.cos_decay) / DECAY_UNIT
    turn = math.atan2(neuron.sin_decay, neuron.cos_decay)
    return {
        "type": "RF_IZ" if neuron.iz else "RF", "du": "-", "dv": "-",
        "vth_mant": neuron.vth, "sin_decay": neuron.sin_decay, "cos_decay": neuron.cos_decay,
        "period_steps": 2 * math.pi / turn if turn else None, "alpha": 1 - radius,
        "current_decay": None, "voltage_decay": 1 - radius, "tau_current_steps": 0.0,
        "tau_voltage_steps": -1 / math.log(radius) if 0 < radius < 1 else 0.0 if radius == 0
        else None,
        "threshold_v": neuron.vth << 6, "threshold_weight_units": neuron.vth / 64,
    }


def _layer(graph: Graph, i: int) -> dict:
    layer: Layer = graph.layers[i]
    row = {
        "index": graph.number(i),  # None: the input a NetX file without input layer implies
        "name": graph.tag(i),
        "kind": layer.kind,
        "shape": list(layer.shape),
        "neurons": math.prod(layer.shape) if layer.has_neurons else 0,
        "inputs": [
            {
                "source": graph.number(p.source),
                "kind": p.kind,
                "weight_shape": list(p.weight.shape),
                "weight_range": [int(p.weight.min(initial=0)), int(p.weight.max(initial=0))],
                "delays": p.delay is not None and bool(p.delay.any()),
            }
            for p in layer.inputs
        ],
        "neuron": None if layer.neuron is None else _neuron(layer.neuron),
        "bias": layer.bias is not None and bool(layer.bias.any()),
        "netx_only": list(layer.netx_only),
    }
    if layer.sources:
        row["sources"] = [graph.number(k) for k in layer.sources]
    return row


def _backends(graph: Graph) -> dict:
    """Which backends run the file: the fast one refuses features only netx implements (as
    :func:`loihi_snn.backends.inputs.refuse_netx_only` does before a run)."""
    refused = [
        f"{graph.label(i)} uses {', '.join(layer.netx_only)}"
        for i, layer in enumerate(graph.layers)
        if layer.netx_only
    ]
    fast = f"no: {'; '.join(refused)}, which it does not implement" if refused else "yes"
    return {"lava": "yes (Loihi2SimCfg fixed_pt; Loihi2HwCfg with lava-loihi)", "fast": fast}


def _loihi2(graph: Graph) -> dict:
    from .deploy.chip import load_chip
    from .deploy.mapper import map_network

    chip = load_chip()
    mapping = map_network(graph, chip, chip.board("oheo-gulch"), graph.time_steps)
    return {
        "board": mapping.board.name,
        "fits": mapping.fits,
        "neurocores": mapping.cores,
        "embedded_cpus": mapping.embedded_cpus,
        "chips": mapping.chips,
        "violations": mapping.violations,
        "placement": {m.name: m.placement for m in mapping.layers},
    }


def inspect(path: str | Path) -> dict:
    """Describe a network file of either format (and any netx file, e.g. lava-dl's) as a
    JSON-able dict: format, origin, time steps, metadata, layers, backends, Loihi 2 resources."""
    from .ir.hdf5 import file_format, read_network

    graph = read_network(path)
    return {
        "file": str(path),
        "format": file_format(path),
        "format_name": {1: "NetX (sequential)", 2: "graph"}.get(file_format(path), "?"),
        "origin": graph.origin,
        "time_steps": graph.time_steps,
        "input_shape": list(graph.input_shape),
        "input_neurons": graph.input_neuron,
        "voltage_readout": graph.voltage_readout,
        "metadata": graph.meta,
        "layers": [_layer(graph, i) for i in range(len(graph.layers))],
        "backends": _backends(graph),
        "loihi2": _loihi2(graph),
    }


def _short(value: object) -> str:
    return f"{len(value)} values" if isinstance(value, list) and len(value) > 4 else str(value)


def _tau(value: float | None) -> str:
    return "inf" if value is None else f"{value:.1f}"


def format_inspection(info: dict) -> str:
    """The description as a table."""
    meta = info["metadata"] or {}
    first = info["layers"][0]["neuron"]
    through = " through input neurons" if info["input_neurons"] else ""
    if first and first["type"].startswith("sigma-delta"):
        through = " through sigma-delta input neurons (a value per step)"
    lines = [
        f"{info['file']}: format {info['format']} ({info['format_name']}), origin {info['origin']},"
        f" {info['time_steps'] or '?'} steps per sample, input {tuple(info['input_shape'])}"
        + through
        + ("; classes read from the output layer's voltage" if info["voltage_readout"] else ""),
        "metadata: "
        + (", ".join(f"{k}={_short(v)}" for k, v in meta.items() if k != "checkpoint_sha256")
           or "none"),
        f"{'layer':>5} {'kind':14} {'shape':>14} {'neurons':>8} {'inputs':24} {'du':>5} "
        f"{'dv':>5} {'tau_u':>6} {'tau_v':>6} {'vThMant':>8} {'thr (w)':>8}",
    ]
    for row in info["layers"]:
        feed = "+".join(f"{p['kind']}<{numeral(p['source'])}" for p in row["inputs"]) or "-"
        n = row["neuron"]
        cells = (
            f"{n['du']:>5} {n['dv']:>5} {_tau(n['tau_current_steps']):>6} "
            f"{_tau(n['tau_voltage_steps']):>6} {n['vth_mant']:>8} "
            f"{n['threshold_weight_units']:>8.3g}"
            if n
            else f"{'-':>5} {'-':>5} {'-':>6} {'-':>6} {'-':>8} {'-':>8}"
        )
        shape = "x".join(map(str, row["shape"]))
        kind = row["kind"]  # a population's neurons by type, where they are not CUBA LIFs
        if n and n["type"] != "CUBA LIF":
            kind = n["type"].replace("sigma-delta", "SD").replace("sigma_delta", "sig-delta")
        extra = f"  netx only: {', '.join(row['netx_only'])}" if row["netx_only"] else ""
        lines.append(
            f"{numeral(row['index']):>5} {kind[:14]:14} {shape:>14} {row['neurons']:>8} "
            f"{feed[:24]:24} {cells}{extra}"
        )
    lines.append("tau: time constants in steps (inf: no leak); thr (w): threshold in weight units; "
                 "SD: sigma-delta neurons")
    lines += [f"backend {name}: {what}" for name, what in info["backends"].items()]
    hw = info["loihi2"]
    lines.append(
        f"Loihi 2 ({hw['board']}): {hw['neurocores']} neurocores, {hw['embedded_cpus']} embedded "
        f"CPUs, {hw['chips']} chip(s); "
        + ("fits" if hw["fits"] else f"does not fit: {'; '.join(hw['violations'])}")
    )
    off = [f"{name} on {where}" for name, where in hw["placement"].items() if where != "neurocores"]
    if off:
        lines.append(f"off the neurocores: {', '.join(off)}")
    return "\n".join(lines)
