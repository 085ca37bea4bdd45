"""No Lava process outlives a run, whatever ends it: success, an error inside the run, a timeout,
Ctrl-C. Lava runs every process model as an OS process (plus shared-memory servers); the tests
count the live descendants of the process that ran Lava before and after each path, from
/proc/<pid>/stat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from loihi_snn.errors import LoihiSnnError
from loihi_snn.reference import ASSETS

MNIST = ASSETS / "mnist.net"
# multiprocessing's resource tracker: started once per interpreter on first use of shared memory
# and shared by every later run; it exits with its parent
TRACKER = b"multiprocessing.resource_tracker"


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every process: pid -> (parent pid, session id, state)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            found[int(entry.name)] = (int(fields[1]), int(fields[3]), fields[0])
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def live_descendants(pid: int) -> set[int]:
    """The live (not zombie) processes below ``pid``, but multiprocessing's resource tracker."""
    procs = _processes()
    below, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, (parent, _, _) in procs.items() if parent in frontier} - below
        below |= frontier
    return {p for p in below if procs[p][2] != "Z" and TRACKER not in _cmdline(p)}


def live_in_session(sid: int) -> set[int]:
    """The live processes of session ``sid`` (whatever their parent is now)."""
    return {p for p, (_, s, state) in _processes().items() if s == sid and state != "Z"}


def _settled(count: Callable[[], set[int]], seconds: float = 5.0) -> set[int]:
    """What ``count()`` finds once it is empty, or after ``seconds``."""
    deadline = time.time() + seconds
    found = count()
    while found and time.time() < deadline:
        time.sleep(0.1)
        found = count()
    return found


def _biases(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(-12, 140, (n, 784)).astype(np.int32)


@pytest.fixture
def fail_after_first_sample(monkeypatch):
    """Make the run's progress bar raise ``error`` once the first sample is done: an error in
    the middle of the run, with Lava's processes up."""
    from loihi_snn.backends import lava_stream

    def install(error: BaseException) -> None:
        class Failing(lava_stream.Progress):
            def advance_to(self, done: int) -> None:
                super().advance_to(done)
                raise error

        monkeypatch.setattr(lava_stream, "Progress", Failing)

    return install


def test_the_counter_sees_a_child_and_its_end():
    before = live_descendants(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert live_descendants(os.getpid()) - before == {child.pid}
    finally:
        child.kill()
        child.wait()
    assert live_descendants(os.getpid()) == before


@pytest.mark.lava
def test_a_run_that_succeeds_leaves_no_process():
    from loihi_snn.backends.lava import run_lava

    before = live_descendants(os.getpid())
    result = run_lava(MNIST, _biases(2), time_steps=16, record_all=False)
    assert result.readout.shape == (2, 10)
    assert _settled(lambda: live_descendants(os.getpid()) - before) == set()


@pytest.mark.lava
@pytest.mark.parametrize(
    "error, raised",
    [
        (LoihiSnnError("stopped in the middle"), LoihiSnnError),
        (RuntimeError("a failure inside Lava"), LoihiSnnError),  # one line, no traceback
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
    ids=["LoihiSnnError", "other error", "KeyboardInterrupt"],
)
def test_a_run_ended_by_an_exception_leaves_no_process(fail_after_first_sample, error, raised):
    from loihi_snn.backends.lava import run_lava

    fail_after_first_sample(error)
    before = live_descendants(os.getpid())
    with pytest.raises(raised):
        run_lava(MNIST, _biases(4), time_steps=16, record_all=False)
    assert _settled(lambda: live_descendants(os.getpid()) - before) == set()


@pytest.mark.lava
def test_a_process_model_that_fails_ends_the_run_with_one_error_and_no_process(monkeypatch):
    """A process model raising inside Lava: Lava itself would wait for its answer forever."""
    from lava.proc.lif.models import PyLifResetModelBitAcc

    from loihi_snn.backends.lava import run_lava

    def fail(self):
        raise ValueError("a broken neuron model")

    monkeypatch.setattr(PyLifResetModelBitAcc, "run_spk", fail)  # forked into Lava's processes
    # as in a job started with Ctrl-C ignored (`nohup ... &`): the watchdog must not need SIGINT
    kept = signal.signal(signal.SIGINT, signal.SIG_IGN)
    before = live_descendants(os.getpid())
    began = time.time()
    try:
        with pytest.raises(LoihiSnnError, match="process model raised ValueError: a broken neur"):
            run_lava(MNIST, _biases(2), time_steps=16, record_all=False)
    finally:
        signal.signal(signal.SIGINT, kept)
    assert time.time() - began < 30
    assert _settled(lambda: live_descendants(os.getpid()) - before) == set()


@pytest.mark.lava
def test_a_timeout_while_lava_steps_leaves_no_process():
    """An alarm whose handler raises while the host waits for Lava to finish a chunk of steps."""
    from loihi_snn.backends.lava import run_lava

    def timeout(signum, frame):
        raise TimeoutError("time is up")

    previous = signal.signal(signal.SIGALRM, timeout)
    before = live_descendants(os.getpid())
    try:
        signal.setitimer(signal.ITIMER_REAL, 8.0)  # compiled by then, far from done
        began = time.time()
        with pytest.raises(LoihiSnnError, match="TimeoutError"):
            run_lava(MNIST, _biases(400), time_steps=16, record_all=False)
        assert time.time() - began < 8.0 + 10.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _settled(lambda: live_descendants(os.getpid()) - before) == set()


def _start_sim(tmp_path: Path) -> subprocess.Popen:
    """``loihi-snn sim`` of mnist.net on 100 samples in its own session (as a terminal runs a
    job) and folder, returned once it reports its first samples done."""
    np.save(tmp_path / "x.npy", _biases(100))
    cli = Path(sys.executable).with_name("loihi-snn")
    proc = subprocess.Popen(  # a hang dumps every thread's stack on SIGABRT (``_end``)
        [str(cli), "sim", str(MNIST), "--input", "x.npy", "-n", "100"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        # Ctrl-C as a terminal's job has it, even when the tests run with it ignored (nohup &)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.set_blocking(proc.stderr.fileno(), False)
    err, deadline = b"", time.time() + 120
    while b"Lava run of mnist.net: " not in err:
        assert proc.poll() is None and time.time() < deadline, err.decode()
        time.sleep(0.2)
        err += proc.stderr.read() or b""
    os.set_blocking(proc.stderr.fileno(), True)
    proc.err_so_far = err
    return proc


def _end(proc: subprocess.Popen, how: str) -> tuple[int, str, float, set[int]]:
    """Send the signal (``ctrl-c``: SIGINT to the whole process group, as a terminal does;
    ``kill``: SIGTERM to the process, as ``timeout`` does; ``kill-group``: SIGTERM to the group,
    which ends Lava's processes under the run); the exit code, stderr, the seconds until the exit
    and the processes of its session still alive after it (then killed: a test leaves none)."""
    began = time.time()
    send = os.kill if how == "kill" else os.killpg
    send(proc.pid, signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)
    try:
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # show where it hangs
            os.kill(proc.pid, signal.SIGABRT)
            _, err = proc.communicate(timeout=30)
            raise AssertionError(f"no exit 30 s after {how}:\n{err.decode()[-8000:]}") from None
        seconds = time.time() - began
        left = _settled(lambda: live_in_session(proc.pid), 2.0)
    finally:
        for pid in live_in_session(proc.pid):
            os.kill(pid, signal.SIGKILL)
    return proc.returncode, (proc.err_so_far + err).decode(), seconds, left


@pytest.mark.lava
@pytest.mark.parametrize(
    "how, code, line",
    [
        ("ctrl-c", 130, "loihi-snn: interrupted"),
        ("kill", 143, "loihi-snn: terminated"),
        ("kill-group", 143, "loihi-snn: terminated"),
    ],
)
def test_sim_stopped_by_a_signal_exits_at_once_and_leaves_nothing(tmp_path, how, code, line):
    proc = _start_sim(tmp_path)
    assert len(live_in_session(proc.pid)) > 5  # Lava's processes are up
    files = sorted(tmp_path.iterdir())
    returncode, err, seconds, left = _end(proc, how)
    assert returncode == code, err
    lines = err.strip().splitlines()
    if how == "kill-group":
        # the shared-memory server died with the group, so multiprocessing's resource tracker
        # frees its segments at the exit, saying so
        assert line in lines, err
    else:
        assert lines[-1] == line, err
    assert "Traceback" not in err and "Process SystemProcess" not in err, err
    assert seconds < 10, f"exit took {seconds:.1f} s"
    assert left == set()
    assert sorted(tmp_path.iterdir()) == files  # no partial output


def test_a_stop_that_never_returns_is_cut_short_and_its_processes_killed():
    """If joining Lava's processes hangs after an interrupt, the shutdown kills them and goes on
    (a stopped run always ends)."""
    from loihi_snn.backends.lava_stream import _bounded

    class Actor:
        killed = False

        def kill(self) -> None:
            self.killed = True

    actor, began = Actor(), time.time()
    _bounded(lambda: time.sleep(60), [actor], seconds=0.2)
    assert actor.killed and time.time() - began < 2
    finished = Actor()
    _bounded(lambda: None, [finished], seconds=0.2)
    assert not finished.killed
