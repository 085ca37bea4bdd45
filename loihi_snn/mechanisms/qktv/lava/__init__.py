"""SpiLiFormer's attention product Q (K^T V) as a Lava process (``process.py``) with ``fixed_pt``
and ``floating_pt`` models (``models.py``); its integer rule lives in
:mod:`loihi_snn.mechanisms.qktv.rules`."""
