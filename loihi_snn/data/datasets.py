"""The embedded digits set, Fashion-MNIST from local IDX files and event-camera recordings in
class folders (N-MNIST, DVS128), with fixed splits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LoihiSnnError
from .event_folders import EVENT_FORMATS, EventFormat, scan_event_folder
from .idx import read_idx

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass
class Dataset:
    """Images as raw unsigned integers (N, C, H, W) with pixel values 0..``max_value``; with
    ``events`` set, recordings as file paths (N,) that
    :func:`~loihi_snn.data.event_folders.bin_recordings` turns into (N, 2, H, W, T) event counts
    (at most ``max_value``) when they are fed."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    max_value: int
    classes: tuple[str, ...]
    events: EventFormat | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        if self.events is not None:
            return (2, *self.events.sensor_size)
        return tuple(self.x_train.shape[1:])


def load_digits_dataset(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, values 0..16), stratified split by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.images.astype(np.uint8)[:, None]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset("digits", x_tr, y_tr, x_te, y_te, 16, tuple(str(i) for i in range(10)))


def _find(directory: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem, stem.replace("-idx", ".idx")):
        if (directory / name).exists():
            return directory / name
    raise LoihiSnnError(
        f"{directory} has no {stem}[.gz]: give the data directory (the recipe's data.path) of a "
        f"folder with the four Fashion-MNIST IDX files, or install Debian's "
        f"dataset-fashion-mnist ('make data')"
    )


def load_fashion_mnist(directory: str | Path = "") -> Dataset:
    """Fashion-MNIST (60k train, 10k test, 28x28, values 0..255) from IDX files in ``directory``."""
    directory = Path(directory or FASHION_MNIST_DIR)
    if not directory.is_dir():
        raise LoihiSnnError(
            f"Fashion-MNIST directory {directory} does not exist: install Debian's "
            f"dataset-fashion-mnist ('make data') or name a folder with the IDX files"
        )
    parts = [
        read_idx(_find(directory, stem))
        for stem in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ]
    x_tr, y_tr, x_te, y_te = parts
    for images, labels, split in ((x_tr, y_tr, "train"), (x_te, y_te, "test")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise LoihiSnnError(
                f"Fashion-MNIST {split} files in {directory} disagree: images {images.shape}, "
                f"labels {labels.shape}"
            )
    return Dataset(
        "fmnist",
        x_tr[:, None].copy(),
        y_tr.astype(np.int64),
        x_te[:, None].copy(),
        y_te.astype(np.int64),
        255,
        FASHION_MNIST_CLASSES,
    )


def load_event_dataset(name: str, directory: str | Path) -> Dataset:
    """An event-camera dataset (a key of ``EVENT_FORMATS``) from its class folders in
    ``directory``; counts per bin are at most 255 (8-bit graded input)."""
    fmt = EVENT_FORMATS[name]
    folder = scan_event_folder(directory, fmt)
    return Dataset(
        name, folder.x_train, folder.y_train, folder.x_test, folder.y_test, 255, folder.classes, fmt
    )


def load_dataset(name: str, path: str = "", test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Load ``digits``, ``fmnist`` (from ``path`` or the Debian package's folder) or an event
    dataset, ``nmnist`` or ``dvs128`` (class folders in ``path``)."""
    if name == "digits":
        return load_digits_dataset(test_fraction, seed)
    if name == "fmnist":
        return load_fashion_mnist(path)
    if name in EVENT_FORMATS:
        return load_event_dataset(name, path)
    raise LoihiSnnError(f"unknown dataset '{name}': use digits, fmnist, {', '.join(EVENT_FORMATS)}")
