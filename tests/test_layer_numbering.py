"""One layer numbering everywhere: every command names a layer by its number in the file (its
/layer/<k> group, as h5py shows it), and all of them name the same layers with the same numbers
and the same compact name (``<number>:<kind>``, e.g. ``2:dense``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.axes import Axes

from loihi_snn.cli import main
from loihi_snn.evaluation import verify
from loihi_snn.mechanisms.registry import LAYER_TYPES

NEURON_TYPES = ("dense", "conv", "population", *LAYER_TYPES)  # file layer types with neurons


def _file_numbers(path: Path) -> list[int]:
    """The numbers of the file's layers with neurons (/layer/<k>), read with h5py alone."""
    with h5py.File(path, "r") as f:
        kinds = {int(k): g["type"].asstr()[()] for k, g in f["layer"].items()}
    return sorted(k for k, kind in kinds.items() if str(kind[0]) in NEURON_TYPES)


def _outputs(net: Path, tmp_path: Path, monkeypatch, capsys) -> dict:
    """What verify (fast backend), raster (its panel titles), energy, inspect and deploy (their
    JSON) say of ``net``."""
    checks = verify(net, n=2, backend="fast")
    titles: list[str] = []
    original = Axes.set_title

    def record(self, label, *args, **kwargs):
        titles.append(label)
        return original(self, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "set_title", record)
    assert main(["raster", str(net), "-n", "1", "-o", str(tmp_path / "r.png")]) == 0
    monkeypatch.undo()
    assert main(["energy", str(net), "-n", "2", "--backend", "fast", "--json",
                 str(tmp_path / "e.json")]) == 0
    assert main(["inspect", str(net), "--json", str(tmp_path / "i.json")]) == 0
    assert main(["deploy", str(net), "--dry-run", "-n", "2", "--json",
                 str(tmp_path / "d.json")]) == 0
    capsys.readouterr()
    read = {name: json.loads((tmp_path / f"{name[0]}.json").read_text())["layers"]
            for name in ("energy", "inspect", "deploy")}
    return {"verify": checks, "raster": titles, **read}


@pytest.mark.lava
@pytest.mark.parametrize("fixture", ["digits_run", "resnet_run"])
def test_every_command_names_a_layer_by_its_number_in_the_file(
    fixture, request, tmp_path, monkeypatch, capsys
):
    """A sequential file (input, flatten, dense, dense: the layers with neurons are numbers 2 and
    3) and a graph file: the layers with neurons, by number, then by their compact name."""
    net = request.getfixturevalue(fixture) / "model.net"
    out = _outputs(net, tmp_path, monkeypatch, capsys)
    inspected = [row for row in out["inspect"] if row["neurons"]]
    deployed = [row for row in out["deploy"] if row["placement"] != "host"]
    numbers = {
        "verify": [c.index for c in out["verify"]],
        "energy": [int(row["layer"].split(":")[0]) for row in out["energy"]],
        "inspect": [row["index"] for row in inspected],
        "raster": [int(re.match(r"(layer )?(\d+)", title)[2]) for title in out["raster"]],
        "deploy": [int(re.match(r"layer (\d+)", row["label"])[1]) for row in deployed],
    }
    for command, got in numbers.items():
        assert got == _file_numbers(net), f"{command} numbers the layers otherwise"
    names = {
        "verify": [f"{c.index}:{c.kind}" for c in out["verify"]],
        "energy": [row["layer"] for row in out["energy"]],
        "inspect": [row["name"] for row in inspected],
        "raster": [title.split(",")[0] for title in out["raster"]],
        "deploy": [row["name"] for row in deployed],
    }
    for command, got in names.items():
        assert got == names["energy"], f"{command} names the layers otherwise"


def _no_input_layer(path: Path) -> Path:
    """A NetX file without input layer: dense 3 -> 2 as layer 0, dense 2 -> 1 as layer 1."""
    with h5py.File(path, "w") as f:
        f.create_dataset("simulation/tSample", data=4)
        for k, weight in enumerate((np.full((2, 3), 40.0), np.full((1, 2), 40.0))):
            g = f.create_group(f"layer/{k}")
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([weight.shape[0]]))
            g.create_dataset("weight", data=weight.astype(np.float32))
            for key, value in (("iDecay", 1024), ("vDecay", 256), ("vThMant", 50)):
                g.create_dataset(f"neuron/{key}", data=value)
            g.create_dataset("neuron/type", data=b"CUBA")
    return path


def test_the_input_a_file_without_input_layer_implies_has_no_number_of_the_file(tmp_path, capsys):
    """netx feeds layer 0 of such a file from outside: the input the toolkit adds is 'in', never
    a second layer 0."""
    net = _no_input_layer(tmp_path / "no_input.net")
    np.save(tmp_path / "x.npy", np.ones((1, 3, 4), np.int32))
    assert main(["inspect", str(net), "--json", str(tmp_path / "i.json")]) == 0
    assert main(["energy", str(net), "--input", str(tmp_path / "x.npy"), "--backend", "fast",
                 "--json", str(tmp_path / "e.json")]) == 0
    assert "\n   in input " in capsys.readouterr().out
    layers = json.loads((tmp_path / "i.json").read_text())["layers"]
    assert [row["index"] for row in layers] == [None, 0, 1]
    assert [row["name"] for row in layers] == ["in:input", "0:dense", "1:dense"]
    assert [[p["source"] for p in row["inputs"]] for row in layers] == [[], [None], [0]]
    energy = json.loads((tmp_path / "e.json").read_text())
    assert [row["layer"] for row in energy["layers"]] == ["0:dense", "1:dense"]
    assert list(energy["projections_ops_per_sample"]) == [
        "layer 0 (population) <- the input (not a layer of the file) via dense",
        "layer 1 (population) <- layer 0 (population) via dense",
    ]
