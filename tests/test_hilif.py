"""HI-LIF (SPARTA's Algorithm 1): the folded unit-threshold form against Algorithm 1, the priors,
the grouping into stock LIF populations, the integer realisation against an independent
vector-decay reference, and Lava fixed_pt against the fast backend on the grouped graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loihi_snn.errors import LoihiSnnError
from loihi_snn.ir.graph import Graph, Layer, Neuron
from loihi_snn.ir.validation import validate
from loihi_snn.mechanisms.hilif.block import HiLIF, reference_integer

IN_SHAPE = (2, 8, 8)
STEPS = 6


def make_block(dv_step: int = 1, seed: int = 0) -> HiLIF:
    torch.manual_seed(seed)
    return HiLIF(2, 6, 2, 2, mu_tau=2.0, sigma_tau=0.5, mu_vth=1.0, sigma_vth=0.3,
                 dv_step=dv_step, weight_scale=0.5)


def inputs(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 16, (n, *IN_SHAPE, STEPS)).astype(np.int64)


def algorithm_1(block: HiLIF, x: torch.Tensor) -> torch.Tensor:
    """Algorithm 1 literally (float64): v += (z - v) / tau; s = v >= vth; v <- 0."""
    z = block.currents(x)
    tau_inv = block.decay().detach()[None, :, None, None]
    vth = block.threshold().detach()[None, :, None, None]
    v = torch.zeros_like(z[..., 0])
    out = []
    for t in range(z.shape[-1]):
        v = v + (z[..., t] - v) * tau_inv
        s = (v >= vth).to(z.dtype)
        v = v * (1 - s)
        out.append(s)
    return torch.stack(out, -1)


def test_priors_and_init() -> None:
    torch.manual_seed(1)
    block = HiLIF(1, 2000, 1, mu_tau=2.0, sigma_tau=0.3, mu_vth=1.0, sigma_vth=0.2)
    tau = 1 + torch.exp(-block.w.detach())
    assert torch.allclose(torch.sigmoid(block.w.detach()), 1 / tau)
    assert abs(float(tau.mean()) - 2.0) < 0.03 and abs(float(tau.std()) - 0.3) < 0.03
    assert abs(float(block.vth.mean()) - 1.0) < 0.02 and abs(float(block.vth.std()) - 0.2) < 0.02
    with pytest.raises(LoihiSnnError):
        HiLIF(1, 2, 1, dv_step=0)


def test_folded_form_equals_algorithm_1() -> None:
    block = make_block().double()
    x = torch.from_numpy(inputs(4, 0)).double()
    with torch.no_grad():
        folded = block(x)
        literal = algorithm_1(block, x)
    assert folded.sum() > 0
    assert (folded == literal).double().mean() > 0.999  # equal up to float rounding at threshold


def test_groups_partition_the_channels() -> None:
    block = make_block(dv_step=512)
    groups = block.groups()
    channels = sorted(c for _, chans in groups for c in chans)
    assert channels == list(range(6))
    assert all(dv % 512 == 0 and 0 < dv <= 4096 for dv, _ in groups)
    assert len(groups) == len({dv for dv, _ in groups}) < 6
    layers, perm = block.to_layers(0, IN_SHAPE, 1)
    assert [layer.kind for layer in layers] == ["population"] * len(groups) + ["concat"]
    assert perm.source == len(groups) + 1
    order = [c for _, chans in groups for c in chans]
    assert [int(np.flatnonzero(perm.weight[:, k, 0, 0])[0]) for k in range(6)] == order


def grouped_graph(block: HiLIF) -> Graph:
    """input -> HI-LIF groups -> concat -> a relay population in the original channel order
    (identity via the permutation conv; du = 4095, dv = 4096, vth = 0: re-emits every spike)."""
    layers, perm = block.to_layers(0, IN_SHAPE, 1)
    shape = layers[-1].shape
    relay = Layer("population", shape, Neuron(4096, 4096, 0), None, [perm])
    return validate(Graph([Layer("input", IN_SHAPE), *layers, relay], STEPS), "test")


def test_integer_realisation_matches_a_vector_decay_reference() -> None:
    from loihi_snn.backends.fast import FastRunner

    block = make_block(dv_step=64, seed=3)
    graph = grouped_graph(block)
    x = inputs(5, 1)
    traces = FastRunner(graph).run_file_order(x, x.shape[-1])
    relay = len(graph.layers) - 1
    got = traces[relay][0].reshape(5, STEPS, *graph.layers[relay].shape)
    weight = np.zeros((6, 2, 2, 2))
    dv, vth = np.zeros(6, np.int64), np.zeros(6, np.int64)
    for index, (d, chans) in enumerate(block.groups(), start=1):
        layer = graph.layers[index]
        weight[chans] = layer.inputs[0].weight
        dv[chans], vth[chans] = d, layer.neuron.vth
    ref = reference_integer(x, weight, 2, dv, vth)
    assert ref.sum() > 0
    np.testing.assert_array_equal(np.moveaxis(got, 1, -1), ref)
    # the integer twin follows the float training forward
    with torch.no_grad():
        float_spikes = block.double()(torch.from_numpy(x).double()).numpy()
    assert (float_spikes == ref).mean() > 0.95


@pytest.mark.lava
def test_lava_matches_the_fast_backend() -> None:
    from loihi_snn.evaluation import run_backend

    block = make_block(dv_step=512, seed=4)
    graph = grouped_graph(block)
    x = inputs(3, 2)
    fast = run_backend("fast", graph, x)
    lava = run_backend("lava", graph, x)
    assert sum(int(s.sum()) for s in fast.spikes) > 0
    for a, b in zip(fast.spikes, lava.spikes, strict=True):
        np.testing.assert_array_equal(a, b)
