"""Real datasets that need no download, deterministic splits, spike encoders and event readers."""

from .augment import augment
from .datasets import FASHION_MNIST_DIR, Dataset, load_dataset
from .encoders import encode, input_levels
from .event_folders import EVENT_FORMATS, EventFormat, bin_recordings
from .events import Events, read_aedat, read_nmnist, to_frames
from .idx import read_idx

__all__ = [
    "FASHION_MNIST_DIR",
    "Dataset",
    "load_dataset",
    "encode",
    "augment",
    "input_levels",
    "read_idx",
    "Events",
    "read_nmnist",
    "read_aedat",
    "to_frames",
    "EVENT_FORMATS",
    "EventFormat",
    "bin_recordings",
]
