"""A training's thread count: fixed, or ``auto`` following what the other processes leave free."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from loihi_snn import threads as th
from loihi_snn.errors import LoihiSnnError


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_fixed_count_is_applied_and_nonsense_refused():
    assert th.Threads(1).count == 1 and torch.get_num_threads() == 1
    for bad in ("0", "many", -2):
        with pytest.raises(LoihiSnnError, match="threads must be 'auto' or a count >= 1"):
            th.Threads(bad)


def test_auto_leaves_the_cores_other_processes_keep_busy(monkeypatch):
    """A clock and CPU counters under the test's control: the machine's busy seconds grow by
    ``others`` cores plus this process's own use."""
    clock, machine, own = [100.0], [0.0], [0.0]
    monkeypatch.setattr(th, "_cores", lambda: 4)
    monkeypatch.setattr(th.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(th, "_machine_busy", lambda: machine[0])
    monkeypatch.setattr(th, "_own_busy", lambda: own[0])
    pool = th.Threads("auto", interval=2.0)
    assert pool.count == 4

    def elapse(seconds: float, others: float, mine: float) -> int:
        clock[0] += seconds
        own[0] += mine * seconds
        machine[0] += (others + mine) * seconds
        return pool.update()

    assert elapse(1.0, others=3.0, mine=1.0) == 4  # not yet: at most every 2 s
    assert elapse(1.5, others=3.0, mine=1.0) == 1  # three cores busy elsewhere
    assert torch.get_num_threads() == 1
    assert elapse(2.0, others=1.2, mine=1.0) == 3
    assert elapse(2.0, others=0.0, mine=3.0) == 4  # alone again: every core
    assert elapse(2.0, others=9.0, mine=4.0) == 1  # never fewer than one


def test_the_counters_see_a_busy_child():
    """The real counters: a busy child's second of CPU shows in the machine's busy time and
    not in this process's own."""
    if th._machine_busy() is None:
        pytest.skip("no /proc/stat on this system: auto keeps every core")
    machine, own = th._machine_busy(), th._own_busy()
    spin = "import time\nt = time.time()\nwhile time.time() - t < 1: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)
    time.sleep(0.05)
    assert th._machine_busy() - machine >= 0.8
    assert th._own_busy() - own < 0.5
