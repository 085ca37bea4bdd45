"""loihi_snn: attention-based spiking networks from lava-dl training to Intel Loihi 2."""

# Lava's runtime calls multiprocessing.set_start_method('fork') when first imported, which fails
# once anything else (tqdm's lock, torch) has fixed the start method: import it first.
import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401

__version__ = "0.1.0"
