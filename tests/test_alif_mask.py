"""BIASNN's ALIF attention mask: the integer rules against independent references, the Lava
process (fixed_pt) against the block's integer twin spike for spike (random tensors, edge cases,
the three threshold-state modes, LIF), the floating_pt model against the block's float forward,
timing through a Lava Conv hop, training gradients and the op count. The layer type's contract
(file round trip, twin = fast = Lava on random parameters) is tests/test_mechanisms.py's.

Timing in Lava (the ``lava_run`` harness, tests/conftest.py): the process answers in the same step,
so with the source wired straight to ``x_in`` the sinks equal the twin at lag 0 (offset 0). A Conv
hop delays X by one step: the process is then built with offset 1 and its output starts one step
later.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from loihi_snn.errors import LoihiSnnError
from loihi_snn.ir.graph import Layer
from loihi_snn.mechanisms.alif_mask import paper
from loihi_snn.mechanisms.alif_mask.block import AlifMask
from loihi_snn.mechanisms.alif_mask.layer import AlifMaskType, MaskLayer
from loihi_snn.mechanisms.alif_mask.rules import (
    ONE,
    MaskParams,
    channel_pool,
    ds_conv,
    minmax_invert,
    run_twin,
)

STEPS = 4


def run_process(
    lava_run,
    params: MaskParams,
    x: np.ndarray,
    mode: str,
    tag: str = "fixed_pt",
    hop: bool = False,
    eps: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Run the Lava process on x (N, C, H, W, T) through the shared harness (conftest): ring
    buffer -> [identity Conv] -> AlifMask -> ring buffers. Returns y, s (N, C, H, W, T) and the
    Vars u, a (C, H, W) after the run, plus the raw sink buffer ``y_raw`` (W, H, C, total)."""
    from loihi_snn.mechanisms.alif_mask.lava.process import AlifMask as MaskProcess

    def build(offset: int) -> MaskProcess:
        return MaskProcess(params=params, steps=STEPS, mode=mode, offset=offset, eps=eps)

    run = lava_run(build, x, STEPS, tag=tag, hop=hop, read=("u", "a"))
    return {
        "y": run.y,
        "s": run.s,
        "u": np.transpose(run.vars["u"], (2, 1, 0)),
        "a": np.transpose(run.vars["a"], (2, 1, 0)),
        "y_raw": run.y_raw,
    }


def make_block(
    channels: int, height: int, width: int, seed: int, **kwargs
) -> AlifMask:
    """A block with random weights and a random trained adaptation state a."""
    torch.manual_seed(seed)
    block = AlifMask(channels, height, width, reduction=4, **kwargs)
    if not block.lif:
        block.a.uniform_(0, 1)
    return block


def twin(block: AlifMask, x: np.ndarray) -> dict[str, np.ndarray]:
    """The block's eval forward (Y, spikes) and the twin's final states."""
    block.eval()
    y = block(torch.from_numpy(x).double()).numpy().astype(np.int64)
    _, _, u, a = run_twin(block.integer_params(), x, block.deploy_mode)
    return {"y": y, "s": block.last_spikes.numpy(), "u": u, "a": a}


def assert_same(lava: dict, ref: dict) -> None:
    for key in ("y", "s", "u", "a"):
        np.testing.assert_array_equal(lava[key], ref[key], err_msg=key)


# -- the integer rules against independent references ------------------------------------------


@pytest.mark.parametrize("channels", [16, 12])
def test_channel_pool_floor_mean(channels: int) -> None:
    x = np.random.default_rng(1).integers(-(2**31), 2**31, (channels, 5, 7))
    out = np.empty((2, 5, 7), np.int64)
    channel_pool(x, out)
    np.testing.assert_array_equal(out[0], np.floor_divide(x.sum(0), channels))
    np.testing.assert_array_equal(out[1], x.max(0))


def test_ds_conv_and_normalisation_match_references() -> None:
    rng = np.random.default_rng(2)
    p = rng.integers(-(2**20), 2**20, (3, 6, 9))
    dw = rng.integers(-127, 128, (3, 7, 7))
    pw = rng.integers(-127, 128, (5, 3))
    out = np.empty((5, 6, 9), np.int64)
    ds_conv(p, dw, pw, 9, out)
    # float64 convs on integers below 2^53 are exact
    d = F.conv2d(torch.from_numpy(p)[None].double(), torch.from_numpy(dw)[:, None].double(),
                 padding=3, groups=3)
    acc = torch.einsum("oc,nchw->nohw", torch.from_numpy(pw).double(), d)[0].numpy()
    ref = np.clip(np.floor(acc / 2**9).astype(np.int64), -(2**23), 2**23 - 1)
    np.testing.assert_array_equal(out, ref)
    assert np.abs(out).max() == 2**23 or np.abs(out).max() == 2**23 - 1  # saturation reached

    z = rng.integers(-500, 500, (4, 6, 9))
    z[2] = 17  # a channel with min == max
    drive = np.empty_like(z)
    minmax_invert(z, drive)
    lo, hi = z.min((1, 2), keepdims=True), z.max((1, 2), keepdims=True)
    np.testing.assert_array_equal(drive, ONE - ((z - lo) * ONE) // (hi - lo + 1))
    assert drive.min() >= 1 and drive.max() == ONE
    assert (drive[2] == ONE).all()


def reference_twin(params: MaskParams, x: np.ndarray, mode: str) -> np.ndarray:
    """The spikes of the fused fixed_pt form of spec §1.9 written out independently in numpy
    (exact float64 convs on integers, numpy floor division, rshift0 by sign and magnitude)."""

    def rshift0(v: np.ndarray) -> np.ndarray:
        return np.sign(v) * (np.abs(v) >> 12)

    def ds(p: np.ndarray, dw: np.ndarray, pw: np.ndarray, shift: int) -> np.ndarray:
        k = dw.shape[1]
        d = F.conv2d(torch.from_numpy(p)[None].double(), torch.from_numpy(dw)[:, None].double(),
                     padding=k // 2, groups=len(dw))
        acc = torch.einsum("oc,nchw->nohw", torch.from_numpy(pw).double(), d)[0].numpy()
        return np.clip(np.floor(acc / 2**shift), -(2**23), 2**23 - 1).astype(np.int64)

    n, c, h, w, steps = x.shape
    spikes = np.zeros_like(x)
    a = params.a_init.copy()
    for j in range(n):
        u = np.zeros((c, h, w), np.int64)
        if mode == "reset":
            a = params.a_init.copy()
        for t in range(steps):
            xt = x[j, ..., t]
            pooled = np.stack([np.floor_divide(xt.sum(0), c), xt.max(0)])
            z = ds(ds(pooled, params.dw1, params.pw1, params.shift1), params.dw2, params.pw2,
                   params.shift2)
            lo, hi = z.min((1, 2), keepdims=True), z.max((1, 2), keepdims=True)
            drive = ONE - ((z - lo) * ONE) // (hi - lo + 1)
            u = rshift0(u * params.lam) + drive
            s = (u >= params.theta0 + rshift0(params.gamma * a)).astype(np.int64)
            u = u * (1 - s)
            if mode != "frozen":
                a = rshift0(a * params.rho) + s * (ONE - params.rho)
            spikes[j, ..., t] = s
    return spikes


@pytest.mark.parametrize("mode", ["persist", "reset", "frozen"])
def test_twin_matches_an_independent_reference(mode: str) -> None:
    block = make_block(12, 5, 7, seed=19)
    params = block.integer_params()
    x = np.random.default_rng(20).integers(-3000, 3000, (3, 12, 5, 7, STEPS))
    y, s, _, _ = run_twin(params, x, mode)
    ref = reference_twin(params, x, mode)
    np.testing.assert_array_equal(s, ref)
    np.testing.assert_array_equal(y, x * (1 - ref))


# -- the Lava process against the block's integer twin ------------------------------------------


@pytest.mark.lava
@pytest.mark.parametrize(
    ("shape", "mode", "lif"),
    [
        ((16, 6, 10), "persist", False),
        ((16, 6, 10), "reset", False),
        ((12, 5, 7), "frozen", False),  # C not a power of 2: the mean by floor division
        ((16, 6, 10), "reset", True),  # LASNN: plain LIF (runs frozen, gamma = 0)
    ],
)
def test_lava_bit_exact_random(
    lava_run, shape: tuple[int, int, int], mode: str, lif: bool
) -> None:
    block = make_block(*shape, seed=3, mode=mode, lif=lif)
    x = np.random.default_rng(4).integers(-3000, 3000, (3, *shape, STEPS))
    x[x % 3 == 0] = 0  # sparse, as currents are
    ref = twin(block, x)
    lava = run_process(lava_run, block.integer_params(), x, block.deploy_mode)
    assert_same(lava, ref)
    assert 0 < ref["s"].mean() < 1


@pytest.mark.lava
def test_lava_bit_exact_edge_cases(lava_run) -> None:
    """min == max (channel 0 is constant: zero pointwise weights), values exactly at threshold,
    an all-firing and an all-silent step, and int32 extremes that saturate Z."""
    shape = (16, 6, 10)
    rng = np.random.default_rng(5)
    x = rng.integers(-3000, 3000, (3, *shape, STEPS))
    x[0, ..., 0] = 0  # every channel min == max: drive 4096 everywhere, all fire
    x[2] = rng.integers(-(2**31) + 1, 2**31, x[2].shape)
    block = make_block(*shape, seed=6, gamma=2.0)
    with torch.no_grad():
        block.pw2[0] = 0
    block.a.zero_()
    params = block.integer_params()

    def first_stages(xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DS1's output and the drive of one step."""
        p = np.empty((2, *shape[1:]), np.int64)
        z1 = np.empty((params.pw1.shape[0], *shape[1:]), np.int64)
        z, drive = np.empty(shape, np.int64), np.empty(shape, np.int64)
        channel_pool(np.ascontiguousarray(xt), p)
        ds_conv(p, params.dw1, params.pw1, params.shift1, z1)
        ds_conv(z1, params.dw2, params.pw2, params.shift2, z)
        minmax_invert(z, drive)
        return z1, drive

    assert np.abs(first_stages(x[2, ..., 0])[0]).max() == 2**23  # saturated
    # the drive of sample 1 at t = 0 (u starts at 0, so u = drive); put theta0 on one of its values
    drive = first_stages(x[1, ..., 0])[1]
    theta0 = int(np.sort(drive[1:].ravel())[drive[1:].size // 2])
    edge = AlifMask(*shape, reduction=4, gamma=2.0, theta0=theta0 / ONE)
    edge.load_state_dict(block.state_dict())
    assert edge.integer_params().theta0 == theta0

    ref = twin(edge, x)
    s = ref["s"]
    assert (drive[0] == ONE).all()
    at_threshold = drive == theta0
    assert at_threshold.sum() > 0 and (s[1, ..., 0][at_threshold] == 1).all()  # '>=' fires
    assert (s[1, ..., 0][drive == theta0 - 1] == 0).all()
    assert (s[0, ..., 0] == 1).all() and (ref["y"][0, ..., 0] == 0).all()  # all-firing step
    assert (s[0, ..., 1] == 0).all()  # all-silent step (every threshold rose above 4096)
    np.testing.assert_array_equal(ref["y"][0, ..., 1], x[0, ..., 1])

    lava = run_process(lava_run, edge.integer_params(), x, "reset")
    assert_same(lava, ref)


@pytest.mark.lava
def test_timing_through_a_conv_hop(lava_run) -> None:
    """A Lava Conv before the process delays X by one step: with offset 1 the process idles at
    step 0 (zeros out, state untouched, which matters in persist mode) and then matches the twin
    one step later."""
    shape = (16, 6, 10)
    block = make_block(*shape, seed=7, mode="persist")
    x = np.random.default_rng(8).integers(-3000, 3000, (2, *shape, STEPS))
    ref = twin(block, x)
    lava = run_process(lava_run, block.integer_params(), x, "persist", hop=True)
    assert (lava["y_raw"][..., 0] == 0).all()
    assert_same(lava, ref)


# -- threshold-state modes, LIF ablation ---------------------------------------------------------


def test_threshold_state_modes() -> None:
    shape = (16, 6, 10)
    block = make_block(*shape, seed=9)
    params = block.integer_params()
    x = np.random.default_rng(10).integers(-3000, 3000, (3, *shape, STEPS))
    alone = [run_twin(params, x[j : j + 1], "reset") for j in range(3)]
    runs = {mode: run_twin(params, x, mode) for mode in ("persist", "reset", "frozen")}

    # reset: every sample starts from the trained state, as if run alone
    for j in range(3):
        np.testing.assert_array_equal(runs["reset"][1][j], alone[j][1][0])
    # persist: sample 1 continues from the state sample 0 left
    after0 = run_twin(params, x[:1], "persist")[3]
    cont = MaskParams(**{**params.__dict__, "a_init": after0})
    np.testing.assert_array_equal(runs["persist"][1][1], run_twin(cont, x[1:2], "reset")[1][0])
    assert not np.array_equal(runs["persist"][1], runs["reset"][1])
    # frozen: a (and so theta) never moves, samples are independent
    np.testing.assert_array_equal(runs["frozen"][3], params.a_init)
    frozen0 = run_twin(params, x[:1], "frozen")[1][0]
    np.testing.assert_array_equal(runs["frozen"][1][0], frozen0)
    assert not np.array_equal(runs["frozen"][1], runs["reset"][1])


@pytest.mark.lava
def test_lif_flag_swaps_the_neuron() -> None:
    shape = (16, 6, 10)
    alif = make_block(*shape, seed=11)
    alif.a.zero_()
    lif = AlifMask(*shape, reduction=4, lif=True)
    lif.load_state_dict(alif.state_dict())
    x = np.random.default_rng(12).integers(-3000, 3000, (2, *shape, STEPS))
    assert lif.deploy_mode == "frozen" and lif.integer_params().gamma == 0
    assert not np.array_equal(twin(alif, x)["s"], twin(lif, x)["s"])
    # training: only the ALIF adapts its threshold state
    xt = torch.from_numpy(x).float()
    for block in (alif, lif):
        block.train()
        block(xt)
    assert alif.a.abs().sum() > 0 and lif.a.abs().sum() == 0
    assert not torch.equal(alif.last_spikes, lif.last_spikes)


# -- float forward, floating_pt model, training --------------------------------------------------


@pytest.mark.lava
def test_floating_pt_matches_the_float_forward(lava_run) -> None:
    """Lava's floating_pt model (Q12 units, exact power-of-2 scaling) against the block's float
    training forward at B = 1 in float64: same spikes, same Y."""
    shape = (16, 6, 10)
    block = make_block(*shape, seed=13).double()
    block.a.zero_()
    x = np.random.default_rng(14).integers(-3000, 3000, (1, *shape, STEPS))
    params = block.integer_params()  # before the forward moves a
    block.train()
    with torch.no_grad():
        y = block(torch.from_numpy(x).double()).numpy()
    lava = run_process(lava_run, params, x, "persist", tag="floating_pt", eps=block.eps)
    np.testing.assert_array_equal(lava["s"], block.last_spikes.numpy())
    np.testing.assert_array_equal(lava["y"], y)
    np.testing.assert_allclose(lava["a"] / ONE, block.a.numpy(), rtol=1e-12)


@pytest.mark.lava
def test_integer_twin_follows_the_float_forward() -> None:
    """Quantisation-aware: the twin's mask agrees with the float forward on the same input up to
    the roundings (module doc)."""
    shape = (16, 12, 12)
    block = make_block(*shape, seed=15)
    block.a.zero_()
    x = np.random.default_rng(16).integers(-3000, 3000, (1, *shape, STEPS))
    block.train()
    with torch.no_grad():
        block(torch.from_numpy(x).float())
    float_spikes = block.last_spikes.numpy()
    block.a.zero_()
    assert (twin(block, x)["s"] == float_spikes).mean() > 0.98


@pytest.mark.lava
def test_training_forward_backward() -> None:
    shape = (16, 6, 10)
    block = make_block(*shape, seed=17)
    block.reset_state()
    block.train()
    x = torch.randn(4, *shape, STEPS, requires_grad=True)
    target = torch.randn(4, *shape, STEPS)
    y = block(x)
    (y * target).sum().backward()
    s = block.last_spikes
    assert 0 < s.mean() < 1
    assert torch.isfinite(x.grad).all()
    # STE: eliminated values still get their gradient (at least the identity part)
    assert (x.grad[s.bool()] != 0).any()
    for name in ("dw1", "pw1", "dw2", "pw2"):
        grad = getattr(block, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    # paper: a persists across calls within an epoch, reset_state clears it
    before = block.a.clone()
    with torch.no_grad():
        block(x)
    assert before.abs().sum() > 0 and not torch.equal(before, block.a)
    block.reset_state()
    assert block.a.abs().sum() == 0


def test_bad_input_is_refused() -> None:
    with pytest.raises(LoihiSnnError, match="mode"):
        AlifMask(16, 4, 4, mode="sometimes")
    block = make_block(16, 4, 4, seed=18)
    params = block.integer_params()
    with pytest.raises(LoihiSnnError, match="pw2"):
        MaskParams(**{**params.__dict__, "pw2": params.pw2 * 0 + 200})
    with pytest.raises(LoihiSnnError, match="a_init"):
        MaskParams(**{**params.__dict__, "a_init": params.a_init + ONE + 1})
    block.eval()
    with pytest.raises(LoihiSnnError, match="int32-valued"):
        block(torch.full((1, 16, 4, 4, 2), 0.5))
    with pytest.raises(LoihiSnnError, match="not"):
        block(torch.zeros((1, 8, 4, 4, 2)))


def test_ops_follow_the_paper_op_model() -> None:
    """The three attention layers of the paper's CIFAR-10 model (r = 16), one step: the ALIF
    neurons cost what the paper counts (4 N + 3 mults, 6 N + 560 adds), the DS convs the 1.22 M
    MACs of the 'same'-size branch, plus the pooling, normalisation and gate; mode frozen adapts
    nothing and is priced as the LIF (the paper's LASNN counts)."""
    shapes = paper.ms_resnet18_attention_shapes((3, 32, 32))
    kind = AlifMaskType()

    def layer(shape: tuple[int, int, int], mode: str) -> Layer:
        c, hidden = shape[0], shape[0] // 16
        params = MaskParams(
            np.zeros((2, 5, 5)), np.zeros((hidden, 2)), 0, np.zeros((hidden, 7, 7)),
            np.zeros((c, hidden)), 0, 1024, 2485, 4096, 4096, np.zeros(shape),
        )
        return Layer("alif_mask", shape, params=MaskLayer(params, mode))

    ops = {mode: [kind.ops(layer(s, mode), 1) for s in shapes] for mode in ("reset", "frozen")}
    neurons = sum(math.prod(s) for s in shapes)
    assert neurons == 114_688
    macs = 1_219_200  # DS1 + DS2 of the three modules at stride 1
    pooling = sum(2 * (c - 1) * h * w for c, h, w in shapes)  # sums and max comparisons
    norm = 4 * neurons  # min/max comparisons and M - m + 1 per channel, 2 per value
    extra = (macs + 2 * neurons, macs + pooling + norm)  # + a division and the gate per value
    for mode, neuron in (("reset", "alif"), ("frozen", "lif")):
        paper_mults, paper_adds = paper.attention_ops(shapes, neuron)
        assert sum(o["mults"] for o in ops[mode]) == paper_mults + extra[0], mode
        assert sum(o["adds"] for o in ops[mode]) == paper_adds + extra[1], mode
        assert [o["neuron_updates"] for o in ops[mode]] == [math.prod(s) for s in shapes]
    assert paper.attention_ops(shapes, "alif") == (458_755, 688_688)
    assert "DS convs (522,240 MACs" in ops["reset"][0]["note"]
    assert "ALIF neurons" in ops["reset"][0]["note"] and "LIF neurons" in ops["frozen"][0]["note"]
    four = kind.ops(layer(shapes[0], "reset"), 4)
    assert (four["mults"], four["adds"]) == (4 * ops["reset"][0]["mults"],
                                             4 * ops["reset"][0]["adds"])
