"""Training recipes: TOML files with [data], [neuron], [[layers]] and [train] tables.

Every table is read into a small dataclass; an unknown key or a wrong type is refused with a message
naming the key and the file, so that a typo never trains silently with a default.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli

from .data.event_folders import EVENT_FORMATS
from .errors import LoihiSnnError
from .mechanisms.lidiff.rules import ATTENTIONS
from .mechanisms.spk.rules import threshold_problem


@dataclass
class DataSpec:
    """Dataset and spike encoding.

    dataset: ``digits`` (scikit-learn, embedded), ``fmnist`` (IDX files in ``path``) or an
    event-camera dataset, ``nmnist`` or ``dvs128`` (``path``/Train/<class>/ and Test/<class>/).
    encoder: ``direct`` feeds integer pixel levels 0..``levels`` as graded spikes at every step;
    ``rate`` feeds Bernoulli spikes with probability pixel/max. Event datasets take ``direct``
    only: the events counted per polarity, pixel and bin of ``bin_us`` microseconds (0: each
    recording's span in ``time_steps`` equal bins), capped at ``levels``, are the spikes.
    """

    dataset: str = "digits"
    path: str = ""
    encoder: str = "direct"
    levels: int = 16
    time_steps: int = 16
    test_fraction: float = 0.2
    bin_us: int = 0


@dataclass
class NeuronSpec:
    """CUBA neuron in SLAYER units: threshold in weight units (x64 on chip), decays as fractions
    (x4096 on chip, 12 bit)."""

    threshold: float = 1.25
    current_decay: float = 0.25
    voltage_decay: float = 0.03
    tau_grad: float = 0.1
    scale_grad: float = 1.0
    # training only: the share of the neurons of conv, resblock and hidden dense layers silenced per
    # sample for all T steps, survivors' spikes x 1/(1 - dropout) (lava-dl's neuron dropout; not
    # inside attention blocks or masks, whose coincidence neurons and products read binary
    # spikes; never the classes); evaluation, export and simulation never see it
    dropout: float = 0.0
    # residual models: the SPK block of the stem's and the residual blocks' neurons (sl | rl |
    # mbpl, :mod:`loihi_snn.mechanisms.spk.block`) and its thresholds as multiples of threshold
    spk: str = "sl"
    spk_thresholds: list[float] = field(default_factory=lambda: [1.0])


@dataclass
class LayerSpec:
    """One layer: ``dense`` (out), ``conv`` (out, kernel, stride, padding) or ``flatten``; in
    residual networks also ``resblock`` (out, stride: an MS-ResNet block, see
    :mod:`loihi_snn.models.resnet`), ``avgpool`` (kernel; 0 = global) and ``alif_mask`` (BIASNN's
    attention mask on the membrane stream of the layer before,
    :mod:`loihi_snn.mechanisms.alif_mask.block`:
    reduction r, ``lif`` for the LASNN ablation, ``minmax`` dynamic | frozen (neurocore-only),
    ``mode`` persist | reset | frozen at inference), ``lidiff`` and ``qkta`` (a spiking
    transformer block with SpiLiFormer's FF-LiDiff attention or QKFormer's token attention,
    ``heads``; :meth:`loihi_snn.models.resnet.GraphNet._add_attention_block`). ``threshold``
    overrides the neuron threshold of this layer (of a resblock: its middle neurons; of an
    attention block: its Q, K and MLP neurons)."""

    type: str
    out: int = 0
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    threshold: float | None = None
    weight_scale: float = 1.0
    reduction: int = 16
    lif: bool = False
    minmax: str = "dynamic"
    mode: str = "reset"
    heads: int = 1


@dataclass
class TrainSpec:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    logit_scale: float = 1.0
    readout: str = "spikes"  # spikes: output spike counts; voltage: a non-spiking output layer
    eval_batch_size: int = 500
    samples_per_epoch: int = 0  # 0: the whole training split; else a fresh random subset
    val_fraction: float = 0.1  # share of each class of the training split held out (0: none)
    shift: int = 0  # augmentation (loihi_snn.data.augment): random moves of up to shift pixels
    flip: bool = False  # augmentation: random left-right mirroring
    label_smoothing: float = 0.0  # share of the cross-entropy target spread over all classes


@dataclass
class SpartaSpec:
    """SPARTA's HI-LIF priors and token selection (``[sparta]``; :mod:`loihi_snn.models.sparta`,
    :mod:`loihi_snn.mechanisms.hilif.block`, :mod:`loihi_snn.mechanisms.token_select.block`). mode
    ``dynamic`` (predictor, K >=
    k_min) or ``fixed`` (K = round((1 - sparsity) N)); dv_step: HI-LIF decays are quantised to
    multiples of it (fewer Lava populations); learn_gate_off: train beta' (Eq. 9) too, else it
    stays at gate_off (0: suppressed tokens are dropped)."""

    mu_tau: float = 2.0
    sigma_tau: float = 0.3
    mu_vth: float = 1.0
    sigma_vth: float = 0.2
    dv_step: int = 1
    mode: str = "dynamic"
    sparsity: float = 0.5
    k_min: int = 4
    hidden: int = 8
    alpha: float = 0.3
    beta: float = 0.3
    gamma: float = 2.0
    gate_on: float = 1.0
    gate_off: float = 0.0
    learn_gate_off: bool = False
    sparsity_weight: float = 0.0


@dataclass
class Recipe:
    name: str
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    neuron: NeuronSpec = field(default_factory=NeuronSpec)
    layers: list[LayerSpec] = field(default_factory=list)
    train: TrainSpec = field(default_factory=TrainSpec)
    sparta: SpartaSpec = field(default_factory=SpartaSpec)
    source: str = ""  # the TOML text the recipe was read from


# layers that make the network a graph (format 2)
QKTV_BLOCKS = ("ssa", "fblidiff")  # Q (K^T V) attention blocks (loihi_snn.models.attention)
TRANSFORMER_BLOCKS = (*ATTENTIONS, *QKTV_BLOCKS)
GRAPH_LAYERS = ("resblock", "avgpool", "alif_mask", *TRANSFORMER_BLOCKS)
SPARTA_LAYERS = ("hilif", "token_select")  # layers of a SPARTA model (loihi_snn.models.sparta)
_LAYER_TYPES = ("dense", "conv", "flatten", *GRAPH_LAYERS, *SPARTA_LAYERS)
_DATASETS = ("digits", "fmnist", *EVENT_FORMATS)
_ENCODERS = ("direct", "rate")
READOUTS = ("spikes", "voltage")  # the classes from output spike counts | the output voltage


def _build(cls: type, table: object, where: str):
    if not isinstance(table, dict):
        raise LoihiSnnError(f"{where} must be a table, not {type(table).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise LoihiSnnError(
            f"unknown key '{unknown[0]}' in {where}; allowed keys: {', '.join(sorted(names))}"
        )
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [key for key in required if key not in table]
    if missing:
        raise LoihiSnnError(f"{where} needs the key '{missing[0]}'")
    kwargs = {}
    for key, value in table.items():
        kind = hints[key]
        base = float if kind in (float, float | None) else kind
        numbers = value if kind == list[float] and isinstance(value, list) else [value]
        ok = (
            (value is None and kind == float | None)
            or (base in (float, list[float]) and all(_number(v) for v in numbers))
            or (base in (int, str, bool) and type(value) is base)
        )
        if not ok:
            name = "a list of numbers" if kind == list[float] else getattr(base, "__name__", base)
            raise LoihiSnnError(f"{where}: '{key}' must be {name}")
        kwargs[key] = [float(v) for v in value] if kind == list[float] else (
            float(value) if base is float else value
        )
    return cls(**kwargs)


def parse_recipe(text: str, origin: str = "<recipe>") -> Recipe:
    """Parse and validate recipe TOML text."""
    try:
        raw = tomli.loads(text)
    except tomli.TOMLDecodeError as err:
        raise LoihiSnnError(f"{origin} is not valid TOML: {err}") from None
    top = {"name", "seed", "data", "neuron", "layers", "train", "sparta"}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise LoihiSnnError(
            f"unknown key '{unknown[0]}' in {origin}; allowed top-level keys: "
            f"{', '.join(sorted(top))}"
        )
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise LoihiSnnError(f"{origin} needs a 'name' (a string)")
    if type(raw.get("seed", 0)) is not int:
        raise LoihiSnnError(f"{origin}: 'seed' must be int")
    if not isinstance(raw.get("layers"), list) or not raw["layers"]:
        raise LoihiSnnError(f"{origin} needs at least one [[layers]] table")
    layers = [
        _build(LayerSpec, t, f"[[layers]] #{i} of {origin}") for i, t in enumerate(raw["layers"])
    ]
    recipe = Recipe(
        name=raw["name"],
        seed=raw.get("seed", 0),
        data=_build(DataSpec, raw.get("data", {}), f"[data] of {origin}"),
        neuron=_build(NeuronSpec, raw.get("neuron", {}), f"[neuron] of {origin}"),
        layers=layers,
        train=_build(TrainSpec, raw.get("train", {}), f"[train] of {origin}"),
        sparta=_build(SpartaSpec, raw.get("sparta", {}), f"[sparta] of {origin}"),
        source=text,
    )
    check_recipe(recipe, origin)
    return recipe


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_recipe(recipe: Recipe, origin: str = "the recipe") -> None:
    """Refuse values no training can use (a recipe built in code is checked by ``train``)."""
    if not recipe.name:
        raise LoihiSnnError(f"{origin} needs a name")
    if not recipe.layers:
        raise LoihiSnnError(f"{origin} needs at least one layer")
    if recipe.data.dataset not in _DATASETS:
        raise LoihiSnnError(f"{origin}: data.dataset must be one of {_DATASETS}")
    if recipe.data.encoder not in _ENCODERS:
        raise LoihiSnnError(f"{origin}: data.encoder must be one of {_ENCODERS}")
    if not 1 <= recipe.data.levels <= 255:
        raise LoihiSnnError(f"{origin}: data.levels must be in 1..255 (graded input is 8 bit)")
    if not 0 < recipe.data.test_fraction < 1:
        raise LoihiSnnError(f"{origin}: data.test_fraction must be between 0 and 1")
    if recipe.data.time_steps < 1:
        raise LoihiSnnError(f"{origin}: data.time_steps must be >= 1")
    _check_event_keys(recipe.data, origin)
    for i, layer in enumerate(recipe.layers):
        if layer.type not in _LAYER_TYPES:
            raise LoihiSnnError(
                f"{origin}: layer #{i} type '{layer.type}' is not one of {_LAYER_TYPES}"
            )
        widthless = ("flatten", "avgpool", "alif_mask", "token_select", *TRANSFORMER_BLOCKS)
        if layer.type not in widthless and layer.out < 1:
            raise LoihiSnnError(f"{origin}: layer #{i} ({layer.type}) needs out >= 1")
        if layer.type in TRANSFORMER_BLOCKS and layer.heads < 1:
            raise LoihiSnnError(f"{origin}: layer #{i} ({layer.type}) needs heads >= 1")
    problem = threshold_problem(recipe.neuron.spk, recipe.neuron.spk_thresholds)
    if problem:
        raise LoihiSnnError(f"{origin}: neuron.spk: {problem}")
    if recipe.layers[-1].type != "dense":
        raise LoihiSnnError(f"{origin}: the last layer must be dense (its neurons are the classes)")
    t = recipe.train
    for key, value, low in (
        ("epochs", t.epochs, 1),
        ("batch_size", t.batch_size, 1),
        ("eval_batch_size", t.eval_batch_size, 1),
        ("samples_per_epoch", t.samples_per_epoch, 0),
        ("shift", t.shift, 0),
    ):
        if value < low:
            raise LoihiSnnError(f"{origin}: train.{key} must be at least {low}, not {value}")
    if t.readout not in READOUTS:
        raise LoihiSnnError(
            f"{origin}: train.readout must be one of {', '.join(READOUTS)}, not '{t.readout}'"
        )
    for key, value in (
        ("neuron.dropout", recipe.neuron.dropout),
        ("train.label_smoothing", t.label_smoothing),
        ("train.val_fraction", t.val_fraction),
    ):
        if not 0 <= value < 1:
            raise LoihiSnnError(f"{origin}: {key} must be at least 0 and below 1, not {value}")


def _check_event_keys(data: DataSpec, origin: str) -> None:
    """``bin_us`` belongs to event datasets, which feed their counts directly."""
    if data.dataset not in EVENT_FORMATS:
        if data.bin_us:
            raise LoihiSnnError(
                f"{origin}: data.bin_us applies to the event datasets "
                f"({', '.join(EVENT_FORMATS)}), not {data.dataset}: remove it"
            )
        return
    if data.encoder != "direct":
        raise LoihiSnnError(
            f"{origin}: data.encoder must be direct for the event dataset {data.dataset} (its "
            f"binned event counts, capped at data.levels, are the spikes), not {data.encoder}"
        )
    if data.bin_us < 0:
        raise LoihiSnnError(
            f"{origin}: data.bin_us must be >= 0 (microseconds per time step; 0: each "
            f"recording's span in data.time_steps bins), not {data.bin_us}"
        )


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe file; a bare name is looked up in the project's ``train/`` folder."""
    path = Path(path)
    if not path.exists() and path.suffix == "":
        candidate = Path(__file__).resolve().parent.parent / "train" / f"{path.name}.toml"
        path = candidate if candidate.exists() else path.with_suffix(".toml")
    if not path.exists():
        raise LoihiSnnError(
            f"recipe {path} not found: give a .toml file, e.g. train/digits_mlp.toml"
        )
    return parse_recipe(path.read_text(), str(path))


_TABLES = ("DataSpec", "NeuronSpec", "TrainSpec", "SpartaSpec")  # field types, as annotated


def recipe_toml(recipe: Recipe) -> str:
    """The recipe as TOML text with every key written out (what a run folder records as the
    effective recipe; :func:`parse_recipe` reads it back to an equal recipe)."""
    lines = [f"name = {_toml_value(recipe.name)}", f"seed = {recipe.seed}"]
    for table in ("data", "neuron", "train", "sparta"):
        lines += ["", f"[{table}]", *_toml_items(getattr(recipe, table))]
    for layer in recipe.layers:
        lines += ["", "[[layers]]", *_toml_items(layer)]
    return "\n".join(lines) + "\n"


def _toml_items(spec: object) -> list[str]:
    return [
        f"{key} = {_toml_value(value)}"
        for key, value in dataclasses.asdict(spec).items()
        if value is not None
    ]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML basic-string escapes
    return repr(value)


def apply_overrides(recipe: Recipe, overrides: list[str]) -> Recipe:
    """A copy of ``recipe`` with ``key=value`` overrides applied: dotted keys name any recipe key
    (``train.epochs=5``, ``data.time_steps=8``, ``layers.0.out=64``, ``seed=3``), values are
    converted to the key's type; the result is checked like a recipe file."""
    recipe = copy.deepcopy(recipe)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise LoihiSnnError(f"override {item!r} is not key=value, e.g. train.epochs=5")
        *path, name = key.strip().split(".")
        target: object = recipe
        for part in path:
            target = _child(target, part, key)
        if isinstance(target, list) or name not in _settable(target):
            raise LoihiSnnError(f"unknown recipe key '{key}'; {_keys_hint(target)}")
        kind = typing.get_type_hints(type(target))[name]
        setattr(target, name, _convert(text.strip(), kind, key))
    check_recipe(recipe, "the recipe with overrides")
    return recipe


def _settable(spec: object) -> list[str]:
    """The value keys of a recipe table (not its sub-tables, layers or source text)."""
    if not dataclasses.is_dataclass(spec):
        return []
    hints = typing.get_type_hints(type(spec))
    return [
        f.name
        for f in dataclasses.fields(spec)
        if f.name != "source"
        and (hints[f.name] == list[float] or not isinstance(getattr(spec, f.name), list))
        and not dataclasses.is_dataclass(getattr(spec, f.name))
    ]


def _child(target: object, part: str, key: str) -> object:
    if isinstance(target, list):
        if not part.isdigit() or int(part) >= len(target):
            raise LoihiSnnError(
                f"unknown recipe key '{key}': '{part}' is not a layer index 0..{len(target) - 1}"
            )
        return target[int(part)]
    value = getattr(target, part, None) if dataclasses.is_dataclass(target) else None
    if part == "source" or not (isinstance(value, list) or dataclasses.is_dataclass(value)):
        raise LoihiSnnError(f"unknown recipe key '{key}'; {_keys_hint(target)}")
    return value


def _keys_hint(target: object) -> str:
    if isinstance(target, list):
        return f"set a key of one layer, e.g. layers.0.out (layers 0..{len(target) - 1})"
    tables = [f.name for f in dataclasses.fields(target) if f.type in _TABLES]
    keys = sorted(_settable(target) + [f"{t}.*" for t in tables])
    if isinstance(target, Recipe):
        keys.append("layers.<i>.*")
    return f"allowed here: {', '.join(keys)}"


def _convert(text: str, kind: object, key: str) -> object:
    """A command-line value as the recipe field's type."""
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if kind == float | None:
            return None if text.lower() == "none" else float(text)
        if kind in (int, float):
            return kind(text)
        if kind == list[float]:
            return [float(part) for part in text.split(",")]
    except ValueError:
        name = {float | None: "float or none", list[float]: "numbers separated by commas"}.get(
            kind, getattr(kind, "__name__", kind)
        )
        raise LoihiSnnError(f"recipe key '{key}' must be {name}, not {text!r}") from None
    return text


def recipe_differences(old: Recipe, new: Recipe) -> list[str]:
    """What differs between two recipes, one ``key: old -> new`` per key; the dataset's folder
    (``data.path``) and the source text are not part of what a run trains."""

    def flat(recipe: Recipe) -> dict[str, object]:
        raw = dataclasses.asdict(recipe)
        raw.pop("source")
        raw["data"].pop("path")
        layers = raw.pop("layers")
        out: dict[str, object] = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                out |= {f"{key}.{k}": v for k, v in value.items()}
            else:
                out[key] = value
        out["layers"] = len(layers)
        for i, layer in enumerate(layers):
            out |= {f"layers.{i}.{k}": v for k, v in layer.items()}
        return out

    a, b = flat(old), flat(new)
    return [
        f"{key}: {a.get(key, '-')} -> {b.get(key, '-')}"
        for key in dict.fromkeys([*a, *b])
        if a.get(key) != b.get(key)
    ]
