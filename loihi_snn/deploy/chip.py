"""A chip table (:func:`loihi_snn.loihi.limits.load_table`) as the dataclasses the mapper and
the estimate read: resources per chip and per core, boards, and the measured benchmark."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import LoihiSnnError
from ..loihi.limits import LOIHI2, load_table


@dataclass(frozen=True)
class Board:
    """A board: its chips and the neurocores usable on it (chips x neurocores per chip unless
    the vendor states fewer)."""

    name: str
    chips: int
    neurocores: int


@dataclass(frozen=True)
class Benchmark:
    """A workload measured on the chip, and the toolkit's own counts of it (the calibration).

    steps: time steps per inference; inferences_per_s: measured throughput; static_power_w,
    dynamic_power_w: measured power (W) on ``board``; energy_mj, dynamic_energy_mj: the published
    energy per inference (mJ, what the calibrated model must reproduce); work_pj: the toolkit's
    Loihi-1-weighted work of one inference (pJ); busiest_core_work_pj: the same work per step on
    the busiest neurocore of the toolkit's mapping (pJ)."""

    name: str
    board: str
    steps: int
    io: str
    inferences_per_s: float
    static_power_w: float
    dynamic_power_w: float
    energy_mj: float
    dynamic_energy_mj: float
    work_pj: float
    busiest_core_work_pj: float


@dataclass(frozen=True)
class Chip:
    """One chip generation: per-chip and per-core budgets (counts), number ranges the mapper
    checks, boards, and the calibration benchmark; ``table`` keeps every entry's source."""

    name: str
    neurocores: int
    embedded_cpus: int
    lava_embedded_cpus: int
    neurons_per_core: int
    synapses_per_core: int
    axons_in_per_core: int
    axons_out_per_core: int
    weight_min: int
    weight_max: int
    reset_power_of_two: bool
    boards: dict[str, Board]
    benchmark: Benchmark
    table: dict

    def board(self, spec: str) -> Board:
        """A named board, or ``N-chips`` for N chips of this generation."""
        if spec in self.boards:
            return self.boards[spec]
        match = re.fullmatch(r"(\d+)-chips?", spec)
        if match and int(match.group(1)) >= 1:
            chips = int(match.group(1))
            return Board(spec, chips, chips * self.neurocores)
        raise LoihiSnnError(
            f"unknown board '{spec}' for {self.name}: use {', '.join(self.boards)} or N-chips "
            f"(e.g. 4-chips)"
        )

    def entry(self, section: str, key: str) -> str:
        """'value (sure: source)' of one table entry, for reports."""
        e = self.table[section][key]
        return f"{e['value']} ({e['sure']}: {e['source']})"


def load_chip(path: str | Path | None = None) -> Chip:
    """The chip of a table file (default: the packaged Loihi 2 table); a missing entry is a
    LoihiSnnError naming it."""
    table = LOIHI2 if path is None else load_table(path)
    where = path or "loihi2.toml"

    def get(section: str, key: str, kind: type = int):
        try:
            value = table[section][key]["value"]
        except KeyError:
            raise LoihiSnnError(f"{where}: the chip table has no {section}.{key}") from None
        if kind is not str and (isinstance(value, bool) != (kind is bool)):
            raise LoihiSnnError(f"{where}: {section}.{key} must be a {kind.__name__}")
        return kind(value)

    neurocores = get("chip", "neurocores")
    boards = {}
    for name, entries in table["boards"].items():
        chips = int(entries["chips"]["value"])
        cores = int(entries["neurocores"]["value"]) if "neurocores" in entries else None
        boards[name] = Board(name, chips, cores or chips * neurocores)
    bench = Benchmark(
        get("benchmark", "name", str),
        get("benchmark", "board", str),
        get("benchmark", "steps_per_inference"),
        get("benchmark", "io", str),
        *(
            get("benchmark", key, float)
            for key in (
                "inferences_per_s", "static_power_w", "dynamic_power_w", "energy_mj",
                "dynamic_energy_mj", "work_pj", "busiest_core_work_pj",
            )
        ),
    )
    if bench.board not in boards:
        raise LoihiSnnError(f"{where}: benchmark.board '{bench.board}' is not one of its boards")
    return Chip(
        name=table["name"],
        neurocores=neurocores,
        embedded_cpus=get("chip", "embedded_cpus"),
        lava_embedded_cpus=get("chip", "lava_embedded_cpus"),
        neurons_per_core=get("chip", "neurons_per_core"),
        synapses_per_core=get("chip", "synapses_per_core"),
        axons_in_per_core=get("chip", "axons_in_per_core"),
        axons_out_per_core=get("chip", "axons_out_per_core"),
        weight_min=get("limits", "weight_min"),
        weight_max=get("limits", "weight_max"),
        reset_power_of_two=get("limits", "reset_interval_power_of_two", bool),
        boards=boards,
        benchmark=bench,
        table=table,
    )
