"""How many threads a training computes with: all free cores, re-measured while it runs.

torch's (and numba's) OpenMP threads wait for each other at the end of every parallel region.
Beside another CPU-heavy process, one of them is always descheduled, and every region waits for
it: a 2-thread training beside one busy process on 2 cores ran 4.7x slower than alone, where a
fair share costs 2x. ``auto`` therefore counts the cores the *other* processes keep busy (the
machine's busy time from ``/proc/stat`` minus this process's own, from ``/proc/self/stat``) at
most every ``interval`` seconds, and computes with the cores left (at least one). Two trainings
started together each see the other and settle on their share.
"""

from __future__ import annotations

import os
import time

import torch

from .errors import LoihiSnnError


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _machine_busy() -> float | None:
    """Busy CPU seconds of the whole machine since boot (None where /proc is missing)."""
    try:
        fields = open("/proc/stat").readline().split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_busy() -> float:
    """CPU seconds this process (all its threads) has used."""
    t = os.times()
    return t.user + t.system


class Threads:
    """The training's thread count: ``setting`` an integer (fixed) or ``auto`` (module doc).
    :meth:`update` is cheap to call every batch."""

    def __init__(self, setting: str | int = "auto", interval: float = 2.0) -> None:
        self.cores = _cores()
        self.auto = setting == "auto"
        if not self.auto:
            try:
                count = int(setting)
            except ValueError:
                count = 0
            if count < 1:
                raise LoihiSnnError(f"threads must be 'auto' or a count >= 1, not '{setting}'")
            self._apply(count)
        else:
            self._apply(self.cores)
        self.interval = interval
        self._mark = (time.monotonic(), _machine_busy(), _own_busy())

    def _apply(self, count: int) -> None:
        self.count = count
        torch.set_num_threads(count)

    def update(self) -> int:
        """Re-measure (``auto``, at most every ``interval`` s) and return the thread count."""
        now = time.monotonic()
        if not self.auto or now - self._mark[0] < self.interval or self._mark[1] is None:
            return self.count
        machine, own = _machine_busy(), _own_busy()
        elapsed = now - self._mark[0]
        others = max(0.0, (machine - self._mark[1]) - (own - self._mark[2])) / elapsed
        self._mark = (now, machine, own)
        wanted = max(1, min(self.cores, self.cores - round(others)))
        if wanted != self.count:
            self._apply(wanted)
        return self.count
