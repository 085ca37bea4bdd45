"""qktv."""
