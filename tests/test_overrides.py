"""Recipe overrides (``--set key=value``), the effective recipe a run records, and ``--resume``
refusing a run whose effective recipe differs unless forced."""

from __future__ import annotations

import json

import pytest

from loihi_snn.cli import main
from loihi_snn.errors import LoihiSnnError
from loihi_snn.recipe import (
    apply_overrides,
    load_recipe,
    parse_recipe,
    recipe_differences,
    recipe_toml,
)


def test_overrides_are_typed_by_the_recipe(repo):
    recipe = load_recipe(repo / "train" / "digits_mlp.toml")
    new = apply_overrides(recipe, [
        "train.epochs=5", "train.lr=2e-3", "layers.1.out=64", "layers.1.threshold=none",
        "layers.2.lif=true", "data.encoder=rate", "seed=7",
    ])
    assert (new.train.epochs, new.train.lr, new.seed, new.data.encoder) == (5, 0.002, 7, "rate")
    assert (new.layers[1].out, new.layers[1].threshold, new.layers[2].lif) == (64, None, True)
    assert type(new.train.lr) is float and type(new.train.epochs) is int
    assert recipe.train.epochs == 40  # the original is left alone
    assert recipe_differences(recipe, new)[0] == "seed: 0 -> 7"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=5", r"unknown recipe key 'train.epoch'; allowed here: batch_size, epochs"),
        ("trian.epochs=5", r"unknown recipe key 'trian.epochs'; allowed here: data\.\*"),
        ("layers.7.out=3", r"'7' is not a layer index 0\.\.2"),
        ("layers=3", r"unknown recipe key 'layers'"),
        ("train.epochs=five", r"'train.epochs' must be int, not 'five'"),
        ("layers.0.lif=yes", r"must be bool"),
        ("train.epochs=0", r"train.epochs must be at least 1, not 0"),
        ("data.encoder=morse", r"data.encoder must be one of"),
        ("epochs", r"is not key=value"),
    ],
)
def test_bad_overrides_are_refused(repo, override, message):
    with pytest.raises(LoihiSnnError, match=message):
        apply_overrides(load_recipe(repo / "train" / "digits_mlp.toml"), [override])


def test_every_shipped_recipe_round_trips_through_its_effective_toml(repo):
    for path in sorted((repo / "train").glob("*.toml")):
        recipe = load_recipe(path)
        again = parse_recipe(recipe_toml(recipe), f"effective {path.name}")
        assert recipe_differences(recipe, again) == [], path.name
        assert again.layers == recipe.layers and again.sparta == recipe.sparta


def test_the_data_folder_is_not_a_difference(repo):
    recipe = load_recipe(repo / "train" / "digits_mlp.toml")
    assert recipe_differences(recipe, apply_overrides(recipe, ["data.path=/elsewhere"])) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "train.epochs must be at least 1, not 0"),
        (["--set", "train.epoch=3"], "unknown recipe key 'train.epoch'"),
        (["--set", "train.lr"], "is not key=value"),
    ],
)
def test_the_cli_refuses_bad_overrides_in_one_line(repo, tmp_path, capsys, args, message):
    code = main(["train", str(repo / "train" / "digits_mlp.toml"), "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "checkpoint.pt").exists()


@pytest.mark.lava
def test_resume_refuses_a_different_effective_recipe_unless_forced(repo, tmp_path, capsys):
    run = tmp_path / "run"
    base = ["train", "digits_mlp", "--out", str(run), "--samples-per-epoch", "64"]
    assert main([*base, "--epochs", "1", "--set", "train.batch_size=16"]) == 0
    recorded = parse_recipe((run / "recipe.toml").read_text())
    assert (recorded.train.epochs, recorded.train.samples_per_epoch) == (1, 64)
    assert recorded.train.batch_size == 16
    capsys.readouterr()

    # the trap: --resume without the first run's overrides would train 40 epochs of batch 32
    assert main([*base, "--resume", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "effective recipe differs" in err and "train.batch_size: 16 -> 32" in err
    assert "train.epochs: 1 -> 2" in err and err.count("\n") == 1

    again = [*base, "--resume", "--epochs", "2", "--set", "train.batch_size=16"]
    assert main([*again, "--force"]) == 0
    assert parse_recipe((run / "recipe.toml").read_text()).train.epochs == 2
    assert main(again) == 0  # the same effective recipe: resumes (here: nothing left to train)
    assert [row["epoch"] for row in json.loads((run / "metrics.json").read_text())] == [1, 2]
