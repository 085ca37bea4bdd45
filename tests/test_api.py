"""The public Python API: every name docs/API.md lists imports, ``import loihi_snn`` and the CLI's
help import nothing heavy, Lava works whatever fixed the start method before, recipes built in
code train and export, and Python errors name parameters, not command-line flags."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import loihi_snn as ls

HEAVY = ("torch", "lava", "numba", "h5py", "matplotlib", "tqdm", "scipy")


def _documented(repo) -> list[str]:
    text = (repo / "docs" / "API.md").read_text()
    return re.findall(r"^\| `([A-Za-z_]+)` \|", text, re.MULTILINE)


def test_every_documented_name_imports_and_every_public_name_is_documented(repo):
    names = _documented(repo)
    assert sorted(names) == sorted(ls.__all__)
    for name in names:
        assert getattr(ls, name) is not None, name


def _loaded(code: str) -> list[str]:
    """The heavy packages a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return sorted({m.split(".")[0] for m in run.stdout.split()} & set(HEAVY))


def test_import_and_help_import_nothing_heavy():
    assert _loaded("import loihi_snn as ls; ls.Recipe, ls.load_recipe, ls.__all__") == []
    assert _loaded("from loihi_snn.cli import build_parser; build_parser()") == []


def test_version_and_argument_errors():
    cli = [sys.executable, "-m", "loihi_snn.cli"]
    out = subprocess.run([*cli, "--version"], capture_output=True, text=True).stdout
    assert out.strip() == f"loihi-snn {ls.__version__}"
    bad = subprocess.run([*cli, "sim"], capture_output=True, text=True)
    assert bad.returncode == 2 and "the following arguments are required: net" in bad.stderr


def test_the_api_keeps_train_and_export_when_their_modules_load():
    from loihi_snn.train import CHECKPOINT  # loads the module loihi_snn.train

    assert CHECKPOINT == "checkpoint.pt"
    assert callable(ls.train) and ls.train.__module__ == "loihi_snn.train"
    assert callable(ls.export) and ls.export.__module__ == "loihi_snn.export"


def test_lava_imports_after_something_fixed_the_start_method():
    code = (
        "import multiprocessing as mp; mp.set_start_method('spawn')\n"
        "import loihi_snn as ls; ls.run_lava\n"
        "print(mp.get_start_method())"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "fork", run.stderr
    assert "CUDA" not in run.stdout + run.stderr  # lava-dl's import notes stay quiet


def test_python_errors_name_parameters_not_flags(netx_assets):
    graph = ls.read_network(netx_assets / "mnist.net")
    graph.time_steps = None
    with pytest.raises(ls.LoihiSnnError) as err:
        ls.run_fast(graph, np.zeros((1, 784), np.int32))
    assert "time steps" in str(err.value) and "--" not in str(err.value)
    from loihi_snn.evaluation import run_backend

    with pytest.raises(ls.LoihiSnnError) as err:
        run_backend("fast", graph, np.zeros((1, 784), np.int32), 16, hardware=True)
    assert "lava backend" in str(err.value) and "--" not in str(err.value)


@pytest.mark.lava
def test_a_recipe_built_in_code_trains_and_exports(tmp_path):
    recipe = ls.Recipe(
        name="tiny",
        data=ls.DataSpec(time_steps=8),
        layers=[ls.LayerSpec("flatten"), ls.LayerSpec("dense", out=10)],
        train=ls.TrainSpec(epochs=1, samples_per_epoch=64),
    )
    ls.train(recipe, tmp_path / "run", progress=False)
    assert ls.parse_recipe((tmp_path / "run" / "recipe.toml").read_text()).layers == recipe.layers
    net = ls.export(tmp_path / "run", tmp_path / "run" / "model.net")
    assert ls.inspect(net)["metadata"]["name"] == "tiny"

    trained = ls.load_checkpoint(tmp_path / "run")[0]  # in memory, as in a notebook
    with pytest.raises(ls.LoihiSnnError, match="needs the recipe"):
        ls.export(trained.model, tmp_path / "m.net")
    for source, kwargs in ((trained, {}), (trained.model, {"recipe": recipe})):
        path = ls.export(source, tmp_path / "m.net", **kwargs)
        assert (tmp_path / "m.net.checkpoint.pt").exists()
        report = ls.simulate(path, n=16, backend="fast")
        assert report.agreement == 1.0 and report.samples == 16


@pytest.mark.lava
def test_the_tutorial_runs(repo, tmp_path):
    run = subprocess.run([sys.executable, str(repo / "examples" / "tutorial.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("agreement 1.0000") == 2 and "layer 3: 0 mismatches" in run.stdout
    assert "neurocores on 1 chip" in run.stdout and "ls.run_fast on arrays" in run.stdout
