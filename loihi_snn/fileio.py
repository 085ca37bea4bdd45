"""Atomic file writing (a temporary file beside the target, then rename), and opening network
files with clear errors."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import h5py

from .errors import LoihiSnnError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``path`` with
    the mode a new file gets under the user's umask (``mkstemp`` creates it 0600). On error the
    temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: object) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def open_hdf5(path: Path) -> h5py.File:
    """Open a network file for reading; a missing or unreadable file is a LoihiSnnError that
    says what to do."""
    if not path.is_file():
        raise LoihiSnnError(f"network file {path} not found: export one with 'loihi-snn export'")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise LoihiSnnError(
            f"{path} is not a readable HDF5 file (truncated or corrupt?): re-export it"
        ) from None
