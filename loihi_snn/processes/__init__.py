"""loihi_snn's custom Lava processes, one package each: Lava's compiler imports every module
beside a Process to find its ProcessModels, so each package holds only ``process.py`` and
``models.py``."""
