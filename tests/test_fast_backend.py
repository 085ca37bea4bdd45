"""The fast backend equals Lava fixed_pt in spikes, u and v of every layer at every step."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from loihi_snn.backends.fast import FastRunner, run_fast
from loihi_snn.backends.lava import run_lava
from loihi_snn.ir.hdf5 import read_network


def _assert_same(fast, lava) -> None:
    for name in ("spikes", "u", "v"):
        ours, theirs = getattr(fast, name), getattr(lava, name)
        assert len(ours) == len(theirs)
        for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert a.shape == b.shape, (name, k)
            assert np.array_equal(a, b), f"{name} of layer {k}: {(a != b).sum()} mismatches"
    np.testing.assert_array_equal(fast.readout, lava.readout)


@pytest.mark.lava
def test_mnist_net(netx_assets):
    rng = np.random.default_rng(0)
    images = (rng.random((3, 784)) < 0.2) * rng.random((3, 784))
    bias = np.rint(76 * (images * 2 - 1) + 64).astype(np.int32)
    fast = run_fast(netx_assets / "mnist.net", bias, 16, record_states=True)
    lava = run_lava(netx_assets / "mnist.net", bias, 16, record_states=True)
    assert sum(int(s.sum()) for s in fast.spikes) > 5_000
    _assert_same(fast, lava)


def test_pilotnet_lif_against_its_golden_traces(netx_assets):
    """PilotNet-LIF with Lava Monitors on u and v of its 160k neurons takes minutes, so the fast
    backend is checked against the golden traces Lava produced (tests/test_reference_nets.py shows
    Lava reproduces their spikes). Quirks of those files: each layer's window starts at step k; v
    is recorded before the reset, so it differs from Lava's v exactly where the neuron spiked; the
    fc-3 u/v files come from another run (their values fit no input) and are left out."""
    folder = netx_assets / "gts" / "pilotnet_lif"
    image = np.load(folder / "image.npy").transpose(2, 1, 0)[None]
    fast = run_fast(folder / "network.net", image, 16, record_states=True)
    names = ["input"] + [f"conv-{i}" for i in range(5)] + [f"fc-{i}" for i in range(4)]
    checked = 0
    for k, name in enumerate(names):

        def golden(suffix: str, k=k, name=name) -> np.ndarray:
            g = np.load(folder / f"{name}{suffix}.npy")
            g = g.transpose(2, 1, 0, 3) if g.ndim == 4 else g
            return g.reshape(-1, g.shape[-1])[:, k : k + 16]

        spikes = fast.spikes[k][0]
        path = folder / f"{name}.npy"
        assert np.array_equal(spikes, golden("" if path.exists() else "-s")), name
        if name in ("input", "fc-3"):
            continue
        assert np.array_equal(fast.u[k][0], golden("-u")), f"{name} u"
        quiet = spikes == 0
        assert np.array_equal(fast.v[k][0][quiet], golden("-v")[quiet]), f"{name} v"
        checked += fast.u[k][0].size
    assert checked > 100_000


@pytest.mark.lava
def test_pilotnet_lif_states_match_lava(netx_assets):
    folder = netx_assets / "gts" / "pilotnet_lif"
    image = np.load(folder / "image.npy").transpose(2, 1, 0)[None]
    fast = run_fast(folder / "network.net", image, 16, record_states=True)
    lava = run_lava(folder / "network.net", image, 16, record_states=True)
    _assert_same(fast, lava)


def _stress_file(path) -> None:
    """Graded 8-bit input, all three weight sign modes, odd weights (netx packs them with
    truncation), slow current decay that wraps u at 24 bits, no voltage leak with a threshold out of
    reach so that v clips, channel biases, and a conv whose sums wrap at 24 bits."""
    rng = np.random.default_rng(7)

    def neuron(g, i_decay, v_decay, vth):
        for key, value in (
            ("type", b"CUBA"),
            ("iDecay", i_decay),
            ("vDecay", v_decay),
            ("vThMant", vth),
            ("refDelay", 1),
            ("gradedSpike", False),
        ):
            g.create_dataset(f"neuron/{key}", data=value)

    with h5py.File(path, "w") as f:
        f.create_dataset("simulation/Ts", data=1)
        f.create_dataset("simulation/tSample", data=12)
        layers = f.create_group("layer")
        g = layers.create_group("0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g.create_dataset("shape", data=np.array([16, 6, 6]))
        g = layers.create_group(
            "1"
        )  # conv: 16 channels x 3 x 3 of weight up to 255 on 0..255 input
        g.create_dataset("type", (1,), "S10", [b"conv"])
        g.create_dataset("shape", data=np.array([4, 6, 6]))
        g.create_dataset("weight", data=rng.integers(-60, 256, (4, 16, 3, 3, 1)).astype(np.float32))
        for key, value in (("stride", [1, 1]), ("padding", [1, 1]), ("dilation", [1, 1])):
            g.create_dataset(key, data=np.array(value))
        g.create_dataset("groups", data=1)
        g.create_dataset("bias", data=np.array([5.0, -7.0, 0.0, 11.0]))
        neuron(g, 4096, 2048, 900)
        g = layers.create_group("2")
        g.create_dataset("type", (1,), "S10", [b"flatten"])
        g.create_dataset("shape", data=np.array([144, 1, 1]))
        specs = [  # (out, weight range, iDecay, vDecay, vThMant)
            (24, (-255, 256), 40, 0, 131071),  # mixed, odd values; u wraps, v clips, never spikes
            (20, (0, 256), 4096, 300, 40),  # excitatory only
            (12, (-256, 0), 1000, 100, 20),  # inhibitory only, driven by a bias
        ]
        fan_in = 144
        for index, (out, (low, high), i_decay, v_decay, vth) in enumerate(specs, start=3):
            g = layers.create_group(str(index))
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([out]))
            g.create_dataset(
                "weight", data=rng.integers(low, high, (out, fan_in)).astype(np.float32)
            )
            if index == 5:
                g.create_dataset("bias", data=np.full(out, 300.0))
            neuron(g, i_decay, v_decay, vth)
            fan_in = out


@pytest.mark.lava
def test_stress_network_hits_every_fixed_point_rule(tmp_path):
    path = tmp_path / "stress.net"
    _stress_file(path)
    inputs = np.random.default_rng(3).integers(0, 256, (3, 16, 6, 6, 12)).astype(np.int32)
    fast = run_fast(path, inputs, record_states=True)
    lava = run_lava(path, inputs, record_states=True)
    _assert_same(fast, lava)
    conv_u, hidden_u, hidden_v = fast.u[0], fast.u[1], fast.v[1]
    assert np.abs(conv_u).max() > 2**22  # conv sums beyond what the states can hold wrapped
    assert (hidden_v == -(2**23 - 1)).any() or (hidden_v == 2**23 - 1).any()  # v clipped
    assert hidden_u.min() < 0 < hidden_u.max()
    assert all(int(s.sum()) > 0 for s in (fast.spikes[0], fast.spikes[2], fast.spikes[3]))


@pytest.mark.lava
@pytest.mark.parametrize("batch_size", [1, 2, 256])
def test_batching_does_not_change_results(digits_run, batch_size):
    from loihi_snn.train import encode_split, load_checkpoint

    trained, _ = load_checkpoint(digits_run)
    x = encode_split(trained.data, trained.recipe, "test", np.arange(5), trained.recipe.seed + 1)
    reference = run_fast(digits_run / "model.net", x, batch_size=5)
    batched = run_fast(digits_run / "model.net", x, batch_size=batch_size)
    for a, b in zip(reference.spikes, batched.spikes, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.lava
@pytest.mark.parametrize("backend", ["fast", "lava"])
def test_both_backends_refuse_inputs_that_do_not_fit(digits_run, backend):
    from loihi_snn.errors import LoihiSnnError

    run = run_fast if backend == "fast" else run_lava
    with pytest.raises(LoihiSnnError, match="expects"):
        run(digits_run / "model.net", np.zeros((2, 1, 7, 7, 16), np.int32))
    with pytest.raises(LoihiSnnError, match="time steps"):
        run(digits_run / "model.net", np.zeros((2, 1, 8, 8, 5), np.int32))


def _write_net(path, steps: int, layers: list[tuple]) -> None:
    """A NetX file of (type, shape, weight or None, conv geometry) layers, all CUBA neurons with
    iDecay 1024, vDecay 256, vThMant 60."""
    with h5py.File(path, "w") as f:
        f.create_dataset("simulation/Ts", data=1)
        f.create_dataset("simulation/tSample", data=steps)
        for index, (kind, shape, weight, geometry) in enumerate(layers):
            g = f.create_group(f"layer/{index}")
            g.create_dataset("type", (1,), "S10", [kind.encode()])
            g.create_dataset("shape", data=np.array(shape))
            if weight is not None:
                g.create_dataset("weight", data=weight.astype(np.float32))
                for key, value in (("iDecay", 1024), ("vDecay", 256), ("vThMant", 60)):
                    g.create_dataset(f"neuron/{key}", data=value)
                g.create_dataset("neuron/type", data=b"CUBA")
            for key, value in geometry.items():
                g.create_dataset(key, data=np.array(value))


@pytest.mark.lava
def test_event_kernels_on_grouped_dilated_convs(tmp_path):
    """Binary input into grouped, dilated, strided and padded convs, then a dense layer: every
    geometry the event-driven kernels index, with inputs mostly silent or mostly spiking."""
    rng = np.random.default_rng(11)
    conv1 = {"stride": [2, 2], "padding": [1, 2], "dilation": [2, 1], "groups": 2}
    conv2 = {"stride": [1, 1], "padding": [0, 1], "dilation": [1, 1], "groups": 3}
    conv3 = {"stride": [1, 1], "padding": [1, 1], "dilation": [2, 1], "groups": 1}
    path = tmp_path / "grouped.net"
    _write_net(
        path,
        10,
        [
            ("input", [4, 9, 11], None, {}),
            ("conv", [6, 4, 7], rng.integers(-40, 60, (6, 2, 3, 3, 1)), conv1),
            ("conv", [6, 3, 7], rng.integers(-30, 70, (6, 2, 2, 3, 1)), conv2),
            ("conv", [5, 3, 7], rng.integers(-40, 50, (5, 6, 2, 3, 1)), conv3),
            ("flatten", [105, 1, 1], None, {}),
            ("dense", [9], rng.integers(-110, 110, (9, 105)), {}),
        ],
    )
    rng = np.random.default_rng(5)
    rate = rng.choice([0.1, 0.9], (3, 4, 9, 11, 1))  # pixels mostly silent or mostly spiking
    spikes = (rng.random((3, 4, 9, 11, 10)) < rate).astype(np.int32)
    frame = rng.integers(0, 4, (3, 4, 9, 11, 1)).repeat(10, axis=-1)  # graded, the same each step
    graph = read_network(path)
    for inputs in (spikes, frame):
        lava = run_lava(path, inputs, record_states=True)
        for conv_path in ("events", "dense"):  # the two ways the fast backend sums a conv
            runner = FastRunner(graph)
            runner.conv_path = conv_path
            _assert_same(run_fast(graph, inputs, record_states=True, runner=runner), lava)
        assert all(0 < s.mean() < 1 for s in lava.spikes)


@pytest.mark.lava
def test_graded_sums_wrap_in_int32_as_lava_dense(tmp_path):
    """Weights of -1, 0, 1 (netx scales them to 128, exponent -7) on payloads of up to 2^24: the
    sums pass 2^31. Lava's Dense takes the dot product in int32, wrapping, and its shift by 7 brings
    wrapped bits into the input the neurons keep (the low 26 bits), so exact sums would differ."""
    rng = np.random.default_rng(4)
    path = tmp_path / "wide.net"
    weight = rng.integers(-1, 2, (6, 64))
    _write_net(
        path,
        8,
        [
            ("input", [64], None, {}),
            ("dense", [6], weight, {}),
            ("dense", [4], rng.integers(-100, 120, (4, 6)), {}),
        ],
    )
    inputs = rng.integers(0, 1 << 24, (3, 64, 8)).astype(np.int32)
    assert np.abs(np.einsum("oi,nit->not", weight * 128, inputs.astype(np.int64))).max() > 2**31
    fast = run_fast(path, inputs, record_states=True)
    lava = run_lava(path, inputs, record_states=True)
    _assert_same(fast, lava)
