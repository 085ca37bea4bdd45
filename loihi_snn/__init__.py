"""loihi_snn: attention-based spiking networks from lava-dl training to Intel Loihi 2.

The public API (``__all__``, described in docs/API.md) is imported lazily (PEP 562), so that
``import loihi_snn`` and the ``loihi-snn`` command start at once; the names that need torch or
Lava import Lava first (:func:`import_lava`, which explains why).
"""

from __future__ import annotations

import importlib
import sys
import types

if sys.version_info[:2] != (3, 10):
    sys.exit(
        f"loihi-snn: error: needs Python 3.10 (lava-nc 0.10 / lava-dl 0.6 support no other), "
        f"this is "
        f"{sys.version.split()[0]}: run 'make demo' or 'make test', which build .venv with a 3.10"
    )

from ._lava import import_lava  # noqa: E402
from .errors import LoihiSnnError  # noqa: E402

__version__ = "0.1.0"

# public name -> (module, attribute, whether it needs Lava and torch)
_API: dict[str, tuple[str, str, bool]] = {
    "Recipe": (".recipe", "Recipe", False),
    "DataSpec": (".recipe", "DataSpec", False),
    "NeuronSpec": (".recipe", "NeuronSpec", False),
    "LayerSpec": (".recipe", "LayerSpec", False),
    "TrainSpec": (".recipe", "TrainSpec", False),
    "SpartaSpec": (".recipe", "SpartaSpec", False),
    "load_recipe": (".recipe", "load_recipe", False),
    "parse_recipe": (".recipe", "parse_recipe", False),
    "apply_overrides": (".recipe", "apply_overrides", False),
    "recipe_toml": (".recipe", "recipe_toml", False),
    "train": (".train", "train", True),
    "load_checkpoint": (".train", "load_checkpoint", True),
    "Trained": (".train", "Trained", True),
    "export": (".export", "export", True),
    "read_network": (".ir.hdf5", "read_network", False),
    "Graph": (".ir.graph", "Graph", False),
    "inspect": (".inspection", "inspect", False),
    "format_inspection": (".inspection", "format_inspection", False),
    "run_fast": (".backends.fast", "run_fast", True),
    "run_lava": (".backends.lava", "run_lava", True),
    "SimResult": (".backends.result", "SimResult", True),
    "test_inputs": (".evaluation", "test_inputs", True),
    "simulate": (".evaluation", "simulate", True),
    "verify": (".evaluation", "verify", True),
    "energy_report": (".energy.runner", "energy_report", True),
    "deploy_report": (".deploy.plan", "deploy_report", True),
    "run_comparison": (".results", "run_comparison", True),
}

__all__ = ["__version__", "LoihiSnnError", "import_lava", *_API]


def __getattr__(name: str) -> object:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr, heavy = _API[name]
    if heavy:
        import_lava()
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps the API's ``train`` and ``export`` functions when their modules of the same name
    are imported (the import system binds a submodule to its package's attribute); the modules
    stay reachable as ``from loihi_snn.train import ...`` or ``sys.modules``."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and name in _API:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
