"""NIR interchange: round trips are exact in Lava, a network trained and exported by snnTorch runs
in Lava within a point of its float model, a network exported here runs in snnTorch through its
own importer, and malformed graphs get one line naming the node."""

from __future__ import annotations

from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch

from loihi_snn.cli import main
from loihi_snn.data import encode, load_dataset
from loihi_snn.errors import LoihiSnnError
from loihi_snn.interchange.from_nir import detect_dt, from_nir, import_nir, read_nir
from loihi_snn.interchange.to_nir import export_nir
from loihi_snn.ir.hdf5 import read_network
from loihi_snn.models.resnet import GraphNet
from loihi_snn.models.sequential import SpikingNet
from loihi_snn.recipe import LayerSpec, NeuronSpec, load_recipe

REPO = Path(__file__).resolve().parent.parent
CNN = [
    LayerSpec("conv", out=6, kernel=3, stride=1, padding=1, threshold=2.0),
    LayerSpec("conv", out=8, kernel=3, stride=2, padding=1),
    LayerSpec("flatten"),
    LayerSpec("dense", out=10),
]
STEPS = 8


def _digits_direct(n: int, steps: int = STEPS) -> np.ndarray:
    d = load_dataset("digits")
    return encode(d.x_test[:n], "direct", d.max_value, 16, steps)


@pytest.fixture(scope="module")
def standard_files(tmp_path_factory) -> list[Path]:
    """The project's standard-layer models, untrained: a sequential CNN (format 1, CUBA with
    current memory) and digits_resnet's MS-ResNet (format 2: merges, pooling, BN biases)."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("standard")
    cnn = SpikingNet(CNN, NeuronSpec(), (1, 8, 8))
    paths = [cnn.export_hdf5(out / "cnn.net", {"time_steps": STEPS})]
    recipe = load_recipe(REPO / "train" / "digits_resnet.toml")
    resnet = GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))
    resnet.check_ready()
    paths.append(resnet.export_hdf5(out / "resnet.net", {"time_steps": STEPS}))
    return paths


def _round_trip(path: Path) -> Path:
    export_nir(path, path.with_suffix(".nir"))
    back = path.with_name(f"{path.stem}_back.net")
    import_nir(path.with_suffix(".nir"), back)
    return back


def _integers(layer) -> tuple:
    bias = np.zeros(layer.neurons) if layer.bias is None else layer.bias
    return layer.shape, layer.neuron, bias.tolist(), [
        (p.kind, p.source, p.weight.tolist(), p.stride, p.padding, p.groups, p.kernel)
        for p in layer.inputs
    ]


def test_round_trip_gives_the_same_integers(standard_files):
    for path in standard_files:
        a, b = read_network(path), read_network(_round_trip(path))
        assert [_integers(layer) for layer in a.layers[1:]] == [
            _integers(layer) for layer in b.layers[1:]
        ]
        assert b.time_steps == STEPS


@pytest.mark.lava
def test_round_trip_matches_the_original_in_lava_spike_for_spike(standard_files):
    from loihi_snn.backends.lava import run_lava

    x = _digits_direct(3)
    for path in standard_files:
        original = run_lava(path, x)
        back = run_lava(_round_trip(path), x)
        assert sum(int(s.sum()) for s in original.spikes) > 0
        for a, b in zip(original.spikes, back.spikes, strict=True):
            assert np.array_equal(a, b)


# -- a peer: snnTorch ---------------------------------------------------------------------------


def _leaky(n: int):
    import snntorch as snn

    # per-neuron beta and threshold: snnTorch's exporter gives scalar ones shape () (NIR refuses)
    return snn.Leaky(beta=torch.full((n,), 0.9), threshold=torch.ones(n), init_hidden=True,
                     reset_mechanism="zero", reset_delay=False)


def _snn_run(net, x: np.ndarray) -> np.ndarray:
    """Spike counts (n, classes) of an snnTorch network (init_hidden) on x (n, features, T)."""
    from snntorch import utils

    utils.reset(net)
    xt = torch.from_numpy(x.astype(np.float32))
    counts, state = 0, None
    with torch.no_grad():
        for t in range(x.shape[-1]):
            # snnTorch's own modules return spikes, the graph its importer builds (spikes, state)
            out = net(xt[..., t]) if state is None else net(xt[..., t], state)
            spikes, state = out if isinstance(out, tuple) else (out, None)
            counts = counts + spikes
    return counts.numpy()


@pytest.fixture(scope="module")
def peer(tmp_path_factory) -> dict:
    """A 64-64-10 snnTorch network (Leaky, hard reset, no reset delay) trained on digits with
    rate-coded input, exported by snnTorch's own export_to_nir."""
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    d = load_dataset("digits")
    steps = 16

    def spikes(x, seed):
        return encode(x, "rate", d.max_value, 16, steps, seed=seed).reshape(len(x), 64, steps)

    x_train, x_test = spikes(d.x_train, 1), spikes(d.x_test, 2)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 64), _leaky(64), torch.nn.Linear(64, 10), _leaky(10)
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xs, ys = torch.from_numpy(x_train.astype(np.float32)), torch.from_numpy(d.y_train)
    for _ in range(3):
        for idx in torch.randperm(len(xs)).split(64):
            utils.reset(net)
            counts = sum(net(xs[idx][..., t]) for t in range(steps))
            loss = torch.nn.functional.cross_entropy(counts * 0.5, ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    accuracy = float((_snn_run(net, x_test).argmax(1) == d.y_test).mean())
    utils.reset(net)
    path = tmp_path_factory.mktemp("peer") / "snntorch.nir"
    nir.write(path, export_to_nir(net, torch.from_numpy(x_test[0, :, 0].astype(np.float32))))
    return {"nir": path, "x": x_test, "y": d.y_test, "accuracy": accuracy, "steps": steps}


@pytest.mark.lava
def test_snntorch_network_runs_in_lava_within_a_point_of_its_float_model(peer):
    from loihi_snn.backends.lava import run_lava

    out = peer["nir"].with_suffix(".net")
    imported = import_nir(peer["nir"], out, steps=peer["steps"])
    assert imported.dt == pytest.approx(1e-4) and "snnTorch" in imported.dt_source
    assert [e.weight for e in imported.errors] == pytest.approx([0, 0], abs=0.01)
    assert "weight rms err" in imported.report()
    result = run_lava(out, peer["x"])
    accuracy = float((result.predictions == peer["y"]).mean())
    print(f"\nsnnTorch float {peer['accuracy']:.4f}, Lava fixed_pt {accuracy:.4f} "
          f"({len(peer['y'])} digits test images)\n{imported.report()}")
    assert peer["accuracy"] > 0.85
    assert abs(accuracy - peer["accuracy"]) <= 0.01, (accuracy, peer["accuracy"])


@pytest.mark.lava
def test_network_exported_here_runs_in_snntorch_through_its_own_importer(peer, tmp_path):
    from snntorch.import_nir import import_from_nir

    from loihi_snn.backends.fast import run_fast

    loihi = tmp_path / "loihi.net"
    import_nir(peer["nir"], loihi, steps=peer["steps"])
    export_nir(loihi, tmp_path / "loihi.nir")
    net = import_from_nir(nir.read(tmp_path / "loihi.nir"))
    theirs = (_snn_run(net, peer["x"]).argmax(1) == peer["y"]).mean()
    ours = (run_fast(loihi, peer["x"]).predictions == peer["y"]).mean()
    print(f"\nthe Loihi network in snnTorch (its import_from_nir) {theirs:.4f}, here {ours:.4f}")
    assert abs(theirs - ours) <= 0.01, (theirs, ours)


# -- malformed and unsupported graphs -----------------------------------------------------------


def _lif(n: int, **kw) -> nir.LIF:
    params = {"tau": np.full(n, 1e-3), "r": np.full(n, 10.0), "v_leak": np.zeros(n),
              "v_threshold": np.ones(n)} | kw
    return nir.LIF(**params)


def _graph(nodes: dict, edges: list, **kw) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False, **kw)


def _chain(*middle: tuple[str, nir.NIRNode], n_in: int = 4) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type=np.array([n_in])), **dict(middle),
             "output": nir.Output(output_type=np.array([3]))}
    names = list(nodes)
    return _graph(nodes, list(zip(names, names[1:], strict=False)))


def _one_line(excinfo, *words: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_unknown_node_is_named(tmp_path):
    path = tmp_path / "g.nir"
    nir.write(path, _chain(("fc", nir.Linear(weight=np.ones((3, 4)))), ("lif", _lif(3))))
    with h5py.File(path, "r+") as f:
        del f["node/nodes/fc/type"]
        f["node/nodes/fc/type"] = b"Gizmo"
    with pytest.raises(LoihiSnnError) as err:
        read_nir(path)
    _one_line(err, "node fc", "Gizmo")
    assert main(["nir", "import", str(path), "-o", str(tmp_path / "g.net")]) == 2


def test_cycle_without_delay_is_named():
    nodes = {"input": nir.Input(input_type=np.array([3])), "a": _lif(3),
             "w": nir.Linear(weight=np.eye(3)), "output": nir.Output(output_type=np.array([3]))}
    g = _graph(nodes, [("input", "a"), ("a", "w"), ("w", "a"), ("a", "output")])
    with pytest.raises(LoihiSnnError) as err:
        from_nir(g, dt=1e-4, steps=4)
    _one_line(err, "cycle without delay", "a -> w -> a")


def test_shape_mismatch_is_named():
    g = _chain(("fc", nir.Linear(weight=np.ones((3, 5)))), ("lif", _lif(3)))
    with pytest.raises(LoihiSnnError) as err:
        from_nir(g, dt=1e-4, steps=4)
    _one_line(err, "node fc", "shape mismatch")
    g = _chain(("fc", nir.Linear(weight=np.ones((3, 4)))), ("lif", _lif(5)))
    with pytest.raises(LoihiSnnError) as err:
        from_nir(g, dt=1e-4, steps=4)
    _one_line(err, "node lif", "shape mismatch")


@pytest.mark.parametrize(
    "node, words",
    [
        (_lif(3, tau=np.full(3, 5e-5)), ["tau >= dt"]),  # decay 1 - dt/tau < 0
        (_lif(3, v_threshold=np.full(3, -1.0)), ["not positive"]),
        (_lif(3, v_threshold=np.full(3, 1e-4)), ["rounds to 0"]),  # 8-bit weights vs threshold
        (_lif(3, v_reset=np.full(3, 0.5)), ["v_reset", "resets v to 0"]),
        (_lif(3, tau=np.array([1e-3, 2e-3, 1e-3])), ["differs between neurons"]),
    ],
)
def test_parameters_that_do_not_quantise_are_named(node, words):
    g = _chain(("fc", nir.Linear(weight=np.full((3, 4), 2.0))), ("lif", node))
    with pytest.raises(LoihiSnnError) as err:
        from_nir(g, dt=1e-4, steps=4)
    _one_line(err, "node lif", *words)


def test_bias_through_a_synaptic_filter_is_refused():
    cuba = nir.CubaLIF(tau_syn=np.full(3, 4e-4), tau_mem=np.full(3, 1e-3), r=np.full(3, 10.0),
                       v_leak=np.zeros(3), v_threshold=np.ones(3), w_in=np.full(3, 4.0))
    g = _chain(("fc", nir.Affine(weight=np.ones((3, 4)), bias=np.ones(3))), ("cuba", cuba))
    with pytest.raises(LoihiSnnError) as err:
        from_nir(g, dt=1e-4, steps=4)
    _one_line(err, "node cuba", "synaptic filter")
    # the same bias into a LIF is a voltage bias: bias mantissa = bias x scale
    g = _chain(("fc", nir.Affine(weight=np.ones((3, 4)), bias=np.ones(3))), ("lif", _lif(3)))
    layer = from_nir(g, dt=1e-4, steps=4).graph.layers[1]
    assert layer.bias.tolist() == [1, 1, 1] and layer.neuron.vth == 1


def test_dt_follows_the_file_then_snntorch_then_norse():
    g = _chain(("fc", nir.Linear(weight=np.ones((3, 4)))), ("lif", _lif(3)))
    assert detect_dt(g, None) == (pytest.approx(1e-4), detect_dt(g, None)[1])
    assert "snnTorch" in detect_dt(g, None)[1]
    norse = _chain(("fc", nir.Linear(weight=np.ones((3, 4)))), ("lif", _lif(3, r=np.ones(3))))
    assert detect_dt(norse, None)[0] == 1e-3 and "Norse" in detect_dt(norse, None)[1]
    assert detect_dt(norse, 5e-4) == (5e-4, "given")
    odd = _chain(("fc", nir.Linear(weight=np.ones((3, 4)))),
                 ("lif", _lif(3, r=np.array([1.0, 2.0, 3.0]))))
    with pytest.raises(LoihiSnnError, match="pass --dt"):
        detect_dt(odd, None)


def test_custom_layers_and_input_neurons_are_refused_by_name(tmp_path, netx_assets):
    recipe = load_recipe(REPO / "train" / "digits_biasnn.toml")
    model = GraphNet(recipe.layers, recipe.neuron, (1, 8, 8))
    model.check_ready()
    path = model.export_hdf5(tmp_path / "biasnn.net", {"time_steps": 4})
    with pytest.raises(LoihiSnnError) as err:
        export_nir(path, tmp_path / "biasnn.nir")
    _one_line(err, "(alif_mask)", "custom layer")
    with pytest.raises(LoihiSnnError) as err:
        export_nir(netx_assets / "mnist.net", tmp_path / "mnist.nir")
    _one_line(err, "layer 0 (input)", "driven through their bias")
    assert not (tmp_path / "mnist.nir").exists()


def test_an_imported_file_asks_for_inputs_instead_of_a_checkpoint(standard_files, capsys):
    """An imported file carries metadata but no training run: sim says what to pass."""
    back = _round_trip(standard_files[0])
    assert not read_network(back).trained_here
    assert main(["sim", str(back), "-n", "2", "--backend", "fast"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no training run" in err and "inputs" in err, err
