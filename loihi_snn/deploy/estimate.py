"""Energy and time per inference on a chip, from the toolkit's operation counts of a run
(:mod:`loihi_snn.energy.counting`) and a mapping (:mod:`.mapper`), calibrated on the chip's
measured benchmark (lava-dl's PilotNet LIF for Loihi 2). Per inference of T steps:

* work W of a layer (pJ): the ``loihi`` cost model's energy of its counts, 23.6 pJ per synaptic
  op and 81 / 52 pJ per active / inactive neuron update (Davies et al. 2018, Loihi 1), one
  currency for synaptic and neuron work;
* dynamic energy = sum of W x E_b / W_b, with E_b the benchmark's measured dynamic energy per
  inference and W_b the toolkit's work of the same file
  (:func:`loihi_snn.energy.costs.calibrated_loihi`): assumes Loihi 2 keeps Loihi 1's ratios;
* time per step = the work per step of the busiest neurocore (a layer's W / T spread evenly over
  its cores) x t_b / w_b, with t_b the benchmark's measured time per step, 1 / (rate x T), and
  w_b the busiest core's work per step in the toolkit's mapping of it: a barrier-synchronised
  step ends when its busiest core is done. No per-step floor (synchronisation, host management)
  is modelled, none being published: for small networks this is a lower bound;
* time per inference = T x time per step (one sample per reset interval, as the benchmark
  counts; pipeline fill and input IO excluded, as its one repeated frame excludes them);
  inferences per second its inverse;
* static energy = the benchmark's static power per chip x chips x time per inference.

Layers off the neurocores (embedded CPU, host) and custom layers the Loihi prices do not cover
are named as not priced and left out of energy and time, never counted as zero. By construction
the benchmark's own file reproduces its measured energy and throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..energy.costs import BUILTIN_COSTS, CostModel, calibrated_loihi
from ..energy.counting import NetworkCounts
from .mapper import NEUROCORES, Mapping


@dataclass
class LayerEstimate:
    """Energy per inference of one layer (pJ; None: not priced) and the work per step on each of
    its cores (pJ)."""

    index: int
    label: str
    loihi_pj: float | None
    loihi2_pj: float | None
    core_work_pj: float


@dataclass
class Estimate:
    """Per inference: dynamic and static energy (mJ), time (s), the busiest core's layer, the
    layers not priced, and both cost models (Loihi 1 as published, Loihi 2 calibrated)."""

    samples: int
    steps: int
    layers: list[LayerEstimate]
    dynamic_mj: float
    static_mj: float
    seconds: float
    busiest: str
    not_priced: list[str]
    models: tuple[CostModel, CostModel]

    @property
    def total_mj(self) -> float:
        return self.dynamic_mj + self.static_mj

    @property
    def inferences_per_s(self) -> float:
        return 1.0 / self.seconds if self.seconds else float("inf")

    @property
    def loihi_mj(self) -> float:
        """The Loihi 1 model's dynamic energy of the same counts (mJ)."""
        return sum(layer.loihi_pj or 0.0 for layer in self.layers) / 1e9


def layer_work(mapping: Mapping, counts: NetworkCounts) -> list[LayerEstimate]:
    """Each counted layer's Loihi 1 work per inference and per step on one of its cores; layers
    off the neurocores are not priced."""
    loihi = BUILTIN_COSTS["loihi"]
    where = {m.index: m for m in mapping.layers}
    rows = []
    for layer in counts.layers:
        m = where[layer.index]
        pj = loihi.layer_pj(layer) if m.placement == NEUROCORES else None
        per = None if pj is None else pj / counts.samples
        core = per / counts.time_steps / m.cores if per is not None and m.cores else 0.0
        rows.append(LayerEstimate(layer.index, m.label, per, None, core))
    return rows


def calibration(mapping: Mapping, counts: NetworkCounts) -> tuple[float, float]:
    """(work per inference, busiest core's work per step), pJ: what the chip table's benchmark
    entries ``work_pj`` and ``busiest_core_work_pj`` hold for the benchmark's own file."""
    rows = layer_work(mapping, counts)
    return sum(r.loihi_pj or 0.0 for r in rows), max(r.core_work_pj for r in rows)


def estimate(mapping: Mapping, counts: NetworkCounts) -> Estimate:
    """Energy and time per inference of ``counts``' network on ``mapping``'s board (module doc)."""
    bench = mapping.chip.benchmark
    loihi2 = calibrated_loihi(
        "loihi2",
        bench.dynamic_energy_mj * 1e9,
        bench.work_pj,
        f"{mapping.chip.name} calibrated on {bench.name} ({bench.dynamic_energy_mj} mJ dynamic "
        f"per inference, {bench.inferences_per_s} inferences/s on {bench.board})",
    )
    rows = layer_work(mapping, counts)
    for row, layer in zip(rows, counts.layers, strict=True):
        if row.loihi_pj is not None:
            row.loihi2_pj = loihi2.layer_pj(layer) / counts.samples
    busiest = max(rows, key=lambda r: r.core_work_pj)
    step_s = 1.0 / (bench.inferences_per_s * bench.steps) / bench.busiest_core_work_pj
    seconds = counts.time_steps * busiest.core_work_pj * step_s
    return Estimate(
        samples=counts.samples,
        steps=counts.time_steps,
        layers=rows,
        dynamic_mj=sum(r.loihi2_pj or 0.0 for r in rows) / 1e9,
        static_mj=bench.static_power_w * mapping.chips * seconds * 1e3,
        seconds=seconds,
        busiest=busiest.label,
        not_priced=[r.label for r in rows if r.loihi_pj is None],
        models=(BUILTIN_COSTS["loihi"], loihi2),
    )
