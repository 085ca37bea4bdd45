"""hilif."""
