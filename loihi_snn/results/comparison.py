"""A comparison file, the metrics it can ask for, and its reader.

A comparison file (TOML, read strictly like a recipe: an unknown key or a wrong type is refused in
one line naming the key and the file)::

    name = "biasnn"                  # runs in <runs>/biasnn/<label>-s<seed>
    title = "BIASNN vs LASNN vs no mask"
    seeds = [0, 1, 2]
    set = ["train.epochs=4"]         # overrides applied to every variant: the budget
    metrics = ["accuracy", "lif_rate", "energy"]   # names of METRICS
    n = 10000                        # test images for the metrics (default 10000)
    energy_model = "cmos45"          # cost model of the energy metric (default cmos45)

    [[variants]]
    label = "BIASNN"                 # letters, digits, '_', '-', '.', '+': part of a folder name
    recipe = "../train/fmnist_biasnn.toml"   # relative to this file, or to the repository

    [paper.BIASNN.lif_rate]          # the paper's number, in the metric's unit, and its source
    value = 9.64
    source = "BIASNN, Sci. Rep. 2025, ..."
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import tomli

from ..energy.costs import BUILTIN_COSTS
from ..errors import LoihiSnnError
from ..recipe import Recipe

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Metric:
    """One metric of the registry: ``title`` and ``unit`` head its column, ``digits`` are its
    decimals in the table, ``definition`` says what is measured."""

    name: str
    title: str
    unit: str
    digits: int
    definition: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "accuracy", "test accuracy", "", 4,
            "share of the n test images the exported file classifies right on the fast backend "
            "(bit-exact with Lava fixed_pt)",
        ),
        Metric(
            "lif_rate", "LIF spike rate outside masks", "%", 2,
            "spikes per neuron per step over every LIF population, the output layer included, "
            "custom layers (masks, token selection) left out; as loihi-snn biasnn-stats",
        ),
        Metric(
            "energy", "energy per inference", "nJ", 1,
            "total energy per test image under the cost model energy_model (default cmos45: 45 nm, "
            "the seeds' formula); as loihi-snn energy --backend fast",
        ),
        Metric(
            "sops", "SOPs per sample", "", 0,
            "synaptic operations per test image: every non-zero source event (spike or graded "
            "payload) times its non-zero synapses, over every projection; as loihi-snn "
            "sparta-stats and loihi-snn energy",
        ),
        Metric(
            "sparsity", "token sparsity", "", 3,
            "1 - K / N of the token selection (K tokens kept of N), mean over the test images; as "
            "loihi-snn sparta-stats (needs a token_select layer)",
        ),
    )
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")
_TOP = ("name", "title", "seeds", "set", "metrics", "n", "energy_model", "variants", "paper")


@dataclass
class Variant:
    """One variant: its label and the recipe file it trains (resolved path)."""

    label: str
    recipe: Path


@dataclass
class Comparison:
    """A comparison file read by :func:`load_comparison`; ``paper``: label -> metric ->
    (value in the metric's unit, source)."""

    name: str
    title: str
    seeds: list[int]
    variants: list[Variant]
    metrics: list[str]
    path: Path
    n: int = 10000
    set: list[str] = field(default_factory=list)
    energy_model: str = "cmos45"
    paper: dict[str, dict[str, tuple[float, str]]] = field(default_factory=dict)


@dataclass
class Run:
    """One variant x seed of a comparison: its effective recipe, run folder and the epoch its
    checkpoint holds (None without one)."""

    variant: Variant
    seed: int
    recipe: Recipe
    folder: Path
    epoch: int | None

    @property
    def finished(self) -> bool:
        return self.epoch == self.recipe.train.epochs


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ints(value: object) -> bool:
    return isinstance(value, list) and all(type(v) is int for v in value)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _keys(table: object, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> dict:
    """``table`` as a dict with only ``allowed`` keys and every ``required`` one."""
    if not isinstance(table, dict):
        raise LoihiSnnError(f"{where} must be a table")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise LoihiSnnError(
            f"unknown key '{unknown[0]}' in {where}; allowed keys: {', '.join(allowed)}"
        )
    missing = [key for key in required if key not in table]
    if missing:
        raise LoihiSnnError(f"{where} needs the key '{missing[0]}'")
    return table


def _recipe_path(text: str, base: Path, where: str) -> Path:
    """A variant's recipe: relative to the comparison file's folder, else to the repository."""
    for candidate in (base / text, REPO / text):
        if candidate.is_file():
            return candidate
    raise LoihiSnnError(
        f"{where}: recipe {text} not found (looked in {base} and {REPO})"
    )


def load_comparison(path: str | Path) -> Comparison:
    """Read and check a comparison file (module docstring); recipes must exist, labels be unique,
    metrics be names of :data:`METRICS`, paper numbers name a variant and one of its metrics."""
    path = Path(path)
    try:
        raw = tomli.loads(path.read_text())
    except OSError as err:
        raise LoihiSnnError(f"cannot read comparison {path}: {err.strerror}") from None
    except tomli.TOMLDecodeError as err:
        raise LoihiSnnError(f"{path} is not valid TOML: {err}") from None
    raw = _keys(raw, _TOP, ("name", "title", "seeds", "metrics", "variants"), str(path))
    checks = (
        ("name", lambda v: isinstance(v, str) and bool(_NAME.match(v)),
         "a name of letters, digits, '_', '-', '.', '+' (it names the runs' folder)"),
        ("title", lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
        ("seeds", lambda v: _ints(v) and v and len(set(v)) == len(v) and min(v) >= 0,
         "a non-empty list of distinct integers >= 0"),
        ("set", lambda v: _strings(v) and all("=" in s for s in v),
         "a list of 'key=value' recipe overrides"),
        ("metrics", lambda v: _strings(v) and v and len(set(v)) == len(v)
         and all(m in METRICS for m in v),
         f"a non-empty list of distinct metrics of {', '.join(METRICS)}"),
        ("n", lambda v: type(v) is int and v >= 1, "an integer >= 1 (test images)"),
        ("energy_model", lambda v: v in BUILTIN_COSTS, f"one of {', '.join(BUILTIN_COSTS)}"),
        ("variants", lambda v: isinstance(v, list) and v, "a list of [[variants]] tables"),
        ("paper", lambda v: isinstance(v, dict), "a table [paper.<label>.<metric>]"),
    )
    for key, ok, what in checks:
        if key in raw and not ok(raw[key]):
            raise LoihiSnnError(f"{path}: '{key}' must be {what}")
    check_overrides(raw.get("set", []), str(path))
    variants = []
    for i, table in enumerate(raw["variants"]):
        where = f"[[variants]] #{i} of {path}"
        table = _keys(table, ("label", "recipe"), ("label", "recipe"), where)
        label, recipe = table["label"], table["recipe"]
        if not isinstance(label, str) or not _NAME.match(label):
            raise LoihiSnnError(
                f"{where}: 'label' must be letters, digits, '_', '-', '.', '+' (it names run "
                f"folders)"
            )
        if label in {v.label for v in variants}:
            raise LoihiSnnError(f"{where}: label '{label}' is used twice")
        if not isinstance(recipe, str):
            raise LoihiSnnError(f"{where}: 'recipe' must be a path (a string)")
        variants.append(Variant(label, _recipe_path(recipe, path.parent, where)))
    paper: dict[str, dict[str, tuple[float, str]]] = {}
    for label, table in raw.get("paper", {}).items():
        if label not in {v.label for v in variants}:
            raise LoihiSnnError(f"[paper.{label}] of {path}: '{label}' is not a variant's label")
        table = _keys(table, tuple(raw["metrics"]), (), f"[paper.{label}] of {path}")
        for metric, entry in table.items():
            where = f"[paper.{label}.{metric}] of {path}"
            entry = _keys(entry, ("value", "source"), ("value", "source"), where)
            if not _number(entry["value"]):
                raise LoihiSnnError(f"{where}: 'value' must be a number")
            if not isinstance(entry["source"], str) or not entry["source"].strip():
                raise LoihiSnnError(f"{where}: 'source' must say where the number comes from")
            paper.setdefault(label, {})[metric] = (float(entry["value"]), entry["source"])
    return Comparison(
        name=raw["name"],
        title=raw["title"],
        seeds=raw["seeds"],
        variants=variants,
        metrics=raw["metrics"],
        path=path,
        n=raw.get("n", 10000),
        set=raw.get("set", []),
        energy_model=raw.get("energy_model", "cmos45"),
        paper=paper,
    )


def check_overrides(overrides: list[str], where: str) -> None:
    """The seed is the comparison's: each run gets ``seed=<s>``."""
    for item in overrides:
        if item.partition("=")[0].strip() == "seed":
            raise LoihiSnnError(
                f"{where}: the override {item!r} sets the seed, which the comparison sets per run "
                f"(seeds): remove it"
            )


