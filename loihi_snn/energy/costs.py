"""Cost models: energy per operation, in picojoules (pJ), each with its source.

Built in: ``cmos45`` (the seeds' formula at 45 nm), ``cmos45-events`` (the same prices on every
operation measured from the traces) and ``loihi`` (Loihi's published per-operation energies);
:func:`calibrated_loihi` scales ``loihi`` to a chip measured on one workload (Loihi 2, in
``loihi-snn deploy``). A user table (TOML or JSON) adds more::

    [models.my-chip]            # JSON: {"models": {"my-chip": {...}}}
    source = "where the numbers come from"
    ac = 0.03                   # pJ per accumulate (binary spike into one synapse)
    mac = 0.1                   # pJ per multiply-accumulate (graded value into one synapse)
    add = 0.03                  # optional, pJ per addition counted by the op model
    mult = 0.07                 # optional, pJ per multiplication counted by the op model
    neuron_active = 0.0         # optional, pJ per active neuron update
    neuron_inactive = 0.0       # optional, pJ per inactive neuron update
    convention = "events"       # optional, "events" (default) or "formula"
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import tomli

from ..errors import LoihiSnnError

if TYPE_CHECKING:
    from .counting import LayerCounts

CONVENTIONS = ("events", "formula")


@dataclass(frozen=True)
class CostModel:
    """Energy per operation in picojoules (pJ).

    ac: per accumulate, one binary input event reaching one synapse (a synaptic operation, SOP).
    mac: per multiply-accumulate, one nonzero graded input value reaching one synapse.
    add, mult: per addition / multiplication of neuron or custom-process arithmetic, as counted
    by the op model (``--op-model biasnn``); 0 leaves that arithmetic unpriced.
    neuron_active, neuron_inactive: per neuron update, active or not (see
    :mod:`loihi_snn.energy.counting` for the definition).
    convention: ``events`` prices the operations measured from the traces at every step;
    ``formula`` is the seeds' formula (SpiLiFormer Eqs. 25-27): a binary-input layer costs
    ac x fr x T x FLOPs, a graded-input layer mac x FLOPs (once per sample when its input is the
    same at every step, else x T), FLOPs being the layer's dense MACs per step.
    """

    name: str
    source: str
    ac: float
    mac: float
    add: float = 0.0
    mult: float = 0.0
    neuron_active: float = 0.0
    neuron_inactive: float = 0.0
    convention: str = "events"

    def layer_pj(self, layer: LayerCounts) -> float | None:
        """Energy (pJ) of one layer's counts, summed over all its samples and steps; None when
        this model cannot price it: a custom layer whose type gives no operation count, or whose
        arithmetic this model has no price for (``add`` or ``mult`` 0)."""
        if layer.custom and not (layer.priced and self.add and self.mult):
            return None
        if self.convention == "formula":
            if layer.kind == "input":
                synaptic = 0.0
            elif layer.graded_input:
                repeats = 1 if layer.static_input else layer.time_steps
                synaptic = self.mac * layer.flops * repeats * layer.samples
            else:
                synaptic = self.ac * layer.formula_sops
        else:
            synaptic = self.ac * layer.synops + self.mac * layer.macs
        inactive = layer.neuron_updates - layer.active_updates
        neurons = self.neuron_active * layer.active_updates + self.neuron_inactive * inactive
        arithmetic = self.add * layer.neuron_adds + self.mult * layer.neuron_mults
        return synaptic + neurons + arithmetic


HOROWITZ = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014: 45 nm, "
    "32-bit float add 0.9 pJ, mult 3.7 pJ (MAC 4.6 pJ)"
)
BUILTIN_COSTS: dict[str, CostModel] = {
    "cmos45": CostModel(
        "cmos45",
        HOROWITZ + "; seeds' formula E = E_AC x SOPs + E_MAC x FLOPs of the graded-input (first) "
        "layer (SpiLiFormer Eqs. 25-27; BIASNN)",
        ac=0.9,
        mac=4.6,
        add=0.9,
        mult=3.7,
        convention="formula",
    ),
    "cmos45-events": CostModel(
        "cmos45-events",
        HOROWITZ + "; every accumulate and multiply-accumulate measured from the traces, at every "
        "step (the honest AC/MAC split)",
        ac=0.9,
        mac=4.6,
        add=0.9,
        mult=3.7,
        convention="events",
    ),
    "loihi": CostModel(
        "loihi",
        "M. Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', IEEE "
        "Micro 38(1), 2018, Table 1 (14 nm): synaptic spike op 23.6 pJ, neuron update 81 pJ "
        "active / 52 pJ inactive. Assumed here: a graded event costs one synaptic op per synapse "
        "(Loihi 1 has no graded spikes); op-model arithmetic is not priced (inside the update)",
        ac=23.6,
        mac=23.6,
        neuron_active=81.0,
        neuron_inactive=52.0,
        convention="events",
    ),
}
ANN_MAC_PJ = 4.6  # the ANN comparison: E_MAC (Horowitz 2014, 45 nm) per MAC of every layer


def calibrated_loihi(name: str, dynamic_pj: float, work_pj: float, source: str) -> CostModel:
    """A chip's dynamic energy per operation (pJ) where no per-operation figure is published:
    Loihi 1's (``loihi``) times one factor, dynamic_pj / work_pj, fitted on one measured workload:
    ``dynamic_pj`` its measured dynamic energy per inference, ``work_pj`` the ``loihi`` model's
    energy of the toolkit's counts of that workload (both pJ). Assumed: the chip keeps Loihi 1's
    ratios between synaptic ops and active / inactive neuron updates."""
    scale = dynamic_pj / work_pj
    base = BUILTIN_COSTS["loihi"]
    return CostModel(
        name,
        f"{source}; Loihi 1's per-operation energies (Davies et al. 2018) x {scale:.4f}",
        ac=base.ac * scale,
        mac=base.mac * scale,
        neuron_active=base.neuron_active * scale,
        neuron_inactive=base.neuron_inactive * scale,
        convention="events",
    )


def _model(name: str, entry: object, path: Path) -> CostModel:
    where = f"{path}: model '{name}'"
    if not isinstance(entry, dict):
        raise LoihiSnnError(f"{where} must be a table of costs")
    known = {f.name for f in fields(CostModel)} - {"name"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise LoihiSnnError(
            f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})"
        )
    for key in ("source", "ac", "mac"):
        if key not in entry:
            raise LoihiSnnError(f"{where} needs '{key}'")
    if not isinstance(entry["source"], str) or not entry["source"].strip():
        raise LoihiSnnError(f"{where}: 'source' must say where the numbers come from")
    values = {}
    for key, value in entry.items():
        if key in ("source", "convention"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise LoihiSnnError(
                f"{where}: '{key}' must be a non-negative number of pJ, not {value!r}"
            )
        values[key] = float(value)
    convention = entry.get("convention", "events")
    if convention not in CONVENTIONS:
        raise LoihiSnnError(f"{where}: convention must be one of {', '.join(CONVENTIONS)}")
    return CostModel(name, entry["source"], convention=convention, **values)


def load_cost_table(path: str | Path) -> list[CostModel]:
    """Cost models from a TOML or JSON file holding a ``models`` table of named models."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise LoihiSnnError(f"cannot read cost table {path}: {err.strerror}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomli.loads(text)
    except (ValueError, tomli.TOMLDecodeError) as err:
        raise LoihiSnnError(f"{path} is not valid {path.suffix[1:] or 'TOML'}: {err}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not models:
        raise LoihiSnnError(f"{path} has no 'models' table (see sim/ENERGY.md for the format)")
    return [_model(str(name), entry, path) for name, entry in models.items()]
