"""Shared fixtures: a briefly trained digits run, lava-dl's shipped reference networks and the Lava
harness of the mechanism tests (``lava_run``)."""

from __future__ import annotations

import sysconfig
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from loihi_snn.export import export
from loihi_snn.ir.graph import LavaNode
from loihi_snn.recipe import load_recipe
from loihi_snn.train import train

REPO = Path(__file__).resolve().parent.parent
# lava-dl's wheel installs its own test assets as a top-level `tests` package in site-packages.
NETX_ASSETS = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"


@pytest.fixture(scope="session")
def netx_assets() -> Path:
    """lava-dl's shipped networks and golden traces (mnist.net, gts/pilotnet_lif/...)."""
    assert NETX_ASSETS.is_dir(), f"lava-dl's test assets are missing from {NETX_ASSETS}"
    return NETX_ASSETS


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def _trained(tmp_path_factory, recipe_name: str, epochs: int) -> Path:
    """Train ``train/<recipe_name>.toml`` for ``epochs`` and export it to <run>/model.net."""
    run = tmp_path_factory.mktemp(recipe_name) / "run"
    recipe = load_recipe(REPO / "train" / f"{recipe_name}.toml")
    recipe.train.epochs = epochs
    train(recipe, run, progress=False)
    export(run, run / "model.net")
    return run


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """digits_mlp trained for 3 epochs, exported to <run>/model.net."""
    return _trained(tmp_path_factory, "digits_mlp", 3)


@pytest.fixture(scope="session")
def resnet_run(tmp_path_factory) -> Path:
    """digits_resnet (stem, two residual blocks, pooling, dense) trained for 2 epochs, exported
    to <run>/model.net (a graph file, format 2)."""
    return _trained(tmp_path_factory, "digits_resnet", 2)


@pytest.fixture(scope="session")
def biasnn_run(tmp_path_factory) -> Path:
    """digits_biasnn (residual blocks with BIASNN's ALIF mask, whose gated stream is a later
    block's membrane shortcut) trained for 1 epoch, exported to <run>/model.net."""
    return _trained(tmp_path_factory, "digits_biasnn", 1)


# -- the Lava harness of the mechanism tests ---------------------------------------------------
# Timing in Lava: a RingBuffer source sends its data[k] at global step k (0-based), a custom
# process answers X of step k at step k + latency, and a sink stores step k at index k. An
# identity Conv hop before the process delays X by one step: the process is built with offset 1.


def to_stream(x: np.ndarray, pad: int = 0) -> np.ndarray:
    """(n, C, H, W, T) -> a RingBuffer's (W, H, C, n T + pad), samples back to back."""
    n, c, h, w, t = x.shape
    data = np.moveaxis(np.transpose(x, (0, 3, 2, 1, 4)), 0, -2).reshape(w, h, c, n * t)
    return np.concatenate([data, np.zeros((w, h, c, pad), data.dtype)], -1)


def from_stream(buf: np.ndarray, n: int, steps: int, start: int) -> np.ndarray:
    """A sink's (W, H, C, total) from global step ``start`` on -> (n, C, H, W, T)."""
    w, h, c, _ = buf.shape
    cut = buf[..., start : start + n * steps].reshape(w, h, c, n, steps)
    return np.transpose(cut, (3, 2, 1, 0, 4))


@dataclass
class LavaRun:
    """What :func:`run_lava_node` returns: the output ``y`` and recorded spikes ``s``
    (n, C, H, W, T) in each sample's output window, the raw sink buffers (W, H, C, total) and the
    Vars asked for (Lava's shapes) after the run."""

    y: np.ndarray
    s: np.ndarray
    y_raw: np.ndarray
    s_raw: np.ndarray
    vars: dict[str, np.ndarray] = field(default_factory=dict)


def run_lava_node(
    build: Callable[[int], object],
    x: np.ndarray,
    steps: int,
    *,
    latency: int = 0,
    tag: str = "fixed_pt",
    hop: bool = False,
    read: tuple[str, ...] = (),
) -> LavaRun:
    """Run a custom layer's Lava process on X (n, C, H, W, T): RingBuffer -> [identity Conv] ->
    ``build(offset)`` (a LavaNode, or a process with ports x_in, y_out, s_out) -> two sinks, for
    n T + offset + latency steps with Loihi2SimCfg(select_tag=tag); ``read``: Vars of the (first)
    process to return."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io
    from lava.proc.conv.process import Conv

    n, c, h, w, _ = x.shape
    offset = int(hop)
    start = offset + latency
    total = n * steps + start
    dtype = np.int32 if tag == "fixed_pt" else np.float64
    source = io.source.RingBuffer(data=to_stream(x, start).astype(dtype))
    node = build(offset)
    if not isinstance(node, LavaNode):
        node = LavaNode(node.x_in, node.y_out, node.s_out, [node])
    if hop:
        conv = Conv(
            weight=np.eye(c, dtype=np.int32).reshape(c, 1, 1, c),
            input_shape=(w, h, c),
            num_message_bits=24,
        )
        source.s_out.connect(conv.s_in)
        conv.a_out.connect(node.x_in)
    else:
        source.s_out.connect(node.x_in)
    sinks = [io.sink.RingBuffer(shape=(w, h, c), buffer=total) for _ in range(2)]
    node.out.connect(sinks[0].a_in)
    node.recorded.connect(sinks[1].a_in)
    proc = node.processes[0]
    try:
        proc.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag=tag))
        y_raw, s_raw = (sink.data.get() for sink in sinks)
        values = {name: getattr(proc, name).get() for name in read}
    finally:
        proc.stop()
    return LavaRun(
        from_stream(y_raw, n, steps, start), from_stream(s_raw, n, steps, start), y_raw, s_raw,
        values,
    )


@pytest.fixture(scope="session")
def lava_run() -> Callable[..., LavaRun]:
    """The Lava harness of the mechanism tests (:func:`run_lava_node`)."""
    return run_lava_node
