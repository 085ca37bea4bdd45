"""The seeds' mechanisms, one folder each: integer rules, torch block, layer type, Lava process
and models, report. ``LAYER_TYPES`` (file kind -> layer type) is the one registry; importing
this package makes the types known to the IR. The reports' subcommands are listed apart, in
:mod:`loihi_snn.mechanisms.reports` (``REPORTS``), so that the file readers do not import them."""

from ..ir.graph import register
from .alif_mask.layer import AlifMaskType
from .token_select.layer import TokenSelectType

LAYER_TYPES = {"alif_mask": AlifMaskType, "token_select": TokenSelectType}
register(LAYER_TYPES)
