"""SPARTA's token selection: the integer rules against independent references, the Lava process
(fixed_pt) against the block's integer twin on whole tensors (random windows and edge cases:
silent tokens, ties, K at its bounds, a token spiking on every step), timing through a Conv hop,
the floating_pt model, the layer type's refusals and op count, and the training forward's
gradients. The layer type's contract (file round trip, twin = fast = Lava on random parameters) is
tests/test_mechanisms.py's.

Timing in Lava (the ``lava_run`` harness, tests/conftest.py): the process selects at the last step
of each window and replays it during the next one, so sample j's output appears at global steps
offset + (j + 1) T + t.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from loihi_snn.errors import LoihiSnnError
from loihi_snn.ir.graph import Layer
from loihi_snn.mechanisms.token_select.block import TokenSelect
from loihi_snn.mechanisms.token_select.layer import TokenSelectType
from loihi_snn.mechanisms.token_select.rules import (
    ONE_P,
    SelectParams,
    fixed_k,
    float_select,
    make_luts,
    run_twin,
    sigmoid_lut,
)

STEPS = 6
SHAPE = (4, 3, 5)  # C, H, W: 15 tokens


def make_params(
    seed: int = 0, k_fixed: int = 0, k_min: int = 2, b2: int | None = None, **kw
) -> SelectParams:
    rng = np.random.default_rng(seed)
    luts = make_luts(kw.get("alpha", 0.3), kw.get("beta", 0.4), kw.get("gamma", 2.0), STEPS)
    w1 = rng.integers(-400, 400, (8, 3))
    b1 = rng.integers(-20000, 20000, 8)
    w2 = rng.integers(-300, 300, 8)
    b2 = int(rng.integers(-30000, 30000)) if b2 is None else b2
    return SelectParams(
        SHAPE, STEPS, *luts, k_fixed, k_min, w1, b1, w2, b2, sigmoid_lut(),
        kw.get("gate_on", 24), kw.get("gate_off", 3), 0.3, 0.4, 2.0,
    )


def random_x(n: int, seed: int, p: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spikes = rng.random((n, *SHAPE, STEPS)) < p
    return (spikes * rng.integers(1, 5, spikes.shape)).astype(np.int64)


def edge_x() -> np.ndarray:
    """Samples: all silent; all tokens identical (ties everywhere); one token spiking on every
    step in every channel and the rest silent; negative and huge X (only X > 0 is a spike);
    every (c, j) spiking on every step (all tied at the top)."""
    c, h, w = SHAPE
    x = np.zeros((5, c, h, w, STEPS), np.int64)
    pattern = (np.arange(STEPS) % 2 == 0).astype(np.int64)
    x[1] = pattern
    x[2, :, 1, 2, :] = 1
    rng = np.random.default_rng(5)
    x[3] = rng.integers(-(2**31), 2**31 - 1, x[3].shape)
    x[4] = 1
    return x


def run_process(
    lava_run,
    params: SelectParams,
    x: np.ndarray,
    tag: str = "fixed_pt",
    hop: bool = False,
    bias: np.ndarray | None = None,
):
    """RingBuffer -> [identity Conv] -> TokenSelect -> sinks through the shared harness
    (conftest); returns y, rec (n, C, H, W, T) in the replay windows, the raw output before the
    first replay (``early``) and the process's k and mask after the run."""
    from loihi_snn.mechanisms.token_select.lava.process import TokenSelect as Process

    def build(offset: int) -> Process:
        return Process(params=params, offset=offset, bias=bias)

    run = lava_run(build, x, STEPS, latency=STEPS, tag=tag, hop=hop, read=("k", "mask"))
    return {
        "y": run.y,
        "rec": run.s,
        "early": run.y_raw[..., : int(hop) + STEPS],
        "k": int(run.vars["k"][0]),
        "mask": run.vars["mask"],
    }


def assert_same(lava: dict, params: SelectParams, x: np.ndarray) -> None:
    ref = run_twin(params, x)
    np.testing.assert_array_equal(lava["y"], ref.y, err_msg="y")
    np.testing.assert_array_equal(lava["rec"], ref.rec, err_msg="rec")
    assert not lava["early"].any()
    # the run ends with one silent padding window, which the process also selects
    pad = run_twin(params, np.zeros_like(x[:1]))
    assert lava["k"] == pad.k[0]
    np.testing.assert_array_equal(lava["mask"], pad.mask[0].reshape(-1))


# -- rules against independent references --------------------------------------------------


def reference(params: SelectParams, x: np.ndarray) -> dict:
    """Plain-Python version of the module doc's rules for one sample x (C, H, W, T)."""
    c, h, w, steps = x.shape
    n_tok = h * w
    s = (x.reshape(c, n_tok, steps) > 0).astype(int)
    prio, firsts, counts, gaps_sum, spans_sum = [], [], [], 0, 0
    for j in range(n_tok):
        total = 0
        for ch in range(c):
            times = [t for t in range(steps) if s[ch, j, t]]
            f = times[0] if times else steps
            n = len(times)
            span = times[-1] - times[0] if times else 0
            firsts.append(f)
            counts.append(n)
            if n >= 2:
                spans_sum += span
                gaps_sum += n - 1
            wt = params.lut_first[f] * params.lut_isi[span, n] // ONE_P
            total += wt * params.lut_rate[n] // ONE_P
        prio.append(total // c)
    m = len(firsts)
    if params.k_fixed:
        k = params.k_fixed
    else:
        s1, s2 = sum(firsts), sum(f * f for f in firsts)
        feats = [
            sum(counts) * 256 // (m * steps),
            math.isqrt((m * s2 - s1 * s1) * 65536 // (m * m)),
            spans_sum * 256 // gaps_sum if gaps_sum else 0,
        ]
        hidden = [
            max((params.b1[i] + sum(params.w1[i, q] * feats[q] for q in range(3))) >> 8, 0)
            for i in range(len(params.b1))
        ]
        z = (params.b2 + sum(params.w2[i] * hidden[i] for i in range(len(hidden)))) >> 8
        z = min(max(z, -2048), 2048)
        rho = params.lut_sig[z + 2048]
        k = min(max(((ONE_P - rho) * n_tok + ONE_P // 2) >> 15, params.k_min), n_tok)
    order = sorted(range(n_tok), key=lambda j: (-prio[j], j))
    mask = np.zeros(n_tok, int)
    mask[order[:k]] = 1
    gate = np.where(mask == 1, params.gate_on, params.gate_off)
    y = s * gate[None, :, None]
    return {"prio": np.array(prio), "k": k, "mask": mask, "y": y.reshape(c, h, w, steps)}


@pytest.mark.parametrize("k_fixed", [0, 7])
def test_twin_matches_an_independent_reference(k_fixed: int) -> None:
    params = make_params(1, k_fixed=k_fixed)
    x = np.concatenate([random_x(6, 2), random_x(3, 3, 0.9), edge_x()])
    out = run_twin(params, x)
    ks = set()
    for i in range(len(x)):
        ref = reference(params, x[i])
        np.testing.assert_array_equal(out.prio[i].reshape(-1), ref["prio"])
        assert out.k[i] == ref["k"]
        ks.add(ref["k"])
        np.testing.assert_array_equal(out.mask[i].reshape(-1), ref["mask"])
        np.testing.assert_array_equal(out.y[i], ref["y"])
    assert len(ks) > 1 or k_fixed  # the predictor does vary K


def test_luts_and_k_rules() -> None:
    first, isi, rate = make_luts(0.5, 0.25, 3.0, 4)
    assert first[0] == ONE_P and first[4] == 0 and first[1] == round(ONE_P * math.exp(-0.5))
    assert isi[0, 2] == 0  # 2 spikes need a span >= 1: an impossible entry, 0
    assert isi[3, 2] == round(ONE_P * math.exp(-0.25 * 3)) and isi[3, 4] == round(
        ONE_P * math.exp(-0.25)
    )
    assert not isi[:, :2].any()
    assert rate[0] == ONE_P // 2 and rate[4] == round(ONE_P / (1 + math.exp(-3.0)))
    assert [fixed_k(s, 49) for s in (0.25, 0.5, 0.75)] == [37, 25, 12]
    lut = sigmoid_lut()
    assert lut[2048] == ONE_P // 2 and lut[0] == round(ONE_P / (1 + math.exp(8)))


def test_ties_go_to_the_lower_index() -> None:
    params = make_params(0, k_fixed=4)
    x = edge_x()[1:2]  # every token identical
    out = run_twin(params, x)
    assert out.mask[0].reshape(-1).tolist() == [1] * 4 + [0] * 11


def test_k_at_its_bounds() -> None:
    n = SHAPE[1] * SHAPE[2]
    zero = np.zeros((8, 3), np.int64)
    base = make_params(0)
    for b2, k_min, want in ((1 << 30, 3, 3), (-(1 << 30), 3, n), (1 << 30, n, n)):
        p = make_params(0, k_min=k_min, b2=b2)
        p.w1, p.b1 = zero, np.zeros(8, np.int64)
        assert set(run_twin(p, random_x(4, 9)).k) == {want}
    assert base.k_min == 2


# -- Lava against the twin ------------------------------------------------------------------


@pytest.mark.lava
@pytest.mark.parametrize("k_fixed", [0, 6])
def test_lava_bit_exact_random_and_edge_cases(lava_run, k_fixed: int) -> None:
    params = make_params(3, k_fixed=k_fixed)
    x = np.concatenate([random_x(5, 4), edge_x(), random_x(2, 6, 0.95)])
    assert_same(run_process(lava_run, params, x), params, x)


@pytest.mark.lava
def test_lava_bit_exact_k_at_bounds_and_through_a_conv_hop(lava_run) -> None:
    n = SHAPE[1] * SHAPE[2]
    x = np.concatenate([random_x(3, 11), edge_x()[[0, 2, 4]]])
    for params in (make_params(4, k_min=n, b2=1 << 30), make_params(4, k_fixed=1)):
        assert_same(run_process(lava_run, params, x, hop=True), params, x)


@pytest.mark.lava
def test_lava_adds_the_layer_bias_to_x(lava_run) -> None:
    params = make_params(7, k_fixed=0)
    bias = np.random.default_rng(3).integers(-2, 2, SHAPE)
    x = random_x(3, 13)
    lava = run_process(lava_run, params, x, bias=bias)
    xb = x + bias[None, ..., None]
    ref = run_twin(params, xb)
    np.testing.assert_array_equal(lava["y"], ref.y)
    np.testing.assert_array_equal(lava["rec"], ref.rec)


@pytest.mark.lava
def test_floating_pt_matches_the_float_rules(lava_run) -> None:
    params = make_params(5)
    x = random_x(3, 12)
    out = run_process(lava_run, params, x, tag="floating_pt")
    for i in range(len(x)):
        s = (x[i].reshape(SHAPE[0], -1, STEPS) > 0).astype(np.int64)
        gate, mask, _ = float_select(s, params)
        y = (s * gate[None, :, None]).reshape(*SHAPE, STEPS)
        np.testing.assert_array_equal(out["y"][i], y)
        np.testing.assert_array_equal(out["rec"][i], (s * mask[None, :, None]).reshape(y.shape))
    twin = run_twin(params, x)  # LUT rounding barely moves the selection
    assert (out["rec"] == twin.rec).mean() > 0.9


# -- layer type and block ---------------------------------------------------------------------


def test_layer_type_refusals_and_timing() -> None:
    params = make_params(6, k_fixed=0)
    kind = TokenSelectType()
    layer = Layer("token_select", SHAPE, params=params)
    kind.check(layer, "test")
    assert kind.latency(layer, STEPS) == STEPS and kind.graded
    bad = Layer("token_select", (4, 3, 4), params=params)
    with pytest.raises(LoihiSnnError, match="shape"):
        kind.check(bad, "test")
    with pytest.raises(LoihiSnnError, match="k_fixed"):
        make_params(0, k_fixed=99)


def test_ops_count_the_rules_per_window() -> None:
    """Fixed K: the input test, statistics, priority, top-K and replay; dynamic K adds the
    features and the predictor (8 hidden units) and nothing per step."""
    c, h, w = SHAPE
    pairs, tokens = c * h * w, h * w
    kind = TokenSelectType()
    fixed = kind.ops(Layer("token_select", SHAPE, params=make_params(0, k_fixed=4)), STEPS)
    sort = tokens * math.ceil(math.log2(tokens))
    assert fixed["mults"] == 2 * pairs + tokens + pairs * STEPS
    assert fixed["adds"] == 2 * pairs * STEPS + pairs + (c - 1) * tokens + tokens + sort
    assert fixed["neuron_updates"] == 0 and "top-K" in fixed["note"]
    dynamic = kind.ops(Layer("token_select", SHAPE, params=make_params(0)), STEPS)
    assert dynamic["mults"] - fixed["mults"] == pairs + 6 + 4 * 8 + 1
    assert dynamic["adds"] - fixed["adds"] == 7 * pairs + 2 + 5 * 8 + 6
    biased = Layer("token_select", SHAPE, bias=np.zeros(pairs), params=make_params(0))
    assert kind.ops(biased, STEPS)["adds"] - dynamic["adds"] == pairs * STEPS


@pytest.mark.lava
@pytest.mark.parametrize("mode", ["dynamic", "fixed"])
def test_block_trains_and_its_eval_is_the_twin(mode: str) -> None:
    torch.manual_seed(0)
    block = TokenSelect(*SHAPE, STEPS, mode=mode, sparsity=0.5, sparsity_weight=0.1)
    x = torch.from_numpy((random_x(8, 2) > 0).astype(np.float32)).requires_grad_()
    y = block(x)
    loss = (y * torch.randn_like(y)).sum() + block.aux_loss()
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name in ("alpha", "beta", "gamma", "gate_on"):
        assert getattr(block, name).grad is not None, name
    assert block.gate_off.grad is None  # beta' is fixed unless learn_gate_off
    if mode == "dynamic":
        assert block.fc1.weight.grad is not None and block.fc1.weight.grad.abs().sum() > 0
    block.eval()
    with torch.no_grad():
        y_eval = block(x.detach())
    ref = run_twin(block.integer_params(), x.detach().numpy().astype(np.int64))
    np.testing.assert_array_equal((y_eval * 16).numpy().astype(np.int64), ref.y)
    # the training forward selects the same tokens as the twin (LUTs vs exp: nearly always)
    block.train()
    with torch.no_grad():
        y_train = block(x.detach())
    assert ((y_train > 0) == (y_eval > 0)).float().mean() > 0.9
