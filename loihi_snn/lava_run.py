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
from pathlib import Path

import numpy as np

from .errors import LoihiSnnError
from .netfile import NetFile, prepare_run
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
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc import io
    from lava.proc.io.extractor import Extractor, VarWire

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
    # Chunks of steps between which the host drains the recorders (Lava's Var.get sends arrays
    # element by element: minutes for a large layer); biases change only between samples.
    chunk = steps if info.input_neuron else min(total, max(steps, 256))
    recorders: dict[tuple[int, str], Extractor | VarWire] = {}
    for k, layer in enumerate(layers):
        if record_all or k == last:
            recorders[k, "s"] = Extractor(shape=layer.out.shape, buffer_size=chunk)
            layer.out.connect(recorders[k, "s"].in_port)
        for var in ("u", "v"):
            if record_states or (var == "v" and k == last and info.voltage_readout):
                recorders[k, var] = VarWire(buffer_size=chunk)
                recorders[k, var].connect_var(getattr(layer.neuron, var))
    traces: dict[tuple[int, str], list[np.ndarray]] = {key: [] for key in recorders}

    def run_and_drain(count: int) -> None:
        network.run(condition=RunSteps(num_steps=count), run_cfg=run_cfg)
        for key, recorder in recorders.items():
            traces[key].extend(recorder.receive() for _ in range(count))

    try:
        if info.input_neuron:
            bias = _to_lava(inputs.astype(np.int32))
            neuron = network.in_layer.neuron
            neuron.bias_mant.init = bias[0].reshape(neuron.bias_mant.shape)
        else:
            data = inputs.astype(np.int32)
            data = _to_lava(data) if len(network.inp.shape) == 3 else data.reshape(n, -1, steps)
            data = np.moveaxis(data, 0, -2).reshape(*network.inp.shape, n * steps)
            data = np.concatenate(
                [data, np.zeros((*data.shape[:-1], total - n * steps), np.int32)], -1
            )
            source = io.source.RingBuffer(data=data)
            source.s_out.connect(network.inp)
        network.create_runtime(run_cfg=run_cfg)  # compile once, outside the timed run
        began = time.time()
        done = 0
        while done < total:
            if info.input_neuron and 0 < done < n * steps:
                neuron.bias_mant.set(bias[done // steps].reshape(neuron.bias_mant.shape))
            count = min(chunk, total - done)
            run_and_drain(count)
            done += count
        seconds = time.time() - began
    except LoihiSnnError:
        raise
    except Exception as err:
        raise LoihiSnnError(
            f"Lava run of {info.path.name} failed: {type(err).__name__}: {err}"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            network.stop()
        for recorder in recorders.values():
            if isinstance(recorder, VarWire):  # it runs its own message infrastructure
                with contextlib.suppress(Exception):
                    recorder._multi_processing.stop()
    buffers = {key: _from_lava(np.stack(trace, -1)) for key, trace in traces.items()}

    def windows(k: int, buf: np.ndarray) -> np.ndarray:
        """Cut layer k's buffer (neurons, steps) into its per-sample windows (n, neurons, T)."""
        return np.stack(
            [buf[:, j * steps + k + lag : j * steps + k + lag + steps] for j in range(n)]
        )

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
