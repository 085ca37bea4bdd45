"""alif_mask."""
