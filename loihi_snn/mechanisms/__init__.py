"""The seeds' mechanisms, one folder each: integer rules, torch block, layer type, Lava process
and models, report."""
