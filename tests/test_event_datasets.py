"""Event-camera datasets in recipes: a tiny N-MNIST-layout folder the tests write (real 5-byte
events with timestamp-overflow markers) loads with the right labels, bins into the frames computed
here from the written events, trains, exports and simulates; bad folders fail in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import loihi_snn as ls
from loihi_snn.data import load_dataset
from loihi_snn.errors import LoihiSnnError
from loihi_snn.train import encode_split

CLASSES = ("0", "1", "2")
PER_CLASS = {"Train": 4, "Test": 2}
OVERFLOW_US = 2**13  # an N-MNIST overflow marker (y == 240) adds this to every later event


def recording(seed: int) -> np.ndarray:
    """Events (x, y, p, t) of one recording, t ascending in microseconds over about 20 ms, so
    that the file needs overflow markers (t crosses multiples of 2^13)."""
    rng = np.random.default_rng(seed)
    n = 40 + seed % 7
    ev = np.empty((n, 4), np.int64)
    ev[:, 0] = rng.integers(0, 34, n)
    ev[:, 1] = rng.integers(0, 34, n)
    ev[:, 2] = rng.integers(0, 2, n)
    ev[:, 3] = np.sort(rng.integers(300, 20_000, n))
    ev[:3, :3] = [[5, 6, 1]] * 3  # one pixel fires 3 times at the start: counts above 1
    ev[:3, 3] = ev[0, 3]
    return ev


def nmnist_bytes(events: np.ndarray) -> bytes:
    """The N-MNIST file of ``events``: x, y, polarity in bit 7 of byte 2, 23-bit big-endian
    timestamp, and an overflow marker (x=0, y=240) each time t passes a multiple of 2^13."""
    out, markers = bytearray(), 0
    for x, y, p, t in events:
        while t >= (markers + 1) * OVERFLOW_US:
            out += bytes([0, 240, 0, 0, 0])
            markers += 1
        ts = int(t) - markers * OVERFLOW_US
        out += bytes([x, y, (p << 7) | (ts >> 16), (ts >> 8) & 0xFF, ts & 0xFF])
    return bytes(out)


def expected_frames(
    events: np.ndarray, steps: int, bin_us: int, levels: int, size: int = 34
) -> np.ndarray:
    """(2, size, size, T) counts of ``events`` in bins of ``bin_us`` from the first event,
    capped at ``levels``."""
    frames = np.zeros((2, size, size, steps), np.int64)
    for x, y, p, t in events:
        step = (t - events[0, 3]) // bin_us
        if step < steps:
            frames[p, y, x, step] += 1
    return np.minimum(frames, levels)


@pytest.fixture()
def folder(tmp_path) -> tuple[Path, dict[str, list[tuple[int, np.ndarray]]]]:
    """An N-MNIST-layout folder and, per split, its (label, events) in file order."""
    root, written, seed = tmp_path / "nmnist", {}, 0
    for split, count in PER_CLASS.items():
        written[split] = []
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                events = recording(seed)
                seed += 1
                (root / split / name / f"{i:05d}.bin").write_bytes(nmnist_bytes(events))
                written[split].append((label, events))
    return root, written


def nmnist_recipe(root: Path, bin_us: int = 3000, levels: int = 2) -> ls.Recipe:
    return ls.Recipe(
        name="tiny_nmnist",
        data=ls.DataSpec(dataset="nmnist", path=str(root), time_steps=6, bin_us=bin_us,
                         levels=levels),
        layers=[ls.LayerSpec("conv", out=4, kernel=3, stride=2, padding=1),
                ls.LayerSpec("flatten"), ls.LayerSpec("dense", out=len(CLASSES))],
        train=ls.TrainSpec(epochs=1, batch_size=4, val_fraction=0.25),
    )


def test_the_folder_loads_with_its_labels_and_bins_into_the_written_events(folder):
    root, written = folder
    raw = np.frombuffer((root / "Train" / "0" / "00000.bin").read_bytes(), np.uint8)
    assert (raw[1::5] == 240).sum() == 2  # the file holds overflow markers
    data = load_dataset("nmnist", str(root))
    assert data.classes == CLASSES and data.input_shape == (2, 34, 34)
    for split, labels in (("Train", data.y_train), ("Test", data.y_test)):
        np.testing.assert_array_equal(labels, [label for label, _ in written[split]])
    recipe = nmnist_recipe(root)
    for split, key in (("Train", "train"), ("Test", "test")):
        index = np.arange(len(written[split]))
        frames = encode_split(data, recipe, key, index, seed=0)
        assert frames.shape == (len(index), 2, 34, 34, 6) and frames.dtype == np.int32
        for got, (_, events) in zip(frames, written[split], strict=True):
            want = expected_frames(events, 6, 3000, 2)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(got.sum(axis=(0, 1, 2)), want.sum(axis=(0, 1, 2)))
    assert frames[..., 0].max() == 2  # the pixel that fired 3 times, capped at levels


def test_without_bin_width_the_recording_spans_the_steps(folder):
    root, written = folder
    data = load_dataset("nmnist", str(root))
    frames = encode_split(data, nmnist_recipe(root, bin_us=0, levels=255), "test", np.arange(1), 0)
    events = written["Test"][0][1]
    width = -(-(events[-1, 3] - events[0, 3] + 1) // 6)  # ceil(span / T): every event binned
    np.testing.assert_array_equal(frames[0], expected_frames(events, 6, width, 255))
    assert frames.sum() == len(events)


def test_recipe_keys_for_event_data(folder):
    root, _ = folder
    text = f'name = "n"\n[data]\ndataset = "nmnist"\npath = "{root}"\nbin_us = 5000\n' \
        '[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\nout = 3\n'
    recipe = ls.parse_recipe(text)
    assert (recipe.data.dataset, recipe.data.bin_us) == ("nmnist", 5000)
    assert ls.parse_recipe(ls.recipe_toml(recipe)).data == recipe.data
    for bad, message in (
        ('encoder = "rate"', "data.encoder must be direct for the event dataset nmnist"),
        ("bin_us = -1", "data.bin_us must be >= 0"),
    ):
        with pytest.raises(LoihiSnnError, match=message):
            ls.parse_recipe(text.replace("bin_us = 5000", bad))
    with pytest.raises(LoihiSnnError, match="data.bin_us applies to the event datasets"):
        ls.parse_recipe(text.replace('"nmnist"', '"digits"'))
    shipped = ls.load_recipe("nmnist_cnn")
    assert (shipped.data.dataset, shipped.data.time_steps, shipped.data.bin_us) == (
        "nmnist", 32, 10000)


def test_a_dvs128_folder_of_aedat_files(tmp_path):
    written = []
    for split in ("Train", "Test"):
        for label, name in enumerate(("left", "right")):
            (tmp_path / split / name).mkdir(parents=True)
            events = recording(label)
            events[:, :2] *= 3  # across the 128x128 sensor
            # DVS128 address: x at bits 1-7 and y at 8-14, both flipped; raw polarity 0 = ON
            addr = ((127 - events[:, 1]) << 8) | ((127 - events[:, 0]) << 1) | (1 - events[:, 2])
            body = np.stack([addr, events[:, 3]], 1).astype(">u4").tobytes()
            (tmp_path / split / name / "rec.aedat").write_bytes(b"#!AER-DAT2.0\r\n" + body)
            written.append(events)
    data = load_dataset("dvs128", str(tmp_path))
    assert data.classes == ("left", "right") and data.input_shape == (2, 128, 128)
    np.testing.assert_array_equal(data.y_test, [0, 1])
    recipe = nmnist_recipe(tmp_path)
    recipe.data.dataset = "dvs128"
    frames = encode_split(data, recipe, "test", np.arange(2), 0)
    for got, events in zip(frames, written[2:], strict=True):
        np.testing.assert_array_equal(got, expected_frames(events, 6, 3000, 2, size=128))


@pytest.mark.lava
def test_a_recipe_on_the_folder_trains_exports_and_simulates(folder, tmp_path):
    root, _ = folder
    run = tmp_path / "run"
    row = ls.train(nmnist_recipe(root), run, progress=False)
    assert row["epoch"] == 1 and 0 <= row["test_accuracy"] <= 1
    net = ls.export(run, run / "model.net")
    info = ls.inspect(net)
    assert info["metadata"]["dataset"] == "nmnist" and info["input_shape"] == [2, 34, 34]
    report = ls.simulate(net, n=6, backend="fast")  # the test recordings binned as in training
    assert report.samples == 6 and report.agreement == 1.0


def _damage(root: Path, what: str) -> None:
    if what == "no Test":
        for path in sorted((root / "Test").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (root / "Test").rmdir()
    elif what == "other classes":
        (root / "Test" / "2").rename(root / "Test" / "7")
    elif what == "empty class":
        for path in (root / "Train" / "1").iterdir():
            path.unlink()
    elif what == "truncated":
        (root / "Train" / "0" / "00001.bin").write_bytes(bytes(7))


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("no Test", r"has no Test/ folder"),
        ("other classes", r"the classes \['0', '1', '2'\] but Test/ has \['0', '1', '7'\]"),
        ("empty class", r"Train/1 holds no N-MNIST recordings \(\*\.bin\)"),
        ("truncated", r"00001\.bin is truncated or not in the N-MNIST format: 7 bytes"),
    ],
)
def test_a_damaged_folder_is_refused_when_loaded(folder, what, message):
    root, _ = folder
    _damage(root, what)
    with pytest.raises(LoihiSnnError, match=message):
        load_dataset("nmnist", str(root))


def test_a_missing_folder_and_a_bad_recording_are_refused(folder, tmp_path):
    with pytest.raises(LoihiSnnError, match="needs its folder: set data.path"):
        load_dataset("nmnist", "")
    with pytest.raises(LoihiSnnError, match="folder .*nowhere does not exist"):
        load_dataset("nmnist", str(tmp_path / "nowhere"))
    root, _ = folder
    bad = root / "Test" / "0" / "00000.bin"
    bad.write_bytes(bytes([40, 3, 0x80, 0, 9]))  # x = 40 on a 34x34 sensor
    data = load_dataset("nmnist", str(root))  # sizes are fine: found when the file is read
    with pytest.raises(LoihiSnnError, match=r"00000\.bin: event 0 at x=40, y=3 lies outside"):
        encode_split(data, nmnist_recipe(root), "test", np.arange(2), 0)


@pytest.mark.lava  # the command imports Lava before it runs
def test_the_command_line_says_what_is_wrong_in_one_line(repo, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "loihi_snn.cli", "train", str(repo / "train" / "nmnist_cnn.toml"),
         "--data-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"loihi-snn: error: N-MNIST folder {tmp_path / 'missing'} does not exist: set data.path "
        f"to the folder holding Train/ and Test/"
    ]
