"""Energy and synaptic-operation reports from simulation traces (``loihi-snn energy``).

Modules: :mod:`.geometry` (synapses of a NetX file: fan-out and dense FLOPs), :mod:`.counting`
(per-layer operation counts, and active vs inactive neuron updates from the neuron states the
backend recorded, from a :class:`loihi_snn.backends.result.SimResult`), :mod:`.costs` (energy per
operation, with sources), :mod:`.report` (table, JSON and bar chart), :mod:`.runner` (run and
count) and :mod:`.cli` (the ``energy`` subcommand); the BIASNN paper's op model is
:mod:`loihi_snn.mechanisms.alif_mask.paper`. Units
are stated in every docstring; energies are in picojoules (pJ) unless a name says otherwise.

The package imports none of its modules, so wiring the subcommand into the CLI costs no start-up
time (torch and Lava load only when ``energy`` runs).
"""
