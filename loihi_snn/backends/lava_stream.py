"""What every Lava run needs: the run configuration (CPU simulator ``Loihi2SimCfg`` with
``fixed_pt``, or a Loihi 2 board through ``Loihi2HwCfg``, which needs Intel's lava-loihi), and a
streamed run that records outputs and states and leaves no OS process behind, whatever happens
(success, an error, a timeout, Ctrl-C)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ..errors import LoihiSnnError
from ..progress import Progress

WATCHDOG_SIGNAL = signal.SIGUSR1  # the watchdog's interrupt of the main thread (_Watchdog)
STOP_SECONDS = 10.0  # what a stopped run may take to join its processes before they are killed


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
    OutPorts ``outputs`` (spikes or graded payloads) and the Vars ``states`` every step, and stop
    it whatever happens (:func:`_shutdown`).

    Lava's ``Var.get`` sends arrays element by element (minutes for a large layer), so outputs are
    streamed by Extractors and states by VarWires and drained after each chunk; ``before_chunk``
    (steps done so far) may set Vars between chunks. Progress (samples of ``sample_steps`` steps
    done, and samples/s) goes to stderr. Returns the buffers per key, each
    (neurons in C, H, W order, total), and the seconds of the run (compilation excluded).
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.io.extractor import Extractor, VarWire

    recorders: dict = {}
    traces: dict = {}
    bar = watchdog = None
    finished = False
    try:
        with _held(signal.SIGINT):  # processes forked here (recorders, runtime) ignore Ctrl-C
            for key, port in outputs.items():
                recorders[key] = Extractor(shape=port.shape, buffer_size=chunk)
                port.connect(recorders[key].in_port)
            for key, var in states.items():
                recorders[key] = VarWire(buffer_size=chunk)
                recorders[key].connect_var(var)
            process.create_runtime(run_cfg=run_cfg)  # compile once, outside the timed run
        if threading.current_thread() is threading.main_thread():
            on_ended = signal.signal(WATCHDOG_SIGNAL, _raise_ended)
            watchdog = _Watchdog(process.runtime._messaging_infrastructure.actors)
            watchdog.start()
        traces = {key: [] for key in recorders}
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
        finished = True
    except LoihiSnnError:
        raise
    except _ProcessEnded:
        raise LoihiSnnError(f"{what} failed: {watchdog.failure()}") from None
    except Exception as err:
        raise LoihiSnnError(f"{what} failed: {type(err).__name__}: {err}") from None
    finally:
        with _held(signal.SIGINT, signal.SIGTERM):  # a second one waits for the stop
            if watchdog is not None:
                watchdog.stop()
                signal.signal(WATCHDOG_SIGNAL, on_ended)
            if bar is not None:
                bar.close()
            _shutdown(process, recorders.values(), finished)
    buffers = {key: _from_lava(np.stack(trace, -1)) for key, trace in traces.items()}
    return (
        {key: buffers[key] for key in outputs},
        {key: buffers[key] for key in states},
        seconds,
    )


@contextlib.contextmanager
def _held(*signums: int) -> Iterator[None]:
    """Hold signals back while the body runs and deliver them when it ends. Processes forked
    meanwhile keep the holding handler: holding SIGINT while Lava starts its processes makes a
    terminal's Ctrl-C, which goes to the whole process group, interrupt this process alone, so
    that it can stop the others. (Blocking the signal instead would not last: starting
    multiprocessing's resource tracker unblocks it.)"""
    if threading.current_thread() is not threading.main_thread():  # only it handles signals
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


class _ProcessEnded(Exception):
    """Raised in the main thread on the watchdog's signal: a Lava process ended mid-run."""


def _raise_ended(signum: int, frame: object) -> None:
    raise _ProcessEnded


class _Watchdog(threading.Thread):
    """Watch Lava's processes while the host waits for a run: when one ends, a process model
    failed, and Lava would wait for its answer forever; the watchdog then interrupts the wait
    (:data:`WATCHDOG_SIGNAL` to the main thread, whose handler raises :class:`_ProcessEnded`)
    and names the failure (``failed``: that process). Its own signal, not SIGINT: a job started
    with Ctrl-C ignored (``nohup cmd &``) would never see that one."""

    def __init__(self, actors: list) -> None:
        super().__init__(daemon=True)
        self.actors = actors
        self.failed = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._done.wait(0.2):
            ended = next((a for a in self.actors if _ended(a)), None)
            if ended is not None:
                with self._lock:
                    if not self._done.is_set():
                        self.failed = ended
                        signal.pthread_kill(threading.main_thread().ident, WATCHDOG_SIGNAL)
                return

    def stop(self) -> None:
        """Stop watching (before Lava's processes are stopped); no interrupt comes after."""
        with self._lock:
            self._done.set()
        self.join()

    def failure(self) -> str:
        """What the failed process reported (Lava sends a process model's exception home)."""
        report = self.failed.exception
        if report is None:
            return f"a Lava process ended (exit code {self.failed.exitcode})"
        error = report[0]
        return f"a Lava process model raised {type(error).__name__}: {error}"


def _ended(actor) -> bool:
    """Whether a Lava process has ended (one Lava joined and closed itself is not watched)."""
    try:
        return actor.exitcode is not None
    except ValueError:
        return False


def _bounded(stop: Callable[[], None], actors: list, seconds: float = STOP_SECONDS) -> None:
    """Run ``stop`` (it joins Lava's processes) for at most ``seconds``; a process still alive
    then is killed (SIGKILL), so that an interrupted run always ends."""
    def quietly() -> None:
        with contextlib.suppress(Exception):
            stop()

    worker = threading.Thread(target=quietly, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        for actor in actors:
            with contextlib.suppress(ValueError, AttributeError):
                actor.kill()
        worker.join(seconds)


def _shutdown(process, recorders: Iterable, finished: bool) -> None:
    """End every OS process the run started: Lava's runtime (its process models, runtime
    services and shared-memory server) and the VarWires' shared-memory servers.

    After a finished run the runtime is idle and stops the Lava way (``stop()``). After an error,
    an interrupt or a timeout it may be waiting in a step or hold dead processes, where
    ``stop()`` waits forever for answers: the process models and runtime services are then
    killed (SIGKILL; they hold nothing worth an orderly exit) and the shared memory released.
    Not SIGTERM: a Python process runs its handler in the main thread only, and when the kernel
    hands the signal to another thread (it does while the main thread still has Ctrl-C's SIGINT
    pending) a main thread asleep on a channel never wakes to run it.
    """
    from lava.proc.io.extractor import VarWire

    runtime = process.runtime
    if runtime is not None and finished:
        with contextlib.suppress(Exception):
            process.stop()
    elif runtime is not None:
        # Lava 0.10 keeps these in private attributes; Lava is archived, the version pinned
        infrastructure = runtime._messaging_infrastructure
        if infrastructure is not None:
            for actor in infrastructure.actors:
                with contextlib.suppress(ValueError):  # closed: Lava joined it already
                    actor.kill()
            _bounded(infrastructure.stop, infrastructure.actors)  # joins them, frees memory
        runtime._is_started = False  # or its __del__ would stop() it again, and hang
    for recorder in recorders:
        if isinstance(recorder, VarWire):  # it runs its own shared-memory server
            with contextlib.suppress(Exception):
                recorder._multi_processing.stop()
