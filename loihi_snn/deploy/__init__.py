"""Deploying to a Loihi 2 board (``loihi-snn deploy``): what fits where, what it would cost, and
the hardware run. Hardware mapping stays apart from the network description (the IR).

Modules: :mod:`.chip` (a chip table as dataclasses: resources, boards, the calibration
benchmark), :mod:`.mapper` (layers to neurocores, embedded CPUs or the host under per-core
budgets; one message per violation), :mod:`.estimate` (energy and time per inference from the
toolkit's counts, calibrated on lava-dl's PilotNet LIF benchmark), :mod:`.report` (table and
JSON), :mod:`.hardware` (the ``Loihi2HwCfg`` run, needs lava-loihi) and :mod:`.cli` (the
subcommand). The package imports none of its modules, so registering the subcommand costs no
start-up time.
"""
