"""The mechanisms' reports (kind -> report module with ``add_parsers(subparsers)``), whose
subcommands the ``loihi-snn`` command registers.

Kept apart from ``LAYER_TYPES`` (:mod:`.registry`): the file readers import that registry, while
the reports run files through the backends and the trained models, so a registry of both would
make the IR depend on everything above it. The report modules import heavy modules only inside
their functions, so that registering their subcommands stays cheap."""

from __future__ import annotations

from .alif_mask import report as alif_mask
from .lidiff import report as lidiff
from .spk import report as spk
from .token_select import report as token_select

REPORTS = {
    "alif_mask": alif_mask, "lidiff": lidiff, "spk": spk, "token_select": token_select,
}
