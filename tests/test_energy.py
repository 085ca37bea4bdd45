"""The energy reporter: op counts from traces checked by hand, fan-out geometry, cost models, the
BIASNN paper's op counts, and the written report."""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np
import pytest
import torch

from loihi_snn.backends.result import SimResult
from loihi_snn.energy.cli import add_energy_parser
from loihi_snn.energy.costs import BUILTIN_COSTS, load_cost_table
from loihi_snn.energy.counting import count_network
from loihi_snn.energy.geometry import conv_fanout, dense_fanout
from loihi_snn.energy.report import build_report, write_report
from loihi_snn.energy.runner import load_test_inputs, measure
from loihi_snn.errors import LoihiSnnError
from loihi_snn.ir.hdf5 import read_netx
from loihi_snn.mechanisms.alif_mask import paper as biasnn

# ---------------------------------------------------------------- hand-built networks
# Memoryless neurons: iDecay = vDecay = 4096 make u = a << 6 and v = u at every step (v = 0 after a
# spike), so a neuron spikes at step t exactly when its synaptic input a_t exceeds vThMant. The
# expected active updates below follow from these states; the counts take the states the backend
# recorded.


def _neuron(g: h5py.Group, vth: int) -> None:
    n = g.create_group("neuron")
    n.create_dataset("type", data=b"CUBA")
    for key, value in (("iDecay", 4096), ("vDecay", 4096), ("vThMant", vth), ("refDelay", 1)):
        n.create_dataset(key, data=value)
    n.create_dataset("gradedSpike", data=False)


def _layer(f: h5py.File, i: int, kind: str, shape: tuple[int, ...]) -> h5py.Group:
    g = f.create_group(f"layer/{i}")
    g.create_dataset("type", (1,), "S10", [kind.encode()])
    g.create_dataset("shape", data=np.array(shape))
    return g


def _dense(f, i, weight, vth):
    g = _layer(f, i, "dense", (weight.shape[0],))
    g.create_dataset("inFeatures", data=weight.shape[1])
    g.create_dataset("outFeatures", data=weight.shape[0])
    g.create_dataset("weight", data=weight.astype(np.float32))
    _neuron(g, vth)


def _file(path, steps: int):
    f = h5py.File(path, "w")
    f.create_dataset("simulation/Ts", data=1)
    f.create_dataset("simulation/tSample", data=steps)
    return f


def mlp_net(path):
    """3 inputs -> dense 2 (vth 5) -> dense 1 (vth 15); neuron 0 listens to inputs 0 and 2,
    neuron 1 to input 1; the output fires when both fire (weights 10)."""
    with _file(path, 4) as f:
        _layer(f, 0, "input", (3, 1, 1))
        _layer(f, 1, "flatten", (3, 1, 1))
        _dense(f, 2, np.array([[10, 0, 10], [0, 10, 0]]), 5)
        _dense(f, 3, np.array([[10, 10]]), 15)
    return path


def conv_net(path):
    """1x3x3 input -> conv 1->1, 2x2 kernel of 10s (vth 5) -> flatten -> dense [10, 0, 0, 10]
    (vth 15)."""
    with _file(path, 3) as f:
        _layer(f, 0, "input", (1, 3, 3))
        g = _layer(f, 1, "conv", (1, 2, 2))
        for key, value in (("inChannels", 1), ("outChannels", 1), ("groups", 1)):
            g.create_dataset(key, data=value)
        for key, value in (("kernelSize", 2), ("stride", 1), ("padding", 0), ("dilation", 1)):
            g.create_dataset(key, data=np.array([value, value]))
        g.create_dataset("weight", data=np.full((1, 1, 2, 2), 10, np.float32))
        _neuron(g, 5)
        _layer(f, 2, "flatten", (4, 1, 1))
        _dense(f, 3, np.array([[10, 0, 0, 10]]), 15)
    return path


# inputs (n=1, 3, 1, 1, T=4): x0 = 1010, x1 = 1100, x2 = 0010
BINARY = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 1, 0]]).reshape(1, 3, 1, 1, 4)
# the same nonzero pattern with graded payloads: the same spikes, but MACs instead of ACs
GRADED = np.array([[3, 0, 1, 0], [2, 1, 0, 0], [0, 0, 4, 0]]).reshape(1, 3, 1, 1, 4)


def _by_label(counts):
    return {layer.label: layer for layer in counts.layers}


@pytest.mark.lava
@pytest.mark.parametrize("backend", ["lava", "fast"])
def test_hand_mlp_binary_counts_exactly(tmp_path, backend):
    counts = measure(mlp_net(tmp_path / "mlp.net"), BINARY, backend=backend)
    assert counts.backend == backend
    hidden, out = counts.layers
    # layer 1 spikes: n0 = 1010 (a = 10, 0, 20, 0), n1 = 1100 (a = 10, 10, 0, 0); layer 2: 1000
    assert (hidden.output_spikes, out.output_spikes) == (4, 1)
    # 5 input spikes, each input reaches one synapse with a nonzero weight
    assert (hidden.input_events, hidden.synops, hidden.macs) == (5, 5, 0)
    assert hidden.per_step_ops.tolist() == [2, 1, 2, 0]
    # 4 hidden spikes, fan-out 1 each
    assert (out.input_events, out.synops, out.macs) == (4, 4, 0)
    assert (hidden.neuron_updates, out.neuron_updates) == (8, 4)
    # active = state changed or spiked. n0: u = 640, 0, 1280, 0 -> 4; n1: u = 640, 640, 0, 0,
    # spikes at t0, t1 -> t0, t1 (spike), t2 (u changed) = 3; output: u = 1280, 640, 640, 0,
    # v after reset = 0, 640, 640, 0 -> t2 is unchanged and silent: 3
    assert (hidden.active_updates, out.active_updates) == (7, 3)
    assert (hidden.flops, out.flops, counts.flops) == (6, 2, 8)
    assert not hidden.graded_input and not out.graded_input


@pytest.mark.lava
def test_hand_mlp_graded_input_counts_macs_and_prices(tmp_path):
    counts = measure(mlp_net(tmp_path / "mlp.net"), GRADED, op_model="biasnn")
    hidden, out = counts.layers
    assert hidden.graded_input and not hidden.static_input
    assert (hidden.input_events, hidden.synops, hidden.macs) == (5, 0, 5)
    assert (out.synops, out.macs, out.output_spikes) == (4, 0, 1)
    assert (hidden.active_updates, out.active_updates) == (7, 3)
    # BIASNN op model: 2 multiplications and 4 additions per neuron update (12 updates)
    assert (hidden.neuron_mults + out.neuron_mults, hidden.neuron_adds + out.neuron_adds) == (
        24,
        48,
    )
    report = build_report(counts, list(BUILTIN_COSTS.values()))
    energy = report["totals"]["energy_pj_per_sample"]
    arithmetic = 24 * 3.7 + 48 * 0.9
    # honest split: 5 MACs x 4.6 + 4 ACs x 0.9
    assert energy["cmos45-events"] == pytest.approx(5 * 4.6 + 4 * 0.9 + arithmetic)
    # seeds' formula: graded layer E_MAC x FLOPs (6) x T (its input changes over time), then
    # fr x T x FLOPs = 4/(2*4) * 4 * 2 = 4 SOPs
    assert energy["cmos45"] == pytest.approx(4.6 * 6 * 4 + 0.9 * 4 + arithmetic)
    # Loihi: 9 synaptic ops x 23.6, 10 active x 81, 2 inactive x 52
    assert energy["loihi"] == pytest.approx(9 * 23.6 + 10 * 81 + 2 * 52)
    assert report["totals"]["ann_pj_per_sample"] == pytest.approx(4.6 * 8)


@pytest.mark.lava
def test_hand_conv_counts_fanout_at_the_border(tmp_path):
    x = np.zeros((1, 1, 3, 3, 3), np.int32)
    x[0, 0, 1, 1, 0] = 1  # the centre reaches all 4 outputs of the 2x2 kernel
    x[0, 0, 0, 0, 1] = 1  # a corner reaches 1
    counts = measure(conv_net(tmp_path / "conv.net"), x)
    conv, dense = counts.layers
    assert conv.label == "1:conv" and conv.synapses == 16 and conv.flops == 16
    assert (conv.input_events, conv.synops, conv.output_spikes) == (2, 5, 5)
    # dense inputs 1 and 2 have a zero weight: fan-out (1, 0, 0, 1); t0 all four conv neurons
    # spike (2 ops), t1 only neuron 0 (1 op); the output fires at t0 only (a = 20, then 10)
    assert (dense.input_events, dense.synops, dense.synapses, dense.output_spikes) == (5, 3, 2, 1)
    assert dense.per_step_ops.tolist() == [2, 1, 0]
    # conv u: neuron 0 = 640, 640, 0 (spikes t0, t1) -> 3 active; neurons 1-3 = 640, 0, 0 (spike
    # t0) -> t0, t1 = 2 each. Dense u = 1280 (spike), 640, 0 -> 3 of 3
    assert (conv.neuron_updates, conv.active_updates) == (12, 9)
    assert (dense.neuron_updates, dense.active_updates) == (3, 3)


def _mlp_trace(u=None, v=None):
    spikes = [
        np.array([[[1, 0, 1, 0], [1, 1, 0, 0]]], np.int8),
        np.array([[[1, 0, 0, 0]]], np.int8),
    ]
    return SimResult(spikes, spikes[-1].sum(-1), False, 0.0, u, v)


def test_active_updates_are_read_from_the_recorded_states(tmp_path):
    """Made-up states (not what the weights give) decide the split: nothing is recomputed."""
    info = read_netx(mlp_net(tmp_path / "mlp.net"))
    u = [np.array([[[5, 5, 5, 5], [0, 0, 0, 0]]]), np.zeros((1, 1, 4), np.int64)]
    v = [np.zeros((1, 2, 4), np.int64), np.array([[[0, 7, 7, 0]]])]
    counts = count_network(info, BINARY, _mlp_trace(u, v))
    hidden, out = counts.layers
    # hidden n0: u changes at t0, spikes at t2; n1: spikes at t0, t1. Output: spike at t0, v
    # changes at t1 and t3 (t2 unchanged)
    assert (hidden.active_updates, out.active_updates) == (4, 3)
    assert (hidden.neuron_updates, out.neuron_updates) == (8, 4)


def test_a_run_without_recorded_states_is_refused(tmp_path):
    info = read_netx(mlp_net(tmp_path / "mlp.net"))
    with pytest.raises(LoihiSnnError, match="record_states=True"):
        count_network(info, BINARY, _mlp_trace())
    u = [np.zeros((1, 2, 4), np.int64), np.zeros((1, 1, 3), np.int64)]  # one step short
    v = [np.zeros((1, 2, 4), np.int64), np.zeros((1, 1, 4), np.int64)]
    with pytest.raises(LoihiSnnError, match=r"layer 3 \(population\): recorded u"):
        count_network(info, BINARY, _mlp_trace(u, v))


# ---------------------------------------------------------------- fan-out geometry


def test_dense_fanout_counts_nonzero_weights_per_input():
    w = np.array([[1, 0, -2], [0, 0, 3], [4, 0, 0]])
    assert dense_fanout(w).tolist() == [2, 0, 2]


def test_conv_fanout_of_a_2x2_kernel_by_hand():
    fan = conv_fanout(np.ones((1, 1, 2, 2)), (1, 3, 3), (2, 2))
    assert fan[0].tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]


@pytest.mark.parametrize(
    "c_in, c_out, size, kernel, stride, padding, dilation, groups",
    [
        (3, 4, (7, 6), (3, 3), (2, 1), (1, 0), (1, 1), 1),
        (4, 6, (9, 9), (3, 2), (2, 2), (2, 1), (2, 1), 2),
        (2, 2, (5, 8), (1, 3), (1, 3), (0, 2), (1, 2), 2),
    ],
)
def test_conv_fanout_equals_the_gradient_of_a_torch_conv(
    c_in, c_out, size, kernel, stride, padding, dilation, groups
):
    """Fan-out of input i = d/dx_i of sum(conv(x, nonzero mask)): an independent reference."""
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 3, (c_out, c_in // groups, *kernel)) * (rng.random((1, 1, *kernel)) > 0.3)
    x = torch.zeros((1, c_in, *size), dtype=torch.float64, requires_grad=True)
    mask = torch.from_numpy((w != 0).astype(np.float64))
    y = torch.nn.functional.conv2d(x, mask, None, stride, padding, dilation, groups)
    y.sum().backward()
    fan = conv_fanout(w, (c_in, *size), tuple(y.shape[2:]), stride, padding, dilation, groups)
    assert fan.sum() > 0
    assert np.array_equal(fan, x.grad[0].numpy().astype(np.int64))


# ---------------------------------------------------------------- BIASNN paper op model


def test_biasnn_attention_op_counts_of_the_cifar10_model():
    shapes = biasnn.ms_resnet18_attention_shapes((3, 32, 32))
    assert shapes == [(64, 32, 32), (128, 16, 16), (256, 8, 8)]
    assert biasnn.attention_ops(shapes, "lif") == (229_376, 458_752)
    mults, adds = biasnn.attention_ops(shapes, "alif")
    assert mults == 458_755
    assert adds == 688_688  # 6 per neuron + C + C/4 per layer: a fit of the paper's extra 560
    assert biasnn.attention_ops(shapes, "lif", time_steps=4) == (4 * 229_376, 4 * 458_752)


def test_biasnn_fmnist_shapes_and_backbone_macs():
    shapes = biasnn.ms_resnet18_attention_shapes((1, 28, 28))
    assert sum(int(np.prod(s)) for s in shapes) == 87_808
    table = biasnn.paper_table((3, 32, 32))
    assert table["backbone_macs"] == {
        "spike_input_convs": 943_718_400,
        "stem": 9_633_792,
        "shortcuts": 12_582_912,
    }
    assert table["alif_extra_pj"] == pytest.approx(229_379 * 3.7 + 229_936 * 0.9)
    assert table["seeds_formula_uniform_rate_pj"]["total"] / 1e9 == pytest.approx(0.603, abs=1e-3)


# ---------------------------------------------------------------- cost tables and CLI


def test_user_cost_tables_in_toml_and_json(tmp_path):
    toml = tmp_path / "costs.toml"
    toml.write_text('[models.chip]\nsource = "datasheet"\nac = 0.5\nmac = 2\nneuron_active = 1\n')
    (model,) = load_cost_table(toml)
    assert (model.name, model.ac, model.mac, model.neuron_active, model.convention) == (
        "chip",
        0.5,
        2.0,
        1.0,
        "events",
    )
    js = tmp_path / "costs.json"
    js.write_text(json.dumps({"models": {"a": {"source": "s", "ac": 1, "mac": 1}}}))
    assert [m.name for m in load_cost_table(js)] == ["a"]


@pytest.mark.parametrize(
    "text, words",
    [
        ('[models.x]\nsource = "s"\nac = 1\nmac = 1\nacc = 2\n', ("unknown key", "acc")),
        ("[models.x]\nac = 1\nmac = 1\n", ("needs 'source'",)),
        ('[models.x]\nsource = "s"\nac = -1\nmac = 1\n', ("'ac'", "non-negative")),
        ('[models.x]\nsource = "s"\nac = 1\nmac = 1\nconvention = "x"\n', ("convention",)),
        ("ac = 1\n", ("no 'models'",)),
        ("[models.x\n", ("not valid",)),
    ],
)
def test_bad_cost_tables_are_refused_with_the_reason(tmp_path, text, words):
    path = tmp_path / "costs.toml"
    path.write_text(text)
    with pytest.raises(LoihiSnnError) as err:
        load_cost_table(path)
    for word in words:
        assert word in str(err.value)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="loihi-snn")
    add_energy_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["energy", *argv])
    return args.run(args)


def test_cli_writes_table_json_and_png_with_a_user_cost_model(tmp_path, capsys):
    net = mlp_net(tmp_path / "mlp.net")
    np.save(tmp_path / "x.npy", BINARY)
    (tmp_path / "c.toml").write_text('[models.chip]\nsource = "mine"\nac = 1\nmac = 10\n')
    out = tmp_path / "out"
    code = _cli(
        str(net),
        "--input",
        str(tmp_path / "x.npy"),
        "-n",
        "1",
        "--costs",
        str(tmp_path / "c.toml"),
        "--json",
        str(out / "e.json"),
        "--plot",
        str(out / "e.png"),
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "2:dense" in text and "chip" in text and "loihi" in text
    report = json.loads((out / "e.json").read_text())
    assert report["layers"][0]["per_sample"]["synops"] == 5
    assert report["layers"][0]["per_sample"]["active_updates"] == 7
    assert report["totals"]["energy_pj_per_sample"]["chip"] == pytest.approx(9.0)
    assert (out / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["e.json", "e.png"]  # no temporary left


def test_cli_paper_mode_prints_the_biasnn_counts(tmp_path, capsys):
    assert _cli("--paper", "biasnn", "--json", str(tmp_path / "p.json")) == 0
    text = capsys.readouterr().out
    assert "229,376" in text and "458,752" in text and "458,755" in text
    table = json.loads((tmp_path / "p.json").read_text())
    assert table["neurons"]["alif"]["multiplications"] == 458_755


def test_cli_without_a_network_is_a_user_error():
    with pytest.raises(LoihiSnnError, match="give a .net file"):
        _cli()


@pytest.mark.lava
def test_failed_plot_leaves_the_previous_report(tmp_path, monkeypatch):
    counts = measure(mlp_net(tmp_path / "mlp.net"), BINARY)
    report = build_report(counts, list(BUILTIN_COSTS.values()))
    png = tmp_path / "e.png"
    png.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", broken)
    with pytest.raises(RuntimeError):
        write_report(report, None, png)
    assert png.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.lava
def test_an_unknown_backend_is_refused(tmp_path):
    with pytest.raises(LoihiSnnError, match="unknown backend 'loihi'"):
        measure(mlp_net(tmp_path / "mlp.net"), BINARY, backend="loihi")


# ---------------------------------------------------------------- a trained export


@pytest.mark.lava
def test_digits_export_counts_macs_of_the_direct_input(digits_run):
    info = read_netx(digits_run / "model.net")
    x, graded = load_test_inputs(info, 3)
    assert graded is True  # the digits recipe uses the direct encoder
    counts = measure(info.path, x, graded_input=graded)
    first, second = counts.layers
    with h5py.File(info.path) as f:
        w1, w2 = f["layer/2/weight"][()], f["layer/3/weight"][()]
    nz = (x.reshape(3, 64, -1) != 0).sum((0, 2))
    assert first.macs == int((nz * (w1 != 0).sum(0)).sum()) > 0 and first.synops == 0
    assert first.static_input  # the same pixel levels at every step
    assert second.synops > 0 and second.macs == 0 and second.synapses == int((w2 != 0).sum())
    assert 0 < first.active_updates <= first.neuron_updates
    assert second.input_events == first.output_spikes


def _strided_cnn(tmp_path):
    from loihi_snn.data import encode
    from loihi_snn.models.sequential import SpikingNet
    from loihi_snn.recipe import LayerSpec, NeuronSpec

    layers = [
        LayerSpec("conv", out=4, kernel=3, stride=2, padding=1, threshold=2.0, weight_scale=4),
        LayerSpec("conv", out=6, kernel=3, stride=1, padding=1, weight_scale=4),
        LayerSpec("flatten"),
        LayerSpec("dense", out=5, weight_scale=4),
    ]
    torch.manual_seed(1)
    model = SpikingNet(layers, NeuronSpec(current_decay=0.5, voltage_decay=0.1), (2, 9, 8))
    path = model.export_hdf5(tmp_path / "cnn.net", {"time_steps": 8})
    raw = np.random.default_rng(2).integers(0, 256, (2, 2, 9, 8))
    return path, encode(raw, "rate", 255, 15, 8)


@pytest.mark.lava
def test_strided_cnn_counts_match_an_independent_reference(tmp_path):
    """The first layer's operations equal sum_t sum_i x_i(t) * d/dx_i sum(conv(x, nonzero mask)),
    and every layer's active updates lie between its spikes and its updates."""
    path, x = _strided_cnn(tmp_path)
    counts = measure(path, x)
    for layer in counts.layers:
        assert 0 < layer.output_spikes <= layer.active_updates <= layer.neuron_updates
    with h5py.File(path) as f:
        w = f["layer/1/weight"][()].reshape(4, 2, 3, 3)
    probe = torch.zeros((1, 2, 9, 8), dtype=torch.float64, requires_grad=True)
    mask = torch.from_numpy((w != 0).astype(np.float64))
    torch.nn.functional.conv2d(probe, mask, stride=2, padding=1).sum().backward()
    expected = (x.sum(-1) * probe.grad.numpy()).sum()
    first = counts.layers[0]
    assert first.synops == int(expected) > 0 and first.macs == 0
    assert counts.layers[1].input_events == first.output_spikes


@pytest.mark.lava
def test_fast_backend_gives_the_same_counts(tmp_path):
    path, x = _strided_cnn(tmp_path)
    lava, fast = measure(path, x), measure(path, x, backend="fast")
    for a, b in zip(lava.layers, fast.layers, strict=True):
        assert a.active_updates < a.neuron_updates  # the split is not trivial here
        assert (a.synops, a.output_spikes, a.neuron_updates, a.active_updates) == (
            b.synops,
            b.output_spikes,
            b.neuron_updates,
            b.active_updates,
        )


def test_cli_choices_match_the_op_models_and_backends():
    from loihi_snn.energy import cli
    from loihi_snn.energy.counting import OP_MODELS
    from loihi_snn.evaluation import BACKENDS

    assert cli.OP_MODEL_CHOICES == tuple(OP_MODELS)
    assert cli.BACKEND_CHOICES == BACKENDS


# ---------------------------------------------------------------- graph files, custom layers


@pytest.mark.lava
def test_graph_file_with_a_custom_layer_is_counted_and_priced(biasnn_run, monkeypatch):
    """A format-2 file with BIASNN's mask: Lava and the fast backend give the same counts; the
    mask prices its own arithmetic through its layer type (cmos45), and a model with no price for
    it (loihi) reports it as not priced instead of a silent zero."""
    from loihi_snn.energy.report import format_report
    from loihi_snn.ir.hdf5 import read_network
    from loihi_snn.mechanisms.alif_mask.layer import AlifMaskType

    info = read_network(biasnn_run / "model.net")
    x, graded = load_test_inputs(info, 2)
    lava = measure(info, x, graded_input=graded)
    fast = measure(info, x, backend="fast", graded_input=graded)
    keys = ("synops", "macs", "input_events", "output_spikes", "neuron_updates", "active_updates")
    for a, b in zip(lava.layers, fast.layers, strict=True):
        assert [getattr(a, k) for k in keys] == [getattr(b, k) for k in keys], a.label
    masks = [layer for layer in lava.layers if layer.custom]
    assert masks and all(m.priced and m.neuron_mults > 0 and m.neuron_adds > 0 for m in masks)
    readers = [p for p in lava.projections if any(f"layer {m.index} " in p for m in masks)]
    assert readers and all(lava.projections[p] >= 0 for p in readers)
    report = build_report(lava, list(BUILTIN_COSTS.values()))
    labels = [m.label for m in masks]
    assert report["totals"]["not_priced"] == {"cmos45": [], "cmos45-events": [], "loihi": labels}
    assert report["totals"]["neurobench"]["effective_macs"] > 0
    monkeypatch.setattr(AlifMaskType, "ops", lambda self, layer, steps: None)
    unpriced = measure(info, x, backend="fast", graded_input=graded)
    report = build_report(unpriced, list(BUILTIN_COSTS.values()))
    assert all(report["totals"]["not_priced"][name] == labels for name in BUILTIN_COSTS)
    assert "n/p" in format_report(report) and "not priced" in format_report(report)
