"""Loihi's rules and limits, nothing else: :mod:`.fixed_point` (the integer arithmetic of Lava's
``fixed_pt`` models) and :mod:`.limits` (the ranges a file must respect)."""
