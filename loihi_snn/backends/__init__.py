"""Simulation backends: Lava (CPU ``fixed_pt`` or a Loihi 2 board) and the fast bit-exact
re-implementation, both returning :class:`.result.SimResult`."""
