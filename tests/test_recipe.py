"""Tests for loihi_snn.recipe: parsing, defaults and validation of training recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from loihi_snn.errors import LoihiSnnError
from loihi_snn.recipe import (
    DataSpec,
    LayerSpec,
    NeuronSpec,
    Recipe,
    TrainSpec,
    load_recipe,
    parse_recipe,
)

TRAIN_DIR = Path(__file__).resolve().parent.parent / "train"

MINIMAL = """\
name = "tiny"

[[layers]]
type = "dense"
out = 10
"""


def recipe_text(
    top: str = "", data: str = "", train: str = "", layer: str = "", neuron: str = ""
) -> str:
    """A valid recipe with optional extra lines in each table (and in the first layer)."""
    return f"""\
name = "t"
seed = 3
{top}

[data]
path = ""
{data}

[neuron]
threshold = 1.0
{neuron}

[[layers]]
type = "flatten"
{layer}

[[layers]]
type = "dense"
out = 10

[train]
logit_scale = 0.5
{train}
"""


def raises(text: str) -> str:
    with pytest.raises(LoihiSnnError) as info:
        parse_recipe(text, "test.toml")
    return str(info.value)


# ------------------------------------------------------------------------ shipped recipes


def test_shipped_recipes_exist():
    names = {p.name for p in TRAIN_DIR.glob("*.toml")}
    assert {"digits_mlp.toml", "fmnist_cnn.toml"} <= names


@pytest.mark.parametrize("path", sorted(TRAIN_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_recipe_parses(path):
    recipe = load_recipe(path)
    assert isinstance(recipe, Recipe)
    assert recipe.name == path.stem
    assert recipe.layers and recipe.layers[-1].type == "dense"
    assert recipe.data.dataset in ("digits", "fmnist", "nmnist")
    assert recipe.source == path.read_text()


def test_digits_mlp_values():
    recipe = load_recipe(TRAIN_DIR / "digits_mlp.toml")
    assert recipe.data == DataSpec(dataset="digits", encoder="direct", levels=16, time_steps=16)
    assert [(layer.type, layer.out) for layer in recipe.layers] == [
        ("flatten", 0),
        ("dense", 128),
        ("dense", 10),
    ]
    assert recipe.layers[1].threshold == 4.0
    assert recipe.layers[2].threshold is None
    assert recipe.train.epochs == 40
    assert recipe.train.lr == pytest.approx(0.003)


def test_augmentation_keys():
    recipe = parse_recipe(recipe_text(train="shift = 2\nflip = true"))
    assert (recipe.train.shift, recipe.train.flip) == (2, True)
    assert (TrainSpec().shift, TrainSpec().flip) == (0, False)
    assert "train.shift must be at least 0, not -1" in raises(recipe_text(train="shift = -1"))


@pytest.mark.parametrize(("table", "key"), [("train", "label_smoothing"), ("neuron", "dropout")])
def test_share_keys(table, key):
    """Shares in [0, 1) that default to 0."""
    recipe = parse_recipe(recipe_text(**{table: f"{key} = 0.1"}))
    assert getattr(getattr(recipe, table), key) == 0.1
    assert getattr({"train": TrainSpec, "neuron": NeuronSpec}[table](), key) == 0.0
    for bad in ("-0.1", "1.0"):
        message = raises(recipe_text(**{table: f"{key} = {bad}"}))
        assert f"{table}.{key} must be at least 0 and below 1, not {bad}" in message


def test_fmnist_cnn_values():
    recipe = load_recipe(TRAIN_DIR / "fmnist_cnn.toml")
    assert recipe.data.dataset == "fmnist"
    assert recipe.data.levels == 15
    conv = recipe.layers[0]
    assert (conv.type, conv.out, conv.kernel, conv.stride, conv.padding) == ("conv", 32, 3, 2, 1)
    assert recipe.layers[-1].out == 10


# ------------------------------------------------------------------------- valid parsing


def test_parse_minimal_fills_defaults():
    recipe = parse_recipe(MINIMAL)
    assert recipe.name == "tiny"
    assert recipe.seed == 0
    assert recipe.data == DataSpec()
    assert recipe.data.dataset == "digits"
    assert recipe.data.encoder == "direct"
    assert recipe.data.levels == 16
    assert recipe.data.time_steps == 16
    assert recipe.data.test_fraction == 0.2
    assert recipe.neuron == NeuronSpec()
    assert recipe.neuron.threshold == 1.25
    assert recipe.train == TrainSpec()
    assert recipe.train.epochs == 10
    assert recipe.train.batch_size == 64
    assert recipe.layers == [LayerSpec(type="dense", out=10)]
    layer = recipe.layers[0]
    assert (layer.kernel, layer.stride, layer.padding) == (3, 1, 0)
    assert layer.threshold is None
    assert layer.weight_scale == 1.0
    assert recipe.source == MINIMAL


def test_parse_full_recipe_values():
    recipe = parse_recipe(recipe_text(data='encoder = "rate"', train="lr = 1"))
    assert recipe.seed == 3
    assert recipe.data.encoder == "rate"
    assert recipe.neuron.threshold == 1.0
    assert recipe.train.logit_scale == 0.5
    assert recipe.data.dataset == "digits"  # default
    # An integer for a float key is accepted and stored as float.
    assert recipe.train.lr == 1.0
    assert isinstance(recipe.train.lr, float)
    assert [layer.type for layer in recipe.layers] == ["flatten", "dense"]


def test_parse_layer_threshold_int_becomes_float():
    recipe = parse_recipe(recipe_text(layer="threshold = 2"))
    assert recipe.layers[0].threshold == 2.0
    assert isinstance(recipe.layers[0].threshold, float)


# ------------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"train": "epoch = 3"}, "epoch"),
        ({"data": "encoding = 'rate'"}, "encoding"),
        ({"layer": "outs = 4"}, "outs"),
        ({"neuron": "treshold = 1.0"}, "treshold"),
        ({"top": "learning_rate = 0.1"}, "learning_rate"),
    ],
    ids=["train", "data", "layers", "neuron", "top-level"],
)
def test_unknown_key_is_named(kwargs, key):
    msg = raises(recipe_text(**kwargs))
    assert key in msg
    assert "unknown" in msg


def test_unknown_key_message_names_table():
    assert "[train]" in raises(recipe_text(train="epoch = 3"))
    assert "[data]" in raises(recipe_text(data="encoding = 'rate'"))
    assert "[[layers]]" in raises(recipe_text(layer="outs = 4"))


# --------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"train": 'epochs = "ten"'}, "epochs"),
        ({"train": "batch_size = 32.0"}, "batch_size"),
        ({"train": "lr = true"}, "lr"),
        ({"train": 'lr = "fast"'}, "lr"),
        ({"data": "levels = 15.5"}, "levels"),
        ({"data": "dataset = 3"}, "dataset"),
        ({"data": "time_steps = true"}, "time_steps"),
        ({"layer": 'threshold = "high"'}, "threshold"),
        ({"neuron": "current_decay = [0.25]"}, "current_decay"),
        ({"train": "flip = 1"}, "flip"),
        ({"train": "shift = 1.5"}, "shift"),
    ],
)
def test_wrong_type_is_named(kwargs, key):
    msg = raises(recipe_text(**kwargs))
    assert f"'{key}'" in msg


def test_table_that_is_not_a_table():
    text = MINIMAL.replace('name = "tiny"', 'name = "tiny"\ntrain = 5')
    assert "[train]" in raises(text)


def test_invalid_toml():
    msg = raises('name = "x"\n[[layers]\ntype = "dense"\n')
    assert "test.toml" in msg
    assert "TOML" in msg


def test_missing_name_or_layers():
    assert "name" in raises('[[layers]]\ntype = "dense"\nout = 10\n')
    assert "layers" in raises('name = "x"\n')


# ----------------------------------------------------------------------------- semantics


def test_bad_dataset():
    msg = raises(recipe_text(data='dataset = "mnist"'))
    assert "dataset" in msg


def test_bad_encoder():
    msg = raises(recipe_text(data='encoder = "latency"'))
    assert "encoder" in msg


def test_bad_layer_type():
    msg = raises(recipe_text().replace('type = "flatten"', 'type = "pool"'))
    assert "pool" in msg


def test_last_layer_not_dense():
    text = MINIMAL + '\n[[layers]]\ntype = "flatten"\n'
    msg = raises(text)
    assert "last layer" in msg


def test_last_layer_conv_not_dense():
    text = MINIMAL + '\n[[layers]]\ntype = "conv"\nout = 8\n'
    assert "dense" in raises(text)


@pytest.mark.parametrize("levels", [0, 256])
def test_levels_out_of_range(levels):
    assert "levels" in raises(recipe_text(data=f"levels = {levels}"))


def test_time_steps_must_be_positive():
    assert "time_steps" in raises(recipe_text(data="time_steps = 0"))


def test_dense_needs_out():
    assert "out" in raises('name = "x"\n[[layers]]\ntype = "dense"\n')


# ---------------------------------------------------------------------------- load_recipe


def test_load_recipe_missing_path(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(LoihiSnnError) as info:
        load_recipe(missing)
    assert str(missing) in str(info.value)
    assert "not found" in str(info.value)


def test_load_recipe_missing_bare_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoihiSnnError) as info:
        load_recipe("no_such_recipe_xyz")
    assert "no_such_recipe_xyz" in str(info.value)


def test_load_recipe_bare_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so the name cannot resolve relative to the working directory
    recipe = load_recipe("digits_mlp")
    assert recipe.name == "digits_mlp"
    assert recipe.source == (TRAIN_DIR / "digits_mlp.toml").read_text()


def test_load_recipe_file_in_other_folder(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL)
    recipe = load_recipe(str(path))
    assert recipe.name == "tiny"


def test_load_recipe_error_names_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(MINIMAL + "\n[train]\nepoch = 1\n")
    with pytest.raises(LoihiSnnError) as info:
        load_recipe(path)
    assert str(path) in str(info.value)
    assert "epoch" in str(info.value)


# ------------------------------------------------------------- edge cases of validation


def test_layer_without_type():
    msg = raises('name = "x"\n[[layers]]\nout = 10\n')
    assert "type" in msg


def test_seed_wrong_type():
    msg = raises('name = "x"\nseed = "zero"\n' + MINIMAL.split("\n", 1)[1])
    assert "seed" in msg


def test_layers_not_an_array_of_tables():
    msg = raises('name = "x"\nlayers = 3\n')
    assert "layers" in msg
