"""A graded relay that delays its input by a fixed number of steps (``process.py``,
``models.py``): the loader's alignment of graded streams (e.g. a gated membrane stream read by a
later population), where spike streams use relay LIF neurons."""
