"""Damaged network files: the cases of the robustness issue each refused with one LoihiSnnError
naming what is wrong (or, for the oddities netx reads, read as netx reads them), and a few hundred
fuzzed mutants of small files refused or run, never a traceback or a hang."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from loihi_snn.cli import main
from loihi_snn.errors import LoihiSnnError
from loihi_snn.fuzz import format_report, fuzz, write_seeds
from loihi_snn.ir.graph import Graph, Layer, Neuron, Projection
from loihi_snn.ir.hdf5 import read_network
from loihi_snn.ir.validation import validate


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    """The fuzzer's own seed files by name (netx_conv: input, conv, conv, flatten, dense, dense
    without neurons; graph: a format-2 file whose metadata names 10 classes)."""
    return {path.stem: path for path in write_seeds(tmp_path_factory.mktemp("seeds"))}


def _damaged(seeds: dict[str, Path], tmp_path: Path, name: str, edit) -> Path:
    path = tmp_path / f"{name}-damaged.net"
    shutil.copy(seeds[name], path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _set(f: h5py.File, key: str, value) -> None:
    del f[key]
    f.create_dataset(key, data=value)


def _swap_flatten_and_dense(f: h5py.File) -> None:
    f.move("layer/3", "layer/x")
    f.move("layer/4", "layer/3")
    f.move("layer/x", "layer/4")


def _drop_output_of_an_export(f: h5py.File) -> None:
    f.attrs["loihi_snn"] = json.dumps({"classes": ["a", "b", "c"]})
    del f["layer/5"]


def _huge_dataset(f: h5py.File) -> None:  # 2^26 values that take no room until read
    del f["layer/1/weight"]
    f.create_dataset("layer/1/weight", (1 << 26,), "f4", compression="gzip")


CASES = [  # (seed, edit, words the one error line holds)
    ("graph", lambda f: _set(f, "layer/1/neuron/vDecay", 0.5), ["/layer/1", "must hold integers"]),
    ("netx_conv", lambda f: _set(f, "simulation/tSample", 10**9),
     ["1,000,000,000 time steps", "cap", "--steps"]),
    ("netx_conv", _swap_flatten_and_dense, ["layer 3 (dense)", "without a flatten layer"]),
    ("netx_conv", _drop_output_of_an_export, ["layer 4 (population)", "3 classes"]),
    ("netx_conv", lambda f: _set(f, "layer/1/neuron/vThMant", -(2**31)),
     ["layer 1 (population)", "vThMant -2147483648", "outside Loihi's ranges"]),
    ("netx_conv", lambda f: _set(f, "layer/2/stride", np.array([0, 0])),
     ["layer 2 (conv)", "stride (0, 0) outside"]),
    ("graph", lambda f: _set(f, "layer/6/inputs/1/weight", np.zeros((10, 36))),
     ["layer 6 (population), input 1", "all its dense weights from layer 5 (population) are 0"]),
    ("graph", lambda f: _set(f, "layer/2/inputs/0/source", 3), ["cycle", "2 -> 3 -> 2"]),
    ("netx_conv", _huge_dataset, ["/layer/1/weight holds 67,108,864 values"]),
    ("graph", lambda f: f.attrs.__setitem__("loihi_snn_format", "x"), ["loihi_snn_format"]),
    ("netx_conv", lambda f: _set(f, "layer/1/shape", np.array([4, 10**9, 6])),
     ["layer 1 (conv)", "shape (4, 1000000000, 6)"]),
    ("netx_input_neurons", lambda f: _set(f, "layer/0/weight", np.array([5000.0])),
     ["layer 0 (input)", "input transform"]),
]


@pytest.mark.parametrize(("seed", "edit", "words"), CASES,
                         ids=["decay-0.5", "tSample-1e9", "flatten-dense-swapped",
                              "output-missing", "vth-out-of-range", "stride-0", "zero-dense",
                              "cycle", "dataset-bomb", "format-attribute", "shape-bomb",
                              "transform-range"])
def test_a_damaged_file_is_one_error_line_naming_what_is_wrong(seeds, tmp_path, capsys, seed,
                                                               edit, words):
    path = _damaged(seeds, tmp_path, seed, edit)
    with pytest.raises(LoihiSnnError) as err:
        read_network(path)
    for word in [str(path), *words]:
        assert word in str(err.value), str(err.value)
    assert main(["inspect", str(path)]) == 2
    out, err_text = capsys.readouterr()
    assert err_text.count("\n") == 1 and err_text.startswith("loihi-snn: error:")


def test_a_layer_of_millions_of_neurons_is_refused_before_anything_allocates():
    """A consistent graph whose 9 M-neuron layer takes 4 weights: no file size bounds it."""
    lif = Neuron(4096, 4096, 10)
    layers = [
        Layer("input", (1, 1000, 3000)),
        Layer("population", (3, 1000, 3000), lif, None,
              [Projection(0, "conv", np.ones((3, 1, 1, 1)))]),
        Layer("population", (3, 1, 1), lif, None,
              [Projection(1, "pool", np.ones(1), kernel=(1000, 3000), stride=(1000, 3000))]),
    ]
    with pytest.raises(LoihiSnnError, match=r"layer 1 \(population\): 9,000,000 neurons, beyond"):
        validate(Graph(layers, 4), "bomb")


def test_a_file_without_input_layer_takes_what_its_1d_dense_weight_reads(seeds, tmp_path):
    """netx reads a 1-D dense weight as (out, in), out the layer's size: 12 inputs here."""
    def drop_input(f: h5py.File) -> None:
        del f["layer/0"]
        f.move("layer/1", "layer/0")
        f.move("layer/2", "layer/1")
        _set(f, "layer/0/weight", f["layer/0/weight"][()].reshape(-1))

    graph = read_network(_damaged(seeds, tmp_path, "netx_input_neurons", drop_input))
    assert graph.input_shape == (12,) and not graph.input_neuron
    assert graph.layers[1].inputs[0].weight.shape == (8, 12)


def test_fuzzed_mutants_are_refused_or_run_never_a_traceback_or_hang(seeds, tmp_path):
    report = fuzz(list(seeds.values()), 200, seed=0, folder=tmp_path, limit=20)
    summary = format_report(report, 200, len(seeds), 0)
    assert report.counts["traceback"] == 0 and report.counts["hang"] == 0, summary
    assert report.counts["refused by the reader"] > 80 and report.counts["ran"] > 20, summary
    assert len(report.by_kind) == 11, summary  # every kind of mutation was drawn
