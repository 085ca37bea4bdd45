"""What every Lava run needs: the run configuration (CPU simulator ``Loihi2SimCfg`` with
``fixed_pt``, or a Loihi 2 board through ``Loihi2HwCfg``, which needs Intel's lava-loihi), and a
streamed run that records spikes and states and always stops Lava's processes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np

from ..errors import LoihiSnnError
from ..progress import Progress


def loihi2_available() -> bool:
    """True when lava-loihi (Intel's closed NeuroCore compiler and runtime) is importable."""
    from lava.utils import loihi

    return bool(loihi.is_installed())


def run_config(hardware: bool):
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
                "installed here: run without the hardware, on Lava's CPU simulator (fixed_pt)"
            )
        from lava.magma.core.run_configs import Loihi2HwCfg

        return Loihi2HwCfg(exception_proc_model_map=recorders)
    from lava.magma.core.run_configs import Loihi2SimCfg

    return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=recorders)


def to_lava(x: np.ndarray) -> np.ndarray:
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
    sample_steps: int = 1,
) -> tuple[dict, dict, float]:
    """Run the network that ``process`` belongs to for ``total`` steps in chunks, recording the
    OutPorts ``outputs`` (spikes) and the Vars ``states`` every step, and stop it whatever happens.

    Lava's ``Var.get`` sends arrays element by element (minutes for a large layer), so spikes are
    streamed by Extractors and states by VarWires and drained after each chunk; ``before_chunk``
    (steps done so far) may set Vars between chunks. Progress (samples of ``sample_steps`` steps
    done, and samples/s) goes to stderr. Returns the buffers per key, each
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
    bar = None
    try:
        process.create_runtime(run_cfg=run_cfg)  # compile once, outside the timed run
        began = time.time()
        bar = Progress(total // sample_steps, what)
        done = 0
        while done < total:
            if before_chunk is not None:
                before_chunk(done)
            count = min(chunk, total - done)
            process.run(condition=RunSteps(num_steps=count), run_cfg=run_cfg)
            for key, recorder in recorders.items():
                traces[key].extend(recorder.receive() for _ in range(count))
            done += count
            bar.advance_to(done // sample_steps)
        seconds = time.time() - began
    except LoihiSnnError:
        raise
    except Exception as err:
        raise LoihiSnnError(f"{what} failed: {type(err).__name__}: {err}") from None
    finally:
        if bar is not None:
            bar.close()
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


