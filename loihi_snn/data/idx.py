"""Reader for the IDX format of (Fashion-)MNIST, plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import LoihiSnnError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Return the array stored in an IDX file (``.gz`` is decompressed).

    Layout: 2 zero bytes, a dtype code, the number of dimensions n, n big-endian uint32 sizes, data.
    """
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise LoihiSnnError(f"IDX file {path} not found") from None
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise LoihiSnnError(f"cannot read IDX file {path}: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise LoihiSnnError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise LoihiSnnError(f"{path} is truncated (header cut short)")
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise LoihiSnnError(
            f"{path} is truncated or corrupt: header says {shape} ({expected} bytes), "
            f"file holds {len(raw) - header} bytes of data"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)
