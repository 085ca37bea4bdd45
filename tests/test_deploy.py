"""``loihi-snn deploy``: the chip table, the mapper's budgets and refusals, the Loihi 2 cost model
calibrated on lava-dl's PilotNet LIF benchmark, and the board run without lava-loihi."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from loihi_snn import cli
from loihi_snn.deploy.chip import load_chip
from loihi_snn.deploy.estimate import calibration, estimate
from loihi_snn.deploy.hardware import EXIT_NO_BOARD, board_available
from loihi_snn.deploy.mapper import EMBEDDED, HOST, NEUROCORES, map_network, placement
from loihi_snn.energy.runner import measure
from loihi_snn.errors import LoihiSnnError
from loihi_snn.ir.graph import Graph, Layer, Neuron, Projection
from loihi_snn.ir.hdf5 import read_network, write_graph
from loihi_snn.ir.validation import validate
from loihi_snn.loihi import limits
from loihi_snn.mechanisms.alif_mask.layer import AlifMaskType, MaskLayer

CHIP = load_chip()
ONE_CHIP = CHIP.board("oheo-gulch")
NEURON = Neuron(i_decay=1024, v_decay=128, vth=80)


def small_graph(steps: int = 8, channels: int = 4, size: int = 8) -> Graph:
    """input (1, size, size) -> conv 3x3 (channels) -> dense 10."""
    rng = np.random.default_rng(0)
    conv = Projection(0, "conv", rng.integers(-20, 21, (channels, 1, 3, 3)).astype(float),
                      padding=(1, 1))
    weight = rng.integers(-20, 21, (10, channels * size * size)).astype(float)
    dense = Projection(1, "dense", weight)
    layers = [
        Layer("input", (1, size, size)),
        Layer("population", (channels, size, size), NEURON, inputs=[conv]),
        Layer("population", (10,), NEURON, inputs=[dense]),
    ]
    return validate(Graph(layers, steps), "small")


def write_small(tmp_path: Path, steps: int = 8, **kwargs) -> Path:
    path = write_graph(small_graph(steps, **kwargs), tmp_path / "small.net", {"checkpoint": "x"})
    x = (np.random.default_rng(1).random((2, 1, 8, 8, steps)) < 0.3).astype(np.int32)
    np.save(tmp_path / "x.npy", x)
    return path


# -- the chip table --------------------------------------------------------------------------------


def test_limits_load_from_the_table_with_the_values_they_always_had():
    assert (limits.WEIGHT_MIN, limits.WEIGHT_MAX, limits.TRAINED_WEIGHT_MAX) == (-256, 255, 254)
    assert (limits.BIAS_MIN, limits.BIAS_MAX, limits.BIAS_EXP) == (-4096, 4095, 6)
    assert (limits.DECAY_UNIT, limits.VTH_MAX, limits.NETX_FALLBACK_VTH) == (4096, 131071, 1 << 17)
    assert (limits.STATE_BITS, limits.MAX_DELAY, limits.FLOAT32_EXACT) == (24, 62, 1 << 24)
    assert limits.RELAY_NEURON == {"du": 4095, "dv": 4096, "vth": 0}
    for section in ("limits", "chip", "benchmark"):
        for entry in limits.LOIHI2[section].values():
            assert entry["sure"] in limits.SURENESS and entry["source"].strip()


def test_a_table_entry_without_its_source_is_refused_by_name(tmp_path):
    text = (Path(limits.__file__).parent / "loihi2.toml").read_text()
    bad = text.replace('neurocores = { value = 128, sure = "published", source',
                       'neurocores = { value = 128, sure = "published", origin', 1)
    (tmp_path / "chip.toml").write_text(bad)
    with pytest.raises(LoihiSnnError, match=r"chip\.neurocores must be \{ value, sure, source \}"):
        load_chip(tmp_path / "chip.toml")


def test_boards():
    assert (ONE_CHIP.chips, ONE_CHIP.neurocores) == (1, 128)
    assert CHIP.board("kapoho-point").neurocores == 8 * 128
    hala = CHIP.board("hala-point")
    assert (hala.chips, hala.neurocores) == (1152, 140544)
    assert CHIP.board("4-chips").neurocores == 512
    with pytest.raises(LoihiSnnError, match="unknown board 'loihi3'"):
        CHIP.board("loihi3")


# -- the mapper ------------------------------------------------------------------------------------


def test_mnist_net_dense_layers_split_by_synaptic_memory(netx_assets):
    graph = read_network(netx_assets / "mnist.net")
    mapping = map_network(graph, CHIP, ONE_CHIP, graph.time_steps)
    assert mapping.fits
    by = {m.index: m for m in mapping.layers}
    per_core = CHIP.synapses_per_core // 784  # whole neurons of 784 synapses per core: 63
    assert by[1].cores == math.ceil(512 / per_core) and by[1].bound == "synapses"
    assert by[1].synapses_per_core == math.ceil(512 / by[1].cores) * 784
    assert by[1].axons_in == 784 and by[3].axons_in == 512
    for m in mapping.layers:
        assert m.neurons_per_core <= CHIP.neurons_per_core
        assert m.synapses_per_core <= CHIP.synapses_per_core
        assert m.axons_out <= CHIP.axons_out_per_core
    assert mapping.cores == sum(m.cores for m in mapping.layers) and mapping.chips == 1


def test_a_conv_kernel_is_stored_once_per_core():
    graph = small_graph(channels=4, size=8)
    mapping = map_network(graph, CHIP, ONE_CHIP, 8)
    conv, dense = mapping.layers[1], mapping.layers[2]
    assert conv.synapses_per_core == 4 * 1 * 3 * 3  # the kernel, not neurons x taps (2,304)
    assert dense.synapses_per_core == 10 * 256
    assert mapping.layers[0].placement == HOST and mapping.layers[0].cores == 0


def test_custom_layers_are_placed_where_their_arithmetic_can_run():
    mask = AlifMaskType.example(np.random.default_rng(0), (4, 8, 8), 4).params
    frozen = replace(mask, norm_lo=np.zeros(4), norm_span=np.full(4, 500))
    dynamic = replace(mask, norm_lo=np.zeros(0), norm_span=np.zeros(0))
    where = placement(Layer("alif_mask", (4, 8, 8), params=MaskLayer(frozen, "reset")))
    assert where[0] == NEUROCORES and "neurocore-only" in where[1]
    where = placement(Layer("alif_mask", (4, 8, 8), params=MaskLayer(dynamic, "reset")))
    assert where[0] == EMBEDDED and "minmax = 'frozen'" in where[1]
    assert placement(Layer("token_select", (4, 8, 8)))[0] == EMBEDDED
    assert placement(Layer("population", (4,), NEURON))[0] == NEUROCORES


# -- refusals: one message per violation, naming the layer and the limit ---------------------------


def test_too_many_neurons_for_the_board_is_refused_and_a_larger_board_fits(tmp_path):
    conv = Projection(0, "conv", np.ones((17, 1, 3, 3)), padding=(1, 1))
    layers = [Layer("input", (1, 256, 256)), Layer("population", (17, 256, 256), NEURON,
                                                     inputs=[conv])]
    graph = validate(Graph(layers, 8), "big")  # 17 x 256 x 256 = 1,114,112 neurons
    mapping = map_network(graph, CHIP, ONE_CHIP, 8)
    assert len(mapping.violations) == 1
    assert "too many neurons for oheo-gulch" in mapping.violations[0]
    assert "layer 1 (population) (1,114,112 neurons on 136 cores" in mapping.violations[0]
    assert map_network(graph, CHIP, CHIP.board("kapoho-point"), 8).fits
    path = write_graph(graph, tmp_path / "big.net", {"checkpoint": "x"})
    assert cli.main(["deploy", str(path), "--dry-run"]) == 2


def test_weights_beyond_8_bits_are_refused():
    graph = small_graph()
    graph.layers[1].inputs[0].weight[0, 0, 0, 0] = 300  # a graph built in code, not validated
    (problem,) = map_network(graph, CHIP, ONE_CHIP, 8).violations
    assert problem.startswith("layer 1 (population), input 0 from layer 0 (input): weights span")
    assert "300], beyond Loihi 2's 8-bit weight mantissa [-256, 255]" in problem


def test_a_file_with_weights_beyond_8_bits_is_refused(netx_assets, tmp_path, capsys):
    net = tmp_path / "mnist.net"
    shutil.copy(netx_assets / "mnist.net", net)
    with h5py.File(net, "r+") as f:
        weight = f["layer/2/weight"][()]
        weight[0, 0] = 512
        f["layer/2/weight"][...] = weight
    assert cli.main(["deploy", str(net), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "layer 2" in err and "8-bit range [-256, 255]" in err


def test_a_delay_beyond_62_is_refused(netx_assets, tmp_path, capsys):
    net = tmp_path / "mnist.net"
    shutil.copy(netx_assets / "mnist.net", net)
    with h5py.File(net, "r+") as f:
        f["layer/1"].create_dataset("delay", data=np.full(512 * 784, 70.0))
    assert cli.main(["deploy", str(net), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "layer 1 (dense): synaptic delays span [70, 70] steps; Loihi 2 and netx take 0 to 62" \
           in err and "Traceback" not in err


def test_a_reset_interval_that_is_not_a_power_of_two_is_refused(tmp_path, capsys):
    path = write_small(tmp_path, steps=12)
    assert cli.main(["deploy", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "12 steps per sample is not a power of two" in err and "--steps 16" in err
    assert map_network(read_network(path), CHIP, ONE_CHIP, 16).fits


# -- the Loihi 2 cost model ------------------------------------------------------------------------


def test_the_cost_model_reproduces_pilotnet_lif_by_construction(netx_assets):
    folder = netx_assets / "gts" / "pilotnet_lif"
    graph = read_network(folder / "network.net")
    frame = np.load(folder / "image.npy").transpose(2, 1, 0)[None].astype(np.int32)
    counts = measure(graph, frame, "fast", time_steps=16)
    mapping = map_network(graph, CHIP, ONE_CHIP, 16)
    bench = CHIP.benchmark
    work, busiest = calibration(mapping, counts)
    assert work == pytest.approx(bench.work_pj, rel=1e-9)  # the table holds today's counts
    assert busiest == pytest.approx(bench.busiest_core_work_pj, rel=1e-9)
    est = estimate(mapping, counts)
    assert est.inferences_per_s == pytest.approx(408.91, rel=1e-9)
    assert est.dynamic_mj == pytest.approx(1.093544, rel=1e-6)
    assert est.total_mj == pytest.approx(1.661103, rel=1e-5)
    assert est.not_priced == [] and mapping.chips == 1


def test_the_estimate_scales_with_the_work_and_leaves_out_what_it_cannot_price(tmp_path):
    graph = read_network(write_small(tmp_path))
    x = np.load(tmp_path / "x.npy")
    counts = measure(graph, x, "fast")
    mapping = map_network(graph, CHIP, ONE_CHIP, 8)
    est = estimate(mapping, counts)
    loihi, loihi2 = est.models
    scale = CHIP.benchmark.dynamic_energy_mj * 1e9 / CHIP.benchmark.work_pj
    assert loihi2.ac == pytest.approx(loihi.ac * scale)
    assert est.dynamic_mj == pytest.approx(est.loihi_mj * scale)
    assert est.static_mj == pytest.approx(CHIP.benchmark.static_power_w * est.seconds * 1e3)
    assert est.not_priced == []  # the host input has no counted row; both populations priced


# -- the board run ---------------------------------------------------------------------------------


@pytest.mark.skipif(board_available(), reason="lava-loihi is installed: the board run would start")
def test_without_lava_loihi_the_report_then_one_line_and_exit_3(tmp_path, capsys):
    path = write_small(tmp_path)
    code = cli.main(["deploy", str(path), "--input", str(tmp_path / "x.npy"), "--json",
                     str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert code == EXIT_NO_BOARD == 3
    assert "layer 1 (population)" in out and "estimate per inference" in out
    assert err.count("\n") == 1 and "needs Intel's lava-loihi" in err
    assert (tmp_path / "r.json").exists()
    assert cli.main(["deploy", str(path), "--input", str(tmp_path / "x.npy"), "--dry-run"]) == 0


@pytest.mark.skipif(board_available(), reason="lava-loihi is installed: the board run would start")
def test_the_command_exits_3_without_traceback_or_hang(tmp_path):
    path = write_small(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "loihi_snn.cli", "deploy", str(path), "--input",
         str(tmp_path / "x.npy")],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 3
    assert "Traceback" not in run.stderr and run.stderr.strip().count("\n") == 0
