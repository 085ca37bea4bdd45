"""``loihi-snn inspect``: lava-dl's files, a graph file and a file the fast backend refuses."""

from __future__ import annotations

import json
import math
import shutil

import h5py
import numpy as np

from loihi_snn.cli import main
from loihi_snn.inspection import inspect, time_constant
from loihi_snn.ir.graph import Graph, Layer, Neuron, Projection
from loihi_snn.ir.hdf5 import write_graph


def test_time_constants():
    assert time_constant(0) is None  # no leak
    assert time_constant(4096) == 0.0
    assert math.isclose(time_constant(123), -1 / math.log(1 - 123 / 4096))


def test_lava_dl_mnist(netx_assets, tmp_path, capsys):
    info = inspect(netx_assets / "mnist.net")
    assert (info["format"], info["origin"], info["time_steps"]) == (1, "netx", 16)
    assert [layer["shape"] for layer in info["layers"]] == [[784], [512], [512], [10]]
    hidden = info["layers"][1]["neuron"]
    assert hidden["dv"] == 123 and hidden["vth_mant"] == 80
    assert math.isclose(hidden["tau_voltage_steps"], 32.8, abs_tol=0.05)
    assert hidden["threshold_weight_units"] == 80 / 64
    assert info["backends"]["fast"] == "yes" and info["loihi2"]["fits"]
    json_path = tmp_path / "i.json"
    assert main(["inspect", str(netx_assets / "mnist.net"), "--json", str(json_path)]) == 0
    out = capsys.readouterr().out
    assert "format 1" in out and "dense<0" in out and "18 neurocores" in out
    assert json.loads(json_path.read_text())["layers"][3]["shape"] == [10]


def test_lava_dl_pilotnet(netx_assets):
    info = inspect(netx_assets / "gts" / "pilotnet_lif" / "network.net")
    assert info["input_shape"] == [3, 66, 200] and info["voltage_readout"]
    assert [layer["kind"] for layer in info["layers"]].count("population") == 9
    assert info["layers"][1]["inputs"][0]["kind"] == "conv"


def test_a_graph_file(tmp_path):
    rng = np.random.default_rng(0)
    layers = [
        Layer("input", (1, 4, 4)),
        Layer("population", (2, 4, 4), Neuron(1025, 0, 100), None,
              [Projection(0, "conv", rng.integers(-9, 9, (2, 1, 3, 3)).astype(float),
                          padding=(1, 1))]),
        Layer("population", (3,), Neuron(4096, 2048, 64), None,
              [Projection(1, "dense", rng.integers(-9, 9, (3, 32)).astype(float))]),
    ]
    path = write_graph(Graph(layers, 5), tmp_path / "g.net", {"time_steps": 5, "name": "g"})
    info = inspect(path)
    assert (info["format"], info["format_name"], info["time_steps"]) == (2, "graph", 5)
    assert info["metadata"]["name"] == "g"
    conv = info["layers"][1]["neuron"]
    assert conv["du"] == 1024 and conv["tau_voltage_steps"] is None  # dv = 0: no leak
    dense = info["layers"][2]["neuron"]
    assert dense["du"] == 4095 and dense["tau_voltage_steps"] == -1 / math.log(0.5)
    assert info["layers"][2]["inputs"][0] == {
        "source": 1, "kind": "dense", "weight_shape": [3, 32],
        "weight_range": info["layers"][2]["inputs"][0]["weight_range"], "delays": False,
    }


def test_a_file_the_fast_backend_refuses(netx_assets, tmp_path):
    net = tmp_path / "graded.net"
    shutil.copy(netx_assets / "mnist.net", net)
    with h5py.File(net, "r+") as f:
        del f["layer/2/neuron/gradedSpike"]
        f["layer/2/neuron"].create_dataset("gradedSpike", data=1)
        weight = f["layer/2/weight"][()]
        f["layer/2"].create_dataset("delay", data=np.full(weight.shape, 3, np.float32))
    info = inspect(net)
    fast = info["backends"]["fast"]
    assert fast.startswith("no: ") and "graded spikes" in fast
    assert info["layers"][2]["netx_only"] == ["graded spikes"]
    assert info["layers"][2]["inputs"][0]["delays"]
