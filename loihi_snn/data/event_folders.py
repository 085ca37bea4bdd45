"""Event-camera datasets in class folders, N-MNIST's layout as its archives unpack:
``<root>/Train/<class>/<recording>`` and ``<root>/Test/<class>/<recording>``, one recording per
file. The folders are listed once; recordings are read and binned into frames when fed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LoihiSnnError
from .events import DVS128_SIZE, NMNIST_SIZE, Events, read_aedat, read_nmnist, to_frames

SPLITS = ("Train", "Test")


@dataclass(frozen=True)
class EventFormat:
    """How a dataset's recordings are stored: file suffix, sensor (H, W) in pixels, the reader,
    and ``event_bytes``: a valid file's size is a multiple of it (0: not checked by size)."""

    title: str
    suffix: str
    sensor_size: tuple[int, int]
    reader: Callable[[Path, tuple[int, int]], Events]
    event_bytes: int = 0


EVENT_FORMATS = {
    "nmnist": EventFormat("N-MNIST", ".bin", NMNIST_SIZE, read_nmnist, 5),
    "dvs128": EventFormat("DVS128 AEDAT 2.0/3.1", ".aedat", DVS128_SIZE, read_aedat),
}


@dataclass
class EventFolder:
    """A scanned folder: recordings as path strings (N,) with int64 labels (N,) per split, and
    the class names (sorted folder names, numbers by value) the labels index."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]


def _class_key(name: str) -> tuple[bool, int, str]:
    return (not name.isdigit(), int(name) if name.isdigit() else 0, name)


def scan_event_folder(root: str | Path, fmt: EventFormat) -> EventFolder:
    """List the recordings of ``root`` (Train/ and Test/ with the same class folders, each
    holding ``*<suffix>`` files); a missing part, an empty class or a file whose size cannot be
    whole events is refused here, before any training."""
    if not str(root):
        raise LoihiSnnError(
            f"the {fmt.title} dataset needs its folder: set data.path to the folder holding "
            f"{SPLITS[0]}/<class>/*{fmt.suffix} and {SPLITS[1]}/<class>/*{fmt.suffix} (the toolkit "
            f"downloads nothing)"
        )
    root = Path(root)
    if not root.is_dir():
        raise LoihiSnnError(
            f"{fmt.title} folder {root} does not exist: set data.path to the folder holding "
            f"{SPLITS[0]}/ and {SPLITS[1]}/"
        )
    splits, classes = [], None
    for split in SPLITS:
        folder = root / split
        if not folder.is_dir():
            raise LoihiSnnError(
                f"{root} has no {split}/ folder: the {fmt.title} dataset's folder holds "
                f"{SPLITS[0]}/<class>/*{fmt.suffix} and {SPLITS[1]}/<class>/*{fmt.suffix}"
            )
        names = sorted((p.name for p in folder.iterdir() if p.is_dir()), key=_class_key)
        if not names:
            raise LoihiSnnError(f"{folder} has no class folders (<class>/*{fmt.suffix})")
        if classes is not None and names != classes:
            raise LoihiSnnError(
                f"{root}: {SPLITS[0]}/ has the classes {classes} but {split}/ has {names}: both "
                f"splits need the same class folders"
            )
        classes = names
        splits.append(_recordings(folder, names, fmt))
    (x_tr, y_tr), (x_te, y_te) = splits
    return EventFolder(x_tr, y_tr, x_te, y_te, tuple(classes))


def _recordings(
    folder: Path, classes: list[str], fmt: EventFormat
) -> tuple[np.ndarray, np.ndarray]:
    """(paths, labels) of one split, classes in order, files sorted by name."""
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted((folder / name).glob(f"*{fmt.suffix}"))
        if not files:
            raise LoihiSnnError(f"{folder / name} holds no {fmt.title} recordings (*{fmt.suffix})")
        for path in files:
            size = path.stat().st_size
            if fmt.event_bytes and size % fmt.event_bytes:
                raise LoihiSnnError(
                    f"{path} is truncated or not in the {fmt.title} format: {size} bytes is not "
                    f"a multiple of {fmt.event_bytes} (one event); extract it from the dataset "
                    f"archive again"
                )
        paths += [str(p) for p in files]
        labels += [label] * len(files)
    return np.array(paths), np.array(labels, np.int64)


def bin_recordings(
    paths: np.ndarray, fmt: EventFormat, time_steps: int, bin_us: int, levels: int
) -> np.ndarray:
    """Read recordings ``paths`` (N,) and bin each with :func:`~loihi_snn.data.events.to_frames`:
    int32 (N, 2, H, W, T), channel 0 OFF and 1 ON, T bins of ``bin_us`` microseconds from each
    recording's first event (0: the recording's span in T equal bins), counts capped at
    ``levels``."""
    h, w = fmt.sensor_size
    frames = np.empty((len(paths), 2, h, w, time_steps), np.int32)
    for i, path in enumerate(paths):
        events = fmt.reader(Path(path), fmt.sensor_size)
        frames[i] = to_frames(events, None, time_steps, bin_us=bin_us or None, clip=levels)
    return frames
