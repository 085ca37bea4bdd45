"""loihi_snn.data.events: N-MNIST and AEDAT 2.0/3.1 readers on files the tests write, frames."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from loihi_snn.data.events import Events, read_aedat, read_nmnist, to_frames
from loihi_snn.errors import LoihiSnnError

AEDAT2_HEADER = (
    b"#!AER-DAT2.0\r\n"
    b"# This is a raw AE data file - do not edit\r\n"
    b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
    b"# Timestamps tick is 1 us\r\n"
)
AEDAT31_HEADER = (
    b"#!AER-DAT3.1\r\n"
    b"#Format: RAW\r\n"
    b"#Source 1: DVS128\r\n"
    b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n"
    b"#!END-HEADER\r\n"
)


def nmnist_event(x: int, y: int, p: int, ts: int) -> bytes:
    """One 5-byte N-MNIST event: x, y, polarity in bit 7 of byte 2, 23-bit big-endian timestamp."""
    return bytes([x, y, (p << 7) | (ts >> 16), (ts >> 8) & 0xFF, ts & 0xFF])


OVERFLOW = nmnist_event(0, 240, 0, 0)


def aedat2(events: list[tuple[int, int]]) -> bytes:
    """AEDAT 2.0 body: big-endian (int32 address, int32 timestamp) pairs after the header."""
    return AEDAT2_HEADER + b"".join(struct.pack(">Ii", a, t) for a, t in events)


def polarity_word(x: int, y: int, p: int, valid: int = 1) -> int:
    return (x << 17) | (y << 2) | (p << 1) | valid


def aedat31_packet(
    events: list[tuple[int, int]], kind: int = 1, overflow: int = 0, capacity: int | None = None
) -> bytes:
    """28-byte little-endian packet header followed by 8-byte (uint32 data, int32 ts) events."""
    n = len(events) if capacity is None else capacity
    header = struct.pack("<hhiiiiii", kind, 1, 8, 4, overflow, n, len(events), len(events))
    return header + b"".join(struct.pack("<Ii", d, t) for d, t in events)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_events(ev: Events, x: list, y: list, t: list, p: list, size: tuple[int, int]) -> None:
    assert ev.sensor_size == size
    np.testing.assert_array_equal(ev.x, x)
    np.testing.assert_array_equal(ev.y, y)
    np.testing.assert_array_equal(ev.t, t)
    np.testing.assert_array_equal(ev.p, p)
    assert (ev.x.dtype, ev.y.dtype, ev.t.dtype, ev.p.dtype) == (
        np.int32,
        np.int32,
        np.int64,
        np.uint8,
    )


# --- N-MNIST ---------------------------------------------------------------------------------


def test_nmnist_bit_layout(tmp_path):
    # x=7, y=9, ON, timestamp 0x7ABCDE: byte 2 = 0x80 | 0x7A
    ev = read_nmnist(write(tmp_path / "a.bin", bytes([7, 9, 0xFA, 0xBC, 0xDE])))
    assert_events(ev, [7], [9], [0x7ABCDE], [1], (34, 34))


def test_nmnist_round_trip(tmp_path):
    rows = [
        (0, 0, 0, 0),
        (33, 0, 1, 1),
        (0, 33, 1, 255),
        (12, 21, 0, 65536),
        (33, 33, 1, 2**23 - 1),
    ]
    ev = read_nmnist(write(tmp_path / "b.bin", b"".join(nmnist_event(*r) for r in rows)))
    x, y, p, t = (list(c) for c in zip(*rows, strict=True))
    assert_events(ev, x, y, t, p, (34, 34))
    assert len(ev) == 5


def test_nmnist_overflow_markers(tmp_path):
    data = (
        nmnist_event(1, 2, 1, 1000)
        + OVERFLOW
        + nmnist_event(3, 4, 0, 10)
        + OVERFLOW
        + OVERFLOW
        + nmnist_event(33, 33, 1, 2**23 - 1)
    )
    ev = read_nmnist(write(tmp_path / "c.bin", data))
    assert_events(
        ev, [1, 3, 33], [2, 4, 33], [1000, 10 + 8192, 2**23 - 1 + 3 * 8192], [1, 0, 1], (34, 34)
    )


def test_nmnist_sensor_size(tmp_path):
    path = write(tmp_path / "d.bin", nmnist_event(200, 179, 1, 5))
    with pytest.raises(LoihiSnnError, match=r"x=200, y=179 lies outside the 34x34"):
        read_nmnist(path)
    assert_events(read_nmnist(path, (240, 304)), [200], [179], [5], [1], (240, 304))


def test_nmnist_missing_and_truncated(tmp_path):
    with pytest.raises(LoihiSnnError, match="not found"):
        read_nmnist(tmp_path / "missing.bin")
    path = write(tmp_path / "e.bin", nmnist_event(1, 1, 1, 1) * 2 + b"\x01\x02\x03")
    with pytest.raises(LoihiSnnError, match="13 bytes is not a multiple of 5"):
        read_nmnist(path)


# --- AEDAT 2.0 --------------------------------------------------------------------------------


def test_aedat2_dvs128(tmp_path):
    # raw (x, y, p): 0x0000 = (0, 0, 0); 0x640B = (5, 100, 1); 0x7FFE = (127, 127, 0);
    # 0x8000 is an external sync event and is dropped.
    body = [(0x0000, 10), (0x640B, 20), (0x8000, 25), (0x7FFE, 30), (0x0001, -5)]
    ev = read_aedat(write(tmp_path / "a.aedat", aedat2(body)))
    # x = 127 - raw x, y = 127 - raw y, p = 1 - raw p (libcaer's DVS128 translation)
    assert_events(
        ev, [127, 122, 0, 127], [127, 27, 0, 127], [10, 20, 30, -5], [1, 0, 1, 0], (128, 128)
    )


def test_aedat2_errors(tmp_path):
    with pytest.raises(LoihiSnnError, match="not found"):
        read_aedat(tmp_path / "missing.aedat")
    truncated = write(tmp_path / "t.aedat", aedat2([(0x0102, 1)]) + b"\x00\x01\x02")
    with pytest.raises(LoihiSnnError, match="11 bytes of AEDAT 2.0 events is not a multiple of 8"):
        read_aedat(truncated)
    davis = write(tmp_path / "d.aedat", aedat2([(0x0102, 1), (0x00010000, 2)]))
    with pytest.raises(LoihiSnnError, match="event 1 has address 0x00010000, outside the DVS128"):
        read_aedat(davis)
    good = write(tmp_path / "g.aedat", aedat2([(0x0102, 1)]))
    with pytest.raises(LoihiSnnError, match="DVS128 layout"):
        read_aedat(good, (64, 64))


def test_aedat_version_line(tmp_path):
    for first in (b"#!AER-DAT4.0\r\n", b"#!AER-DAT3.0\r\n", b"#!AER-DAT1.0\r\n"):
        path = write(tmp_path / "v.aedat", first + struct.pack(">Ii", 2, 1))
        with pytest.raises(LoihiSnnError, match="unknown AEDAT version line '#!AER-DAT"):
            read_aedat(path)
    path = write(tmp_path / "n.aedat", b"# no version\r\n" + struct.pack(">Ii", 2, 1))
    with pytest.raises(LoihiSnnError, match="no '#!AER-DAT<version>' first line"):
        read_aedat(path)


# --- AEDAT 3.1 --------------------------------------------------------------------------------


def test_aedat31_polarity_word_layout():
    assert polarity_word(3, 5, 1) == 0x60017


def test_aedat31_packets(tmp_path):
    data = (
        AEDAT31_HEADER
        + aedat31_packet([(0x1234, 50)], kind=0)  # special-event packet: skipped
        + aedat31_packet(
            [
                (polarity_word(3, 5, 1), 100),
                (polarity_word(7, 9, 0, valid=0), 200),  # invalidated: dropped
                (polarity_word(127, 0, 0), 300),
            ]
        )
        + aedat31_packet([(polarity_word(0, 127, 1), 5)], overflow=1)
    )
    ev = read_aedat(write(tmp_path / "a.aedat", data))
    assert_events(ev, [3, 127, 0], [5, 0, 127], [100, 300, 2**31 + 5], [1, 0, 1], (128, 128))


def test_aedat31_errors(tmp_path):
    packet = aedat31_packet([(polarity_word(1, 1, 1), 1), (polarity_word(2, 2, 1), 2)], capacity=3)
    with pytest.raises(LoihiSnnError, match="declares 3 events of 8 bytes"):
        read_aedat(write(tmp_path / "t.aedat", AEDAT31_HEADER + packet))
    with pytest.raises(LoihiSnnError, match="cannot hold a 28-byte AEDAT 3.1 packet header"):
        read_aedat(write(tmp_path / "h.aedat", AEDAT31_HEADER + packet[:20]))
    no_end = AEDAT31_HEADER.replace(b"#!END-HEADER\r\n", b"")
    with pytest.raises(LoihiSnnError, match="no '#!END-HEADER' line"):
        read_aedat(write(tmp_path / "e.aedat", no_end + aedat31_packet([])))
    wide = write(
        tmp_path / "w.aedat", AEDAT31_HEADER + aedat31_packet([(polarity_word(200, 10, 1), 7)])
    )
    with pytest.raises(LoihiSnnError, match="x=200, y=10 lies outside the 128x128"):
        read_aedat(wide)
    assert_events(read_aedat(wide, (260, 346)), [200], [10], [7], [1], (260, 346))


# --- frames -----------------------------------------------------------------------------------


def hand_events() -> Events:
    # (x, y, p, t) on a 2x3 (HxW) sensor
    rows = [
        (0, 0, 1, 100),
        (0, 0, 1, 199),
        (2, 1, 0, 200),
        (1, 0, 1, 350),
        (2, 1, 0, 499),
        (2, 1, 0, 499),
    ]
    x, y, p, t = (np.array(c) for c in zip(*rows, strict=True))
    return Events(
        x.astype(np.int32), y.astype(np.int32), t.astype(np.int64), p.astype(np.uint8), (2, 3)
    )


def test_frames_equal_bins():
    # start 100, length 499 - 100 + 1 = 400, bin = (t - 100) * 4 // 400: 0, 0, 1, 2, 3, 3
    expected = np.zeros((2, 2, 3, 4), np.int32)
    expected[1, 0, 0, 0] = 2
    expected[0, 1, 2, 1] = 1
    expected[1, 0, 1, 2] = 1
    expected[0, 1, 2, 3] = 2
    frames = to_frames(hand_events(), None, 4)
    assert frames.dtype == np.int32
    np.testing.assert_array_equal(frames, expected)
    np.testing.assert_array_equal(
        to_frames(hand_events(), None, 4, clip=1), np.minimum(expected, 1)
    )


def test_frames_fixed_window():
    # [0, 200) in 2 bins of 100 us: t=100 and 199 fall in bin 1, t >= 200 is dropped
    expected = np.zeros((2, 2, 3, 2), np.int32)
    expected[1, 0, 0, 1] = 2
    frames = to_frames(hand_events(), None, 2, bin_us=100, t_start=0)
    np.testing.assert_array_equal(frames, expected)
    # a larger frame than the sensor pads with zeros
    big = to_frames(hand_events(), (4, 5), 2, bin_us=100, t_start=0)
    assert big.shape == (2, 4, 5, 2) and big.sum() == 2 and big[1, 0, 0, 1] == 2


def test_frames_clip_to_8_bit(tmp_path):
    ev = read_nmnist(write(tmp_path / "many.bin", nmnist_event(4, 6, 1, 3) * 300))
    assert to_frames(ev, None, 1)[1, 6, 4, 0] == 255
    assert to_frames(ev, None, 1, clip=None)[1, 6, 4, 0] == 300


def test_frames_from_file_keep_every_event(tmp_path):
    rows = [(x, (3 * x) % 34, x % 2, 1000 * x) for x in range(34)]
    ev = read_nmnist(write(tmp_path / "f.bin", b"".join(nmnist_event(*r) for r in rows)))
    frames = to_frames(ev, None, 5)
    assert frames.shape == (2, 34, 34, 5) and frames.sum() == 34
    assert frames[0, 0, 0, 0] == 1 and frames[1, 31, 33, 4] == 1  # first and last events


def test_frames_errors():
    empty = Events(*(np.zeros(0, d) for d in (np.int32, np.int32, np.int64, np.uint8)), (2, 3))
    np.testing.assert_array_equal(to_frames(empty, None, 3), np.zeros((2, 2, 3, 3), np.int32))
    with pytest.raises(LoihiSnnError, match="time_steps >= 1"):
        to_frames(hand_events(), None, 0)
    with pytest.raises(LoihiSnnError, match="outside the frame size 1x3"):
        to_frames(hand_events(), (1, 3), 4)
    with pytest.raises(LoihiSnnError, match="clip must be >= 1"):
        to_frames(hand_events(), None, 4, clip=0)


def test_frames_of_events_out_of_time_order():
    ev = hand_events()
    order = np.array([5, 2, 0, 4, 1, 3])
    shuffled = Events(ev.x[order], ev.y[order], ev.t[order], ev.p[order], ev.sensor_size)
    np.testing.assert_array_equal(to_frames(shuffled, None, 4), to_frames(ev, None, 4))
    late = to_frames(ev, None, 3, t_start=1000)  # every event before the bins
    np.testing.assert_array_equal(late, np.zeros((2, 2, 3, 3), np.int32))


def test_frames_refuse_counts_beyond_tonics_int16():
    n = 2**15  # one more event than an int16 count holds, all in one pixel and bin
    ev = Events(*(np.zeros(n, d) for d in (np.int32, np.int32, np.int64, np.uint8)), (1, 1))
    with pytest.raises(LoihiSnnError, match="overflow tonic's int16 counts"):
        to_frames(ev, None, 1)
    assert to_frames(Events(ev.x[1:], ev.y[1:], ev.t[1:], ev.p[1:], (1, 1)), None, 1, clip=None)[
        0, 0, 0, 0
    ] == n - 1


def test_without_tonic_one_line_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tonic", None)  # import tonic raises ImportError
    monkeypatch.setitem(sys.modules, "tonic.io", None)
    with pytest.raises(LoihiSnnError, match=r"needs tonic: .*pip install 'loihi_snn\[events\]'"):
        read_nmnist(write(tmp_path / "a.bin", nmnist_event(1, 2, 1, 3)))
    with pytest.raises(LoihiSnnError, match="needs tonic"):
        to_frames(hand_events(), None, 2)
