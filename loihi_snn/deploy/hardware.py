"""The board run: a network on Loihi 2 through Lava's ``Loihi2HwCfg``, which needs Intel's closed
lava-loihi package (its NeuroCore compiler, runtime and the ``loihi2_profiler``). Without it
nothing here starts a Lava process: :func:`board_available` says so and the command exits with
:data:`EXIT_NO_BOARD` after the dry-run report."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph

EXIT_NO_BOARD = 3  # the dry run succeeded, the board run cannot start: lava-loihi is missing
PROFILE_STEPS = 10000  # steps of the profiling run, as lava-dl's PilotNet benchmark


def board_available() -> bool:
    """True when lava-loihi is importable (Lava's own test: ``lava.utils.loihi.is_installed``
    looks for ``lava.utils.loihi2_profiler``), without importing Lava."""
    try:
        return importlib.util.find_spec("lava.utils.loihi2_profiler") is not None
    except ModuleNotFoundError:
        return False


@dataclass
class BoardRun:
    """What the board gave: class predictions and, for netx files, the profiler's time per step
    (s) and power (W, static per chip and dynamic); ``note`` says what was not measured."""

    predictions: np.ndarray
    seconds_per_step: float | None = None
    static_power_w: float | None = None
    dynamic_power_w: float | None = None
    note: str = ""


def _profile(graph: Graph, first: np.ndarray, steps: int, chips: int) -> tuple[float, float, float]:
    """lava-dl's benchmark recipe: the first sample's input bias written once and run for
    PROFILE_STEPS steps with the power and execution-time probes; static power per chip."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg
    from lava.utils import loihi2_profiler

    net = netx.hdf5.Network(net_config=str(graph.path), reset_interval=steps)
    bias = net.in_layer.neuron.bias_mant
    bias.init = (np.swapaxes(first, 0, -1) if first.ndim == 3 else first).reshape(bias.shape)
    power = loihi2_profiler.Loihi2Power(num_steps=PROFILE_STEPS)
    runtime = loihi2_profiler.Loihi2ExecutionTime()
    try:
        net.run(
            condition=RunSteps(num_steps=PROFILE_STEPS),
            run_cfg=Loihi2HwCfg(callback_fxs=[power, runtime]),
        )
    finally:
        net.stop()
    static = power.static_total_power / chips
    total = float(np.mean(power.total_power)) - (chips - 1) * static
    return runtime.avg_time_per_step * 1e-6, static, total - static


def run_on_board(graph: Graph, inputs: np.ndarray, steps: int, chips: int) -> BoardRun:
    """Run ``inputs`` on the board (the toolkit's Lava entry with ``hardware=True``) and, for a
    netx file with input neurons, profile time and power as lava-dl's benchmark does."""
    from ..evaluation import run_backend

    result = run_backend("lava", graph, inputs, steps, record_all=False, hardware=True)
    run = BoardRun(result.predictions)
    if graph.origin != "netx" or not graph.input_neuron:
        run.note = (
            "time and power not probed: the profiler run follows lava-dl's benchmark, which "
            "drives a netx file's input neurons"
        )
        return run
    run.seconds_per_step, run.static_power_w, run.dynamic_power_w = _profile(
        graph, np.asarray(inputs[0]), steps, chips
    )
    return run
