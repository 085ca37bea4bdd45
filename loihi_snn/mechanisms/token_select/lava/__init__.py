"""SPARTA's token selection as a Lava process (``process.py``) with ``fixed_pt`` and
``floating_pt`` models (``models.py``); its integer rules live in
:mod:`loihi_snn.mechanisms.token_select.rules`."""
