"""loihi_snn: attention-based spiking networks from lava-dl training to Intel Loihi 2."""

import contextlib
import io
import sys

if sys.version_info[:2] != (3, 10):
    sys.exit(
        f"loihi-snn: error: needs Python 3.10 (lava-nc 0.10 / lava-dl 0.6 support no other), "
        f"this is "
        f"{sys.version.split()[0]}: run 'make demo' or 'make test', which build .venv with a 3.10"
    )

# Lava's runtime calls multiprocessing.set_start_method('fork') when first imported, which fails
# once anything else (tqdm's lock, torch) has fixed the start method: import it first. lava-dl
# prints notes about CUDA and an optional Prophesee toolbox on import; they are not ours to show.
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import lava.lib.dl.netx  # noqa: F401
    import lava.lib.dl.slayer  # noqa: F401
    import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401

__version__ = "0.1.0"
