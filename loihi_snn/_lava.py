"""Importing Lava and lava-dl safely, once: call :func:`import_lava` before anything that needs
Lava or torch (every command but ``inspect``, and the public API's heavy names do).

Lava's runtime calls ``multiprocessing.set_start_method('fork')`` when first imported, which
raises once anything else fixed the start method (a tqdm bar, a torch DataLoader, the user).
lava-dl prints notes about CUDA and an optional Prophesee toolbox on import; they are not ours
to show.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import sys

_RUNTIME = "lava.magma.runtime.message_infrastructure.multiprocessing"


def import_lava() -> None:
    """Import Lava's runtime, lava-dl's netx and slayer quietly, whatever start method was set
    before (Lava needs 'fork' and sets it itself)."""
    if _RUNTIME in sys.modules:
        return
    if multiprocessing.get_start_method(allow_none=True) is not None:
        multiprocessing.set_start_method(None, force=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import lava.lib.dl.netx  # noqa: F401
        import lava.lib.dl.slayer  # noqa: F401
        import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
