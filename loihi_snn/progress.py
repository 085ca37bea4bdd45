"""Progress of long runs on stderr, with samples/s: a tqdm bar on a terminal, and when stderr is
not one (nohup, SLURM, ``| tee``, a file) a plain line at every tenth of the work, which a bar's
carriage returns would hide."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``advance_to(done)`` as work completes, ``close()`` at the end (or use ``with``); prints
    nothing unless ``enabled``. ``advance_to(done, status)`` also shows a short status (e.g. the
    last loss) beside the bar, or at the end of the next line."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str = "samples",
        file: TextIO | None = None,
        enabled: bool = True,
    ):
        self.total, self.desc, self.unit, self.enabled = max(int(total), 1), desc, unit, enabled
        self.file = file or sys.stderr
        self.done = 0
        self.began = time.time()
        self._bar = None
        self._next_tenth = 1
        self._status = ""
        if enabled and self.file.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=f" {unit}", file=self.file,
                             leave=False, dynamic_ncols=True)

    def advance_to(self, done: int, status: str = "") -> None:
        done = min(int(done), self.total)
        if done <= self.done:
            return
        self._status = status
        if self._bar is not None:
            if status:
                self._bar.set_postfix_str(status, refresh=False)
            self._bar.update(done - self.done)
        self.done = done
        if self.enabled and self._bar is None and done * 10 >= self._next_tenth * self.total:
            self._next_tenth = done * 10 // self.total + 1
            self._line()

    def _line(self) -> None:
        seconds = time.time() - self.began
        rate = self.done / seconds if seconds > 0 else 0.0
        status = f", {self._status}" if self._status else ""
        print(
            f"{self.desc}: {self.done}/{self.total} {self.unit} ({100 * self.done // self.total}%)"
            f", {rate:.1f} {self.unit}/s, {seconds:.0f} s{status}",
            file=self.file,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
