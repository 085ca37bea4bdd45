"""Event-camera recordings: N-MNIST / N-Caltech101 binaries, AEDAT 2.0 and 3.1 (DVS128), frames.

Readers return :class:`Events` (x, y in pixels with (0, 0) the top-left pixel, t in microseconds,
p = 1 for ON / brightness increase and 0 for OFF); :func:`to_frames` bins them into the integer
(C, H, W, T) input the models take, channel 0 = OFF and 1 = ON.

N-MNIST files are decoded and events binned by ``tonic`` (``tonic.io.read_mnist_file``,
``tonic.transforms.ToFrame``; the ``events`` extra): this module adds the checks that turn a bad
file into one clear error. AEDAT stays the toolkit's own reader, because tonic 1.7's is not one
for these files: its DVS128 decoder takes address bits 8-14 as x and 1-7 as y with no flip (jAER
and libcaer read bits 1-7 as x), keeps the raw polarity and the sync events, and its AEDAT 3.x
path reads every packet as 8-byte polarity events whatever its type, ignoring the valid bit and
the packet's timestamp overflow.

Format sources checked:

- N-MNIST / N-Caltech101 (Orchard et al. 2015): Read_Ndataset.m (x, y, p, 23-bit timestamp per
  5 bytes) and the Python readers that add the timestamp-overflow markers (y == 240 adds 2^13 us to
  all later events): ``tonic.io.read_mnist_file``, adapted from ``read_dataset`` in
  gorchard/event-Python eventvision.py (which also asks for x == 305, a value one byte cannot
  hold, so only y is tested, as in tonic).
- AEDAT 2.0 and 3.1: iniVation's file-format pages (docs.inivation.com, "AEDAT 2.0", "AEDAT 3.1"),
  libcaer's ``events/common.h`` and ``events/polarity.h`` (28-byte packet header, polarity bits),
  jAER's ``DVS128.Extractor`` and libcaer's ``src/dvs128.c`` (DVS128 address translation).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import LoihiSnnError

NMNIST_SIZE = (34, 34)
DVS128_SIZE = (128, 128)

_XYTP = np.dtype([("x", np.int32), ("y", np.int32), ("t", np.int64), ("p", np.uint8)])
_TONIC_FRAME_MAX = np.iinfo(np.int16).max  # tonic's ToFrame counts in int16

_AEDAT_VERSION_TAG = b"#!AER-DAT"
_AEDAT3_END_HEADER = b"#!END-HEADER"
_AEDAT3_HEADER = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("ts_offset", "<i4"),
        ("ts_overflow", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
_AEDAT3_POLARITY_TYPE = 1
_AEDAT3_POLARITY = np.dtype([("data", "<u4"), ("t", "<i4")])


@dataclass(eq=False)
class Events:
    """A recording as parallel arrays of length N, in file order.

    x, y: int32 pixel column and row, (0, 0) top left; t: int64 timestamp in microseconds;
    p: uint8 polarity, 1 = ON, 0 = OFF; sensor_size: (H, W) in pixels.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray
    sensor_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.t)


def _read_bytes(path: Path, kind: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LoihiSnnError(f"{kind} file {path} not found") from None
    except OSError as err:
        raise LoihiSnnError(f"cannot read {kind} file {path}: {err}") from None


def _events(
    path: Path, x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, size: tuple[int, int]
) -> Events:
    """Build :class:`Events`, failing on the first event outside the (H, W) sensor."""
    outside = np.flatnonzero((x < 0) | (x >= size[1]) | (y < 0) | (y >= size[0]))
    if outside.size:
        i = outside[0]
        raise LoihiSnnError(
            f"{path}: event {i} at x={x[i]}, y={y[i]} lies outside the {size[0]}x{size[1]} (HxW) "
            f"sensor ({outside.size} such events): pass the recording's sensor_size, or the file "
            f"is not in this format"
        )
    return Events(
        x.astype(np.int32),
        y.astype(np.int32),
        t.astype(np.int64),
        p.astype(np.uint8),
        (int(size[0]), int(size[1])),
    )


def _tonic() -> ModuleType:
    """tonic's readers and transforms, or one line saying how to install them."""
    try:
        import tonic.io
        import tonic.transforms
    except ImportError:
        raise LoihiSnnError(
            "reading N-MNIST files and binning events needs tonic: install the toolkit's events "
            "extra (pip install 'loihi_snn[events]', tonic 1.7)"
        ) from None
    return tonic


def read_nmnist(path: str | Path, sensor_size: tuple[int, int] = NMNIST_SIZE) -> Events:
    """Read an N-MNIST or N-Caltech101 ``.bin`` file (Orchard et al. 2015) with tonic.

    Each event is 5 bytes: x, y, then a 24-bit big-endian word whose bit 23 is the polarity
    (1 = ON) and bits 0-22 the timestamp in microseconds. An event with y == 240 is a timestamp
    overflow marker: it is dropped and adds 2^13 us to every later event. ``sensor_size`` is
    (H, W): 34x34 for N-MNIST; N-Caltech101 samples vary in size, so pass one that covers them
    (the ATIS array is 240x304).
    """
    path = Path(path)
    data = _read_bytes(path, "N-MNIST")
    if len(data) % 5:
        raise LoihiSnnError(
            f"{path} is truncated or not an N-MNIST/N-Caltech101 file: {len(data)} bytes is not a "
            f"multiple of 5 (one event = 5 bytes); extract the file from the dataset archive again"
        )
    ev = _tonic().io.read_mnist_file(io.BytesIO(data), _XYTP, is_stream=True)
    return _events(path, ev["x"], ev["y"], ev["t"], ev["p"], sensor_size)


def _aedat2_dvs128(path: Path, data: bytes, sensor_size: tuple[int, int]) -> Events:
    """Big-endian int32 address + int32 timestamp (us) pairs, addresses in the DVS128 layout.

    Address bits: 0 raw polarity, 1-7 x, 8-14 y, 15 external (sync) event. Like libcaer's DVS128
    driver (the same translation that makes AEDAT 3.1 DVS128 files), x and y are flipped to a
    top-left origin and the polarity is inverted (raw 0 is ON, as jAER's extractor also reads
    it). jAER flips x and the polarity but keeps y with a bottom-left origin, so y here is
    127 - jAER's y. Sync events are dropped.
    """
    if tuple(sensor_size) != DVS128_SIZE:
        raise LoihiSnnError(
            f"{path}: AEDAT 2.0 addresses are read in the DVS128 layout (128x128 sensor); "
            f"sensor_size {tuple(sensor_size)} is not supported for AEDAT 2.0 files"
        )
    if len(data) % 8:
        raise LoihiSnnError(
            f"{path} is truncated: {len(data)} bytes of AEDAT 2.0 events is not a multiple of 8 "
            f"(int32 address + int32 timestamp); copy or record the file again"
        )
    ev = np.frombuffer(data, [("addr", ">u4"), ("t", ">i4")])
    addr = ev["addr"].astype(np.int64)
    foreign = np.flatnonzero(addr >> 16)
    if foreign.size:
        raise LoihiSnnError(
            f"{path}: event {foreign[0]} has address 0x{addr[foreign[0]]:08x}, outside the DVS128 "
            f"layout (bits above 15 set): the file comes from another sensor (e.g. a DAVIS), "
            f"which read_aedat does not decode for AEDAT 2.0"
        )
    keep = (addr & 0x8000) == 0
    addr = addr[keep]
    x = 127 - ((addr >> 1) & 0x7F)
    y = 127 - ((addr >> 8) & 0x7F)
    return _events(path, x, y, ev["t"][keep], 1 - (addr & 1), sensor_size)


def _aedat31_polarity(path: Path, data: bytes, sensor_size: tuple[int, int]) -> Events:
    """Little-endian event packets, each a 28-byte header then capacity x size bytes of events.

    Only polarity packets (type 1, 8-byte events) are read; others are skipped. Polarity event:
    uint32 data (bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31 x) and int32 timestamp;
    the full timestamp in us is (packet ts_overflow << 31) | timestamp. Invalid events are dropped.
    """
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < _AEDAT3_HEADER.itemsize:
            raise LoihiSnnError(
                f"{path} is truncated: {len(data) - pos} bytes at offset {pos} cannot hold a "
                f"28-byte AEDAT 3.1 packet header; copy or record the file again"
            )
        head = np.frombuffer(data, _AEDAT3_HEADER, count=1, offset=pos)[0]
        size, capacity = int(head["size"]), int(head["capacity"])
        end = pos + _AEDAT3_HEADER.itemsize + size * capacity
        if size <= 0 or capacity < 0 or end > len(data):
            raise LoihiSnnError(
                f"{path} is truncated or corrupt: the AEDAT 3.1 packet at offset {pos} declares "
                f"{capacity} events of {size} bytes, but the file ends at {len(data)} bytes"
            )
        if head["type"] == _AEDAT3_POLARITY_TYPE:
            if size != _AEDAT3_POLARITY.itemsize or head["ts_offset"] != 4:
                raise LoihiSnnError(
                    f"{path}: polarity packet at offset {pos} has {size}-byte events with the "
                    f"timestamp at byte {head['ts_offset']}; AEDAT 3.1 polarity events are 8 bytes "
                    f"with the timestamp at byte 4"
                )
            ev = np.frombuffer(data, _AEDAT3_POLARITY, count=capacity, offset=end - size * capacity)
            ev = ev[(ev["data"] & 1) == 1]
            t = (np.int64(head["ts_overflow"]) << 31) | ev["t"].astype(np.int64)
            parts.append((ev["data"].astype(np.int64), t))
        pos = end
    word = np.concatenate([d for d, _ in parts]) if parts else np.zeros(0, np.int64)
    t = np.concatenate([t for _, t in parts]) if parts else np.zeros(0, np.int64)
    x, y, p = (word >> 17) & 0x7FFF, (word >> 2) & 0x7FFF, (word >> 1) & 1
    return _events(path, x, y, t, p, sensor_size)


def read_aedat(path: str | Path, sensor_size: tuple[int, int] = DVS128_SIZE) -> Events:
    """Read the polarity events of an AEDAT 2.0 (jAER, DVS128) or AEDAT 3.1 (cAER/DV) file.

    The version comes from the first line, ``#!AER-DAT2.0`` or ``#!AER-DAT3.1``. AEDAT 2.0: '#'
    header lines, then big-endian (address, timestamp) pairs decoded as a DVS128 the way libcaer
    does: x and y flipped to a top-left origin, raw polarity 0 = ON (jAER agrees on x and
    polarity but keeps y from the bottom). AEDAT 3.1: header up to ``#!END-HEADER``, then event
    packets, whose x, y already have a top-left origin. ``sensor_size`` is (H, W); events outside
    it raise.
    """
    path = Path(path)
    raw = _read_bytes(path, "AEDAT")
    first = raw.split(b"\n", 1)[0].strip()
    if not first.startswith(_AEDAT_VERSION_TAG):
        raise LoihiSnnError(
            f"{path} has no '#!AER-DAT<version>' first line: it is not an AEDAT 2.0/3.1 file "
            f"(AEDAT 1.0 files have no version line and are not supported)"
        )
    version = first[len(_AEDAT_VERSION_TAG) :].decode("ascii", "replace")
    if version == "2.0":
        pos = 0
        while raw.startswith(b"#", pos):
            pos = raw.find(b"\n", pos) + 1
            if pos == 0:
                raise LoihiSnnError(f"{path} is truncated inside its AEDAT 2.0 header")
        return _aedat2_dvs128(path, raw[pos:], sensor_size)
    if version == "3.1":
        tag = raw.find(b"\n" + _AEDAT3_END_HEADER)
        end = raw.find(b"\n", tag + 1) if tag >= 0 else -1
        if end < 0:
            raise LoihiSnnError(
                f"{path} has no '#!END-HEADER' line: the AEDAT 3.1 header is truncated or corrupt"
            )
        return _aedat31_polarity(path, raw[end + 1 :], sensor_size)
    raise LoihiSnnError(
        f"{path}: unknown AEDAT version line '{first.decode('ascii', 'replace')}': read_aedat "
        f"reads AEDAT 2.0 and 3.1; convert other versions with iniVation's DV software"
    )


def to_frames(
    events: Events,
    sensor_size: tuple[int, int] | None,
    time_steps: int,
    *,
    bin_us: int | None = None,
    t_start: int | None = None,
    clip: int | None = 255,
) -> np.ndarray:
    """Count events per polarity, pixel and time bin: int32 array (2, H, W, T), slayer's layout.

    Channel 0 counts OFF events, channel 1 ON events. The T bins of ``bin_us`` microseconds each
    start at ``t_start`` (default: the first event's t): bin i holds the events with
    start + i w <= t < start + (i + 1) w, and events outside the T bins are dropped. Without
    ``bin_us`` the width is ceil((last t - start + 1) / T), so the T bins cover the whole
    sample; a fixed ``bin_us`` gives every sample the same time scale (N-MNIST samples last
    about 300 ms). Binned by tonic's ``ToFrame``. ``clip`` caps the counts (default 255: graded
    input is 8 bit; 1 gives binary spikes; None keeps raw counts, at most 32767: tonic counts in
    int16). ``sensor_size`` (H, W) defaults to ``events.sensor_size``.
    """
    h, w = events.sensor_size if sensor_size is None else sensor_size
    if time_steps < 1 or (bin_us is not None and bin_us < 1):
        raise LoihiSnnError(
            f"to_frames needs time_steps >= 1 and bin_us >= 1 (got {time_steps}, {bin_us})"
        )
    if clip is not None and clip < 1:
        raise LoihiSnnError(f"to_frames: clip must be >= 1 or None (got {clip})")
    frames = np.zeros((2, h, w, time_steps), np.int32)
    if len(events) == 0:
        return frames
    if np.any((events.x >= w) | (events.y >= h)):
        raise LoihiSnnError(
            f"events reach x={events.x.max()}, y={events.y.max()}, outside the frame size "
            f"{h}x{w} (HxW): pass a sensor_size that covers the recording"
        )
    start = int(events.t.min()) if t_start is None else t_start
    width = bin_us or max(1, -(-(int(events.t.max()) - start + 1) // time_steps))
    order = np.argsort(events.t, kind="stable")  # ToFrame slices a time-sorted stream
    xytp = np.empty(len(order), _XYTP)
    for name in _XYTP.names:
        xytp[name] = getattr(events, name)[order]
    end = start + time_steps * width
    binned = _tonic().transforms.ToFrame(
        sensor_size=(w, h, 2), time_window=width, start_time=start, end_time=end
    )(xytp)  # (T, 2, H, W) int16
    inside = int(np.count_nonzero((events.t >= start) & (events.t < end)))
    if int(binned.sum(dtype=np.int64)) != inside:
        raise LoihiSnnError(
            f"more than {_TONIC_FRAME_MAX} events in one pixel and bin of {width} us overflow "
            f"tonic's int16 counts: use shorter bins (bin_us)"
        )
    frames[...] = binned.transpose(1, 2, 3, 0)
    return frames if clip is None else np.minimum(frames, clip)
