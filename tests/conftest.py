"""Shared fixtures: a briefly trained digits run and lava-dl's shipped reference networks."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from loihi_snn.export import export
from loihi_snn.recipe import load_recipe
from loihi_snn.train import train

REPO = Path(__file__).resolve().parent.parent
# lava-dl's wheel installs its own test assets as a top-level `tests` package in site-packages.
NETX_ASSETS = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"


@pytest.fixture(scope="session")
def netx_assets() -> Path:
    """lava-dl's shipped networks and golden traces (mnist.net, gts/pilotnet_lif/...)."""
    assert NETX_ASSETS.is_dir(), f"lava-dl's test assets are missing from {NETX_ASSETS}"
    return NETX_ASSETS


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def _trained(tmp_path_factory, recipe_name: str, epochs: int) -> Path:
    """Train ``train/<recipe_name>.toml`` for ``epochs`` and export it to <run>/model.net."""
    run = tmp_path_factory.mktemp(recipe_name) / "run"
    recipe = load_recipe(REPO / "train" / f"{recipe_name}.toml")
    recipe.train.epochs = epochs
    train(recipe, run, progress=False)
    export(run, run / "model.net")
    return run


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """digits_mlp trained for 3 epochs, exported to <run>/model.net."""
    return _trained(tmp_path_factory, "digits_mlp", 3)


@pytest.fixture(scope="session")
def resnet_run(tmp_path_factory) -> Path:
    """digits_resnet (stem, two residual blocks, pooling, dense) trained for 2 epochs, exported
    to <run>/model.net (a graph file, format 2)."""
    return _trained(tmp_path_factory, "digits_resnet", 2)


@pytest.fixture(scope="session")
def biasnn_run(tmp_path_factory) -> Path:
    """digits_biasnn (residual blocks with BIASNN's ALIF mask, whose gated stream is a later
    block's membrane shortcut) trained for 1 epoch, exported to <run>/model.net."""
    return _trained(tmp_path_factory, "digits_biasnn", 1)
