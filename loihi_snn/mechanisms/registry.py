"""``LAYER_TYPES`` (file kind -> custom layer type), the one registry of the mechanisms' layer
types; importing this module makes them known to the IR (the file readers import it)."""

from ..ir.graph import register
from .alif_mask.layer import AlifMaskType
from .qktv.layer import QktvType
from .token_select.layer import TokenSelectType

LAYER_TYPES = {"alif_mask": AlifMaskType, "qktv": QktvType, "token_select": TokenSelectType}
register(LAYER_TYPES)
