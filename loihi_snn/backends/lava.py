"""Running a NetX file in Lava: the CPU simulator (``Loihi2SimCfg``, ``fixed_pt``) or a Loihi 2
board (``Loihi2HwCfg``, needs Intel's lava-loihi).

All samples run in one compiled network. Lava's Dense/Conv add one step per hop, so netx's
``reset_interval`` resets layer k at an offset of k: layer k sees sample j in its own window of T
steps starting at global step j*T + k + lag, where lag is 1 when a ring buffer feeds the first
synapse and 0 when the input layer's neurons are driven through their bias. This module hides that
pipelining, netx's unwired Input port (it drives the input neurons' bias instead) and the output
layer that never spikes (it reads the voltage instead).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import LoihiSnnError
from ..ir.netfile import NetFile, prepare_run
from .result import SimResult


def loihi2_available() -> bool:
    """True when lava-loihi (Intel's closed NeuroCore compiler and runtime) is importable."""
    from lava.utils import loihi

    return bool(loihi.is_installed())


def _run_config(hardware: bool):
    """The run config; the streaming recorders' models carry no tag, so they are named."""
    from lava.proc.io.extractor import (
        Extractor,
        PyLoihiExtractorModel,
        PyLoihiVarWireModel,
        VarWire,
    )

    recorders = {Extractor: PyLoihiExtractorModel, VarWire: PyLoihiVarWireModel}
    if hardware:
        if not loihi2_available():
            raise LoihiSnnError(
                "Loihi 2 needs Intel's lava-loihi package (INRC members only), which is not "
                "installed here: drop --hardware to run Lava's CPU simulator (fixed_pt)"
            )
        from lava.magma.core.run_configs import Loihi2HwCfg

        return Loihi2HwCfg(exception_proc_model_map=recorders)
    from lava.magma.core.run_configs import Loihi2SimCfg

    return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=recorders)


def _to_lava(x: np.ndarray) -> np.ndarray:
    """(n, C, H, W, ...) -> (n, W, H, C, ...): slayer order to Lava's (x, y, z)."""
    return np.swapaxes(x, 1, 3) if x.ndim >= 4 else x


def _from_lava(buf: np.ndarray) -> np.ndarray:
    """A sink buffer (*lava_shape, steps) -> (neurons in C, H, W order, steps)."""
    if buf.ndim == 4:
        buf = np.transpose(buf, (2, 1, 0, 3))
    return buf.reshape(-1, buf.shape[-1])


def pad_steps(data: np.ndarray, delay: int, total: int) -> np.ndarray:
    """A RingBuffer's data (*shape, steps) delayed by ``delay`` steps and padded with silence to
    ``total`` steps."""
    shape = data.shape[:-1]
    return np.concatenate(
        [np.zeros((*shape, delay), data.dtype), data,
         np.zeros((*shape, total - delay - data.shape[-1]), data.dtype)],
        -1,
    )


def cut_windows(buf: np.ndarray, n: int, steps: int, start: int) -> np.ndarray:
    """Cut a layer's buffer (neurons, steps) into per-sample windows (n, neurons, T), sample j's
    window starting at global step j * T + start."""
    return np.stack([buf[:, j * steps + start : j * steps + start + steps] for j in range(n)])


def stream(
    process,
    outputs: dict,
    states: dict,
    total: int,
    chunk: int,
    run_cfg,
    what: str,
    before_chunk: Callable[[int], None] | None = None,
) -> tuple[dict, dict, float]:
    """Run the network that ``process`` belongs to for ``total`` steps in chunks, recording the
    OutPorts ``outputs`` (spikes) and the Vars ``states`` every step, and stop it whatever happens.

    Lava's ``Var.get`` sends arrays element by element (minutes for a large layer), so spikes are
    streamed by Extractors and states by VarWires and drained after each chunk; ``before_chunk``
    (steps done so far) may set Vars between chunks. Returns the buffers per key, each
    (neurons in C, H, W order, total), and the seconds of the run (compilation excluded).
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.io.extractor import Extractor, VarWire

    recorders: dict = {}
    for key, port in outputs.items():
        recorders[key] = Extractor(shape=port.shape, buffer_size=chunk)
        port.connect(recorders[key].in_port)
    for key, var in states.items():
        recorders[key] = VarWire(buffer_size=chunk)
        recorders[key].connect_var(var)
    traces: dict = {key: [] for key in recorders}
    try:
        process.create_runtime(run_cfg=run_cfg)  # compile once, outside the timed run
        began = time.time()
        done = 0
        while done < total:
            if before_chunk is not None:
                before_chunk(done)
            count = min(chunk, total - done)
            process.run(condition=RunSteps(num_steps=count), run_cfg=run_cfg)
            for key, recorder in recorders.items():
                traces[key].extend(recorder.receive() for _ in range(count))
            done += count
        seconds = time.time() - began
    except LoihiSnnError:
        raise
    except Exception as err:
        raise LoihiSnnError(f"{what} failed: {type(err).__name__}: {err}") from None
    finally:
        with contextlib.suppress(Exception):
            process.stop()
        for recorder in recorders.values():
            if isinstance(recorder, VarWire):  # it runs its own message infrastructure
                with contextlib.suppress(Exception):
                    recorder._multi_processing.stop()
    buffers = {key: _from_lava(np.stack(trace, -1)) for key, trace in traces.items()}
    return (
        {key: buffers[key] for key in outputs},
        {key: buffers[key] for key in states},
        seconds,
    )


def run_lava(
    net: str | Path | NetFile,
    inputs: np.ndarray,
    time_steps: int | None = None,
    record_all: bool = True,
    hardware: bool = False,
    record_states: bool = False,
) -> SimResult:
    """Run ``n`` samples through the file in one Lava run.

    inputs: for a file whose first synapse takes the input (loihi_snn exports), integer spikes or
    graded payloads (n, C, H, W, T) or (n, features, T); for a file with an input neuron layer
    (lava-dl's mnist.net, PilotNet), the input neurons' integer bias per sample (n, *shape).
    record_states adds every layer's u and v, streamed to the host every step.
    """
    info, steps = prepare_run(net, inputs, time_steps)
    run_cfg = _run_config(hardware)

    from lava.lib.dl import netx
    from lava.proc import io

    n = len(inputs)
    lag = 0 if info.input_neuron else 1
    graded = bool(inputs.dtype.kind in "iu" and inputs.max(initial=0) > 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = netx.hdf5.Network(
            net_config=str(info.path),
            reset_interval=steps,
            reset_offset=lag,
            input_message_bits=8 if graded and not info.input_neuron else 0,
        )
    layers = network.layers
    last = len(layers) - 1
    total = n * steps + last + lag
    outputs = {k: layer.out for k, layer in enumerate(layers) if record_all or k == last}
    states = {
        (k, var): getattr(layer.neuron, var)
        for k, layer in enumerate(layers)
        for var in ("u", "v")
        if record_states or (var == "v" and k == last and info.voltage_readout)
    }
    if info.input_neuron:
        bias = _to_lava(inputs.astype(np.int32))
        neuron = network.in_layer.neuron
        neuron.bias_mant.init = bias[0].reshape(neuron.bias_mant.shape)

        def next_sample(done: int) -> None:
            if 0 < done < n * steps:
                neuron.bias_mant.set(bias[done // steps].reshape(neuron.bias_mant.shape))

    else:
        data = inputs.astype(np.int32)
        data = _to_lava(data) if len(network.inp.shape) == 3 else data.reshape(n, -1, steps)
        data = np.moveaxis(data, 0, -2).reshape(*network.inp.shape, n * steps)
        source = io.source.RingBuffer(data=pad_steps(data, 0, total))
        source.s_out.connect(network.inp)
        next_sample = None
    # biases change only between samples: then the host drains the recorders every sample
    chunk = steps if info.input_neuron else min(total, max(steps, 256))
    spikes_buf, state_buf, seconds = stream(
        network, outputs, states, total, chunk, run_cfg, f"Lava run of {info.path.name}",
        next_sample,
    )
    buffers = {(k, "s"): buf for k, buf in spikes_buf.items()} | state_buf

    def windows(k: int, buf: np.ndarray) -> np.ndarray:
        return cut_windows(buf, n, steps, k + lag)

    spikes = [
        windows(k, buffers[k, "s"]).astype(np.int8)
        for k in range(len(layers))
        if (k, "s") in buffers
    ]
    if info.voltage_readout:
        readout = windows(last, buffers[last, "v"])[:, :, -1].astype(np.int64)
    else:
        readout = spikes[-1].sum(-1).astype(np.int64)
    u = v = None
    if record_states:
        u = [windows(k, buffers[k, "u"]).astype(np.int64) for k in range(len(layers))]
        v = [windows(k, buffers[k, "v"]).astype(np.int64) for k in range(len(layers))]
    return SimResult(spikes, readout, info.voltage_readout, seconds, u, v)
