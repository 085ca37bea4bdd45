"""Tests for loihi_snn.data: IDX reader, Fashion-MNIST / digits loaders and spike encoders."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from loihi_snn.data.augment import augment
from loihi_snn.data.datasets import load_dataset, load_digits_dataset, load_fashion_mnist
from loihi_snn.data.encoders import encode, input_levels
from loihi_snn.data.idx import read_idx
from loihi_snn.errors import LoihiSnnError

FMNIST_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_bytes(arr: np.ndarray) -> bytes:
    """Serialise a uint8 array in IDX format (magic 0x00 0x00 0x08 ndim, big-endian sizes)."""
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    return header + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray) -> Path:
    data = idx_bytes(arr)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def make_fmnist_dir(
    directory: Path,
    n_train: int = 20,
    n_test: int = 10,
    gz: bool = True,
    n_train_labels: int | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(
            0, 10, n_train if n_train_labels is None else n_train_labels, dtype=np.uint8
        ),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    # Make sure both extremes occur so max-value handling is exercised.
    arrays["train-images-idx3-ubyte"][0, 0, 0] = 0
    arrays["train-images-idx3-ubyte"][0, 0, 1] = 255
    directory.mkdir(parents=True, exist_ok=True)
    for stem, arr in arrays.items():
        write_idx(directory / (f"{stem}.gz" if gz else stem), arr)
    return arrays


# --------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip_images(tmp_path, suffix):
    images = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = write_idx(tmp_path / f"images-idx3-ubyte{suffix}", images)
    out = read_idx(path)
    assert out.dtype == np.uint8
    assert out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip_labels(tmp_path, suffix):
    labels = np.array([3, 0, 9, 255, 1, 7], dtype=np.uint8)
    path = write_idx(tmp_path / f"labels-idx1-ubyte{suffix}", labels)
    out = read_idx(str(path))  # str paths are accepted as well
    assert out.dtype == np.uint8
    assert out.shape == (6,)
    np.testing.assert_array_equal(out, labels)


def test_read_idx_header_sizes_are_big_endian(tmp_path):
    # 300 > 255 needs two bytes: a little-endian reader would see a different size.
    labels = (np.arange(300) % 256).astype(np.uint8)
    out = read_idx(write_idx(tmp_path / "labels", labels))
    assert out.shape == (300,)
    np.testing.assert_array_equal(out, labels)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_truncated_data(tmp_path, suffix):
    data = idx_bytes(np.zeros((4, 5, 5), dtype=np.uint8))[:-7]
    path = tmp_path / f"cut-idx3-ubyte{suffix}"
    if suffix:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    with pytest.raises(LoihiSnnError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "truncated" in str(info.value)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "header-cut"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">I", 4))  # 1 of 3 sizes
    with pytest.raises(LoihiSnnError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_too_much_data(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)) + b"\x00")
    with pytest.raises(LoihiSnnError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "magic",
    [
        bytes([1, 0, 0x08, 1]),  # first byte not zero
        bytes([0, 1, 0x08, 1]),  # second byte not zero
        bytes([0, 0, 0x07, 1]),  # unknown dtype code
    ],
)
def test_read_idx_bad_magic(tmp_path, magic):
    path = tmp_path / "bad-magic"
    path.write_bytes(magic + struct.pack(">I", 2) + b"\x01\x02")
    with pytest.raises(LoihiSnnError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "magic" in str(info.value)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_empty_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(LoihiSnnError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_gz_suffix_but_not_gzip(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(idx_bytes(np.arange(4, dtype=np.uint8)))
    with pytest.raises(LoihiSnnError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nope-idx1-ubyte.gz"
    with pytest.raises(LoihiSnnError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)


# ----------------------------------------------------------------------------- Fashion-MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_load_fashion_mnist(tmp_path, gz):
    arrays = make_fmnist_dir(tmp_path / "fm", gz=gz)
    ds = load_fashion_mnist(tmp_path / "fm")
    assert ds.name == "fmnist"
    assert ds.x_train.shape == (20, 1, 28, 28)
    assert ds.x_test.shape == (10, 1, 28, 28)
    assert ds.input_shape == (1, 28, 28)
    assert ds.x_train.dtype == np.uint8
    assert ds.x_test.dtype == np.uint8
    assert ds.max_value == 255
    assert len(ds.classes) == 10
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.x_test[:, 0], arrays["t10k-images-idx3-ubyte"])
    assert ds.y_train.shape == (20,)
    assert ds.y_test.shape == (10,)
    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"].astype(np.int64))
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"].astype(np.int64))
    assert ds.y_train.min() >= 0 and ds.y_train.max() <= 9


def test_load_dataset_fmnist_uses_path(tmp_path):
    arrays = make_fmnist_dir(tmp_path, seed=3)
    ds = load_dataset("fmnist", str(tmp_path))
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_fashion_mnist_missing_directory(tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(LoihiSnnError) as info:
        load_fashion_mnist(missing)
    msg = str(info.value)
    assert str(missing) in msg
    assert "make data" in msg  # tells the user how to get the data


@pytest.mark.parametrize("stem", FMNIST_STEMS)
def test_load_fashion_mnist_directory_missing_one_file(tmp_path, stem):
    make_fmnist_dir(tmp_path)
    (tmp_path / f"{stem}.gz").unlink()
    with pytest.raises(LoihiSnnError) as info:
        load_fashion_mnist(tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg
    assert stem in msg
    assert "data directory" in msg and "--" not in msg


def test_load_fashion_mnist_count_mismatch(tmp_path):
    make_fmnist_dir(tmp_path, n_train=20, n_train_labels=19)
    with pytest.raises(LoihiSnnError) as info:
        load_fashion_mnist(tmp_path)
    msg = str(info.value)
    assert "train" in msg
    assert str(tmp_path) in msg


def test_load_dataset_unknown_name():
    with pytest.raises(LoihiSnnError) as info:
        load_dataset("cifar")
    assert "cifar" in str(info.value)


# ------------------------------------------------------------------------------------ digits


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


def test_digits_split_sizes(digits):
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert len(digits.x_test) == 360
    assert len(digits.x_train) == 1437
    assert len(digits.y_train) == 1437
    assert len(digits.y_test) == 360


def test_digits_shapes_and_values(digits):
    assert digits.name == "digits"
    assert digits.x_train.shape == (1437, 1, 8, 8)
    assert digits.x_test.shape == (360, 1, 8, 8)
    assert digits.input_shape == (1, 8, 8)
    assert digits.max_value == 16
    for x in (digits.x_train, digits.x_test):
        assert x.min() == 0
        assert x.max() == 16
    assert set(np.unique(digits.y_train)) == set(range(10))


def test_digits_deterministic(digits):
    again = load_digits_dataset()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, name), getattr(digits, name))


def test_digits_seed_changes_split(digits):
    other = load_digits_dataset(seed=1)
    assert not np.array_equal(other.y_test, digits.y_test)


def test_digits_stratified(digits):
    counts = np.bincount(digits.y_test, minlength=10)
    assert (counts > 0).all()
    # Stratification keeps per-class test counts within 1 of 20% of each class (~36).
    total = np.bincount(np.concatenate([digits.y_train, digits.y_test]), minlength=10)
    assert np.all(np.abs(counts - 0.2 * total) <= 1)


# ---------------------------------------------------------------------------------- encoders


def test_encode_direct_exact_values():
    x = np.array([[[[0, 2, 4, 6], [8, 12, 15, 16]]]], dtype=np.uint8)  # (1, 1, 2, 4), max 16
    out = encode(x, "direct", max_value=16, levels=4, time_steps=3)
    assert out.dtype == np.int32
    assert out.shape == (1, 1, 2, 4, 3)
    # round(x * 4 / 16): half-way values round to even like Python's round.
    expected = np.array([[[[0, 0, 1, 2], [2, 3, 4, 4]]]])
    assert expected.tolist() == [
        [[[round(v * 4 / 16) for v in row] for row in img] for img in s] for s in x.tolist()
    ]
    for t in range(3):
        np.testing.assert_array_equal(out[..., t], expected)


def test_encode_direct_zero_and_max():
    x = np.array([0, 17, 128, 255], dtype=np.uint8).reshape(1, 1, 2, 2)
    out = encode(x, "direct", max_value=255, levels=15, time_steps=2)
    np.testing.assert_array_equal(out[..., 0].ravel(), [0, 1, 8, 15])
    np.testing.assert_array_equal(out[..., 1], out[..., 0])
    np.testing.assert_array_equal(input_levels(x, 255, 15), out[..., 0])


def test_encode_direct_shape_batch():
    x = np.random.default_rng(0).integers(0, 17, (5, 2, 3, 4), dtype=np.uint8)
    out = encode(x, "direct", 16, 16, 7)
    assert out.shape == (5, 2, 3, 4, 7)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out[..., 6], x.astype(np.int32))  # levels == max: identity


@pytest.fixture
def raw_batch():
    rng = np.random.default_rng(42)
    x = rng.integers(0, 256, (10, 1, 4, 4), dtype=np.uint8)
    x[:, 0, 0, 0] = 0
    x[:, 0, 0, 1] = 255
    return x


def test_encode_rate_binary_and_shape(raw_batch):
    out = encode(raw_batch, "rate", 255, 15, 20, sample_ids=np.arange(10), seed=0)
    assert out.shape == (10, 1, 4, 4, 20)
    assert out.dtype == np.int32
    assert set(np.unique(out)) <= {0, 1}
    assert out.sum() > 0  # random pixels produce some spikes
    assert (out == 0).any()


def test_encode_rate_deterministic(raw_batch):
    ids = np.arange(100, 110)
    a = encode(raw_batch, "rate", 255, 15, 16, sample_ids=ids, seed=7)
    b = encode(raw_batch, "rate", 255, 15, 16, sample_ids=ids, seed=7)
    np.testing.assert_array_equal(a, b)
    c = encode(raw_batch, "rate", 255, 15, 16, sample_ids=ids, seed=8)
    assert not np.array_equal(a, c)  # the seed matters


def test_encode_rate_default_ids_are_positions(raw_batch):
    a = encode(raw_batch, "rate", 255, 15, 16, seed=3)
    b = encode(raw_batch, "rate", 255, 15, 16, sample_ids=np.arange(10), seed=3)
    np.testing.assert_array_equal(a, b)


def test_encode_rate_independent_of_batching(raw_batch):
    full = encode(raw_batch, "rate", 255, 15, 32, sample_ids=np.arange(10), seed=1)
    alone = encode(raw_batch[5:6], "rate", 255, 15, 32, sample_ids=np.array([5]), seed=1)
    np.testing.assert_array_equal(alone[0], full[5])
    # Same pixels under a different id give different spikes: the id, not the position, matters.
    other = encode(raw_batch[5:6], "rate", 255, 15, 32, sample_ids=np.array([6]), seed=1)
    assert not np.array_equal(other[0], full[5])


def test_encode_rate_zero_and_max_pixels(raw_batch):
    out = encode(raw_batch, "rate", 255, 15, 64, sample_ids=np.arange(10), seed=0)
    assert out[:, 0, 0, 0, :].sum() == 0  # pixel 0 never spikes
    assert (out[:, 0, 0, 1, :] == 1).all()  # pixel max always spikes


def test_encode_rate_mean_rate_matches_intensity():
    pixels = np.array([0, 16, 51, 102, 128, 204, 240, 255], dtype=np.uint8)
    x = pixels.reshape(1, 1, 2, 4)
    t = 4000
    out = encode(x, "rate", 255, 15, t, sample_ids=np.array([0]), seed=0)
    rate = out[0, 0].reshape(8, t).mean(axis=1)
    p = pixels / 255.0
    # 5 binomial standard deviations (at most 0.04 for T=4000) plus a small margin.
    tol = 5 * np.sqrt(p * (1 - p) / t) + 0.005
    assert np.all(np.abs(rate - p) <= tol), (rate, p)


def test_encode_unknown_encoder(raw_batch):
    with pytest.raises(LoihiSnnError) as info:
        encode(raw_batch, "latency", 255, 15, 4)
    assert "latency" in str(info.value)


# ------------------------------------------------------------------------------ augmentation


def _one_pixel(n: int, value: int = 7) -> np.ndarray:
    """n samples (n, 1, 9, 9, 2), each a single pixel of ``value`` at the centre (4, 4)."""
    x = np.zeros((n, 1, 9, 9, 2), dtype=np.int32)
    x[:, 0, 4, 4, :] = value
    return x


def test_augment_off_returns_the_input():
    x = _one_pixel(3)
    assert augment(x, np.arange(3), shift=0, flip=False, seed=0, epoch=0) is x


def test_augment_moves_pixels_within_the_shift_and_keeps_values():
    n = 200
    out = augment(_one_pixel(n), np.arange(n), shift=2, flip=False, seed=0, epoch=0)
    moves = set()
    for sample in out:
        ys, xs = np.nonzero(sample[0, :, :, 0])
        assert len(ys) == 1 and sample[0, ys[0], xs[0]].tolist() == [7, 7]
        moves.add((int(ys[0]) - 4, int(xs[0]) - 4))
    assert moves == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}


def test_augment_flip_mirrors_about_half_the_samples():
    x = np.zeros((400, 1, 3, 4, 1), dtype=np.int32)
    x[:, 0, :, 0, 0] = 1  # the left column
    out = augment(x, np.arange(400), shift=0, flip=True, seed=0, epoch=0)
    mirrored = out[:, 0, :, 3, 0].all(axis=1)
    assert (mirrored | out[:, 0, :, 0, 0].all(axis=1)).all()
    assert 150 < mirrored.sum() < 250


def test_augment_draws_per_sample_and_epoch():
    ids = np.arange(10, 74)
    x = np.random.default_rng(0).integers(0, 16, (64, 1, 8, 8, 3)).astype(np.int32)
    whole = augment(x, ids, shift=2, flip=True, seed=3, epoch=1)
    parts = [augment(x[i : i + 24], ids[i : i + 24], 2, True, 3, 1) for i in (0, 24, 48)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)  # however the batch is cut
    assert not np.array_equal(augment(x, ids, 2, True, 3, 2), whole)  # another epoch
    assert not np.array_equal(augment(x, ids, 2, True, 4, 1), whole)  # another seed
