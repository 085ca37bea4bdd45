"""Real datasets that need no download, deterministic splits and spike encoders."""

from .datasets import FASHION_MNIST_DIR, Dataset, load_dataset
from .encoders import encode, input_levels
from .idx import read_idx

__all__ = ["FASHION_MNIST_DIR", "Dataset", "load_dataset", "encode", "input_levels", "read_idx"]
