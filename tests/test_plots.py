"""``loihi-snn plot`` draws a run's curves from its logs and ``loihi-snn raster`` a file's spikes,
one panel per layer, as PNGs (on the fast backend: no Lava run)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from loihi_snn.cli import main
from loihi_snn.export import export
from loihi_snn.plots import neuron_rows
from loihi_snn.recipe import load_recipe
from loihi_snn.train import train


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory) -> Path:
    """digits_mlp, 1 epoch of 64 samples, exported to <run>/model.net."""
    recipe = load_recipe(repo / "train" / "digits_mlp.toml")
    recipe.train.epochs, recipe.train.samples_per_epoch, recipe.train.batch_size = 1, 64, 16
    run = tmp_path_factory.mktemp("plots") / "run"
    train(recipe, run, progress=False)
    export(run, run / "model.net")
    return run


def test_plot_writes_the_curves_into_the_run_folder(run, capsys):
    assert main(["plot", str(run)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {run / 'training.png'}"
    assert _png_size(run / "training.png") == (1200, 360)


def test_plot_reads_runs_from_before_the_csv_logs(tmp_path, capsys):
    rows = [{"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5, "test_accuracy": 0.6,
             "seconds": 1.0} for e in (1, 2, 3)]
    (tmp_path / "metrics.json").write_text(json.dumps(rows))
    assert main(["plot", str(tmp_path), "-o", str(tmp_path / "c.png")]) == 0
    assert _png_size(tmp_path / "c.png") == (1200, 360)


def test_plot_of_a_folder_without_logs_is_one_error_line(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loihi-snn: error:") and "metrics.csv" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_raster_draws_one_panel_per_layer(run, netx_assets, tmp_path, capsys):
    assert main(["raster", str(run / "model.net"), "-n", "2", "--backend", "fast"]) == 0
    path = run / "model.raster.png"
    assert capsys.readouterr().out.strip() == f"wrote {path}"
    width, two = _png_size(path)  # dense 128 and dense 10
    np.save(tmp_path / "x.npy", np.random.default_rng(0).integers(-40, 80, (2, 784)))
    out = tmp_path / "mnist.png"
    args = ["raster", str(netx_assets / "mnist.net"), "--input", str(tmp_path / "x.npy"), "-o"]
    assert main([*args, str(out)]) == 0
    assert _png_size(out) == (width, pytest.approx(two + 2 * 170, abs=1))  # input, 512, 512, 10


def test_large_layers_are_subsampled_evenly():
    assert np.array_equal(neuron_rows(100, 128), np.arange(100))
    rows = neuron_rows(784, 128)
    assert len(rows) == 128 and rows[0] == 0 and rows[-1] == 783
    assert np.all(np.diff(rows) >= 6)
