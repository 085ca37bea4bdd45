"""Simulation backends: Lava (CPU ``fixed_pt`` or a Loihi 2 board) and the fast bit-exact
re-implementation, both returning :class:`.result.SimResult`.

Importing this package imports Lava first (:func:`loihi_snn._lava.import_lava` says why), so that
a backend works whatever ran before it in the process (a tqdm bar, torch, the user)."""

from .._lava import import_lava

import_lava()
