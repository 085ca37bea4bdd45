"""Loihi 2's limits, the one place they are loaded: the chip table ``loihi2.toml`` beside this
module (each value with its source and how sure it is: published, measured or assumption), read
once at import, and the constants the readers, exporters and backends import from here.

A chip table has the sections ``limits`` (number ranges as Lava's ``fixed_pt`` models and netx
apply them), ``chip`` (resources per chip), ``boards`` and ``benchmark`` (a measured workload the
cost model is calibrated on); every entry is ``{ value, sure, source }``. A new chip is a new
table (:func:`load_table`; the deploy mapper takes one with ``--chip``).

Units: weights, biases and thresholds are integer mantissas; decays are 12-bit fractions of 4096.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import tomli

from ..errors import LoihiSnnError

SURENESS = ("published", "measured", "assumption")
SECTIONS = ("limits", "chip", "boards", "benchmark")


def _check_entry(entry: object, where: str) -> None:
    if not isinstance(entry, dict) or set(entry) != {"value", "sure", "source"}:
        raise LoihiSnnError(f"{where} must be {{ value, sure, source }}")
    if entry["sure"] not in SURENESS:
        raise LoihiSnnError(f"{where}: sure must be one of {', '.join(SURENESS)}")
    if not isinstance(entry["source"], str) or not entry["source"].strip():
        raise LoihiSnnError(f"{where}: source must say where the value comes from")


def load_table(path: str | Path | None = None) -> dict:
    """A chip table (default: the packaged ``loihi2.toml``), every entry checked to carry a
    value, how sure it is and its source (LoihiSnnError naming the entry otherwise)."""
    if path is None:
        text = resources.files(__package__).joinpath("loihi2.toml").read_text()
        path = "loihi2.toml"
    else:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise LoihiSnnError(f"cannot read chip table {path}: {err.strerror}") from None
    try:
        table = tomli.loads(text)
    except tomli.TOMLDecodeError as err:
        raise LoihiSnnError(f"{path} is not valid TOML: {err}") from None
    missing = [s for s in SECTIONS if not isinstance(table.get(s), dict)]
    if missing or not isinstance(table.get("name"), str):
        raise LoihiSnnError(
            f"{path}: a chip table needs a name and the tables {', '.join(SECTIONS)}"
        )
    for section in ("limits", "chip", "benchmark"):
        for key, entry in table[section].items():
            _check_entry(entry, f"{path}: {section}.{key}")
    for board, entries in table["boards"].items():
        for key, entry in entries.items():
            _check_entry(entry, f"{path}: boards.{board}.{key}")
    return table


LOIHI2 = load_table()


def _limit(key: str) -> int:
    return LOIHI2["limits"][key]["value"]


WEIGHT_MIN, WEIGHT_MAX = _limit("weight_min"), _limit("weight_max")  # 8-bit mantissa, sign mode
TRAINED_WEIGHT_MAX = _limit("trained_weight_max")  # largest weight the exporters write (254)
BIAS_MAX = (1 << (_limit("bias_bits") - 1)) - 1  # 13-bit bias mantissa: [-4096, 4095]
BIAS_MIN = -BIAS_MAX - 1
BIAS_EXP = _limit("bias_exp")  # netx builds every LIF with bias_exp = 6: bias enters v << 6
DECAY_UNIT = 1 << _limit("decay_bits")  # 4096: iDecay = du + 1 and vDecay in [0, 4096]
VTH_MAX = (1 << _limit("vth_bits")) - 1  # 17-bit threshold mantissa, compared as v > vth << 6
NETX_FALLBACK_VTH = VTH_MAX + 1  # netx's neuron for a dense layer without neuron group: silent
NON_SPIKING_VTH = VTH_MAX  # an output layer at or above this never spikes: read its voltage
STATE_BITS = _limit("state_bits")  # u wraps and v clips at 24 bits
MAX_DELAY = _limit("max_delay")  # steps of synaptic delay Loihi 2 and netx support
FLOAT32_EXACT = 1 << _limit("float32_exact_bits")  # Lava's Conv sums in float32: exact below
GRADED_INPUT_BITS = _limit("graded_input_bits")  # message bits of graded input payloads
GRADED_STREAM_BITS = _limit("graded_stream_bits")  # message bits of graded streams between layers

RELAY_NEURON = {"du": DECAY_UNIT - 1, "dv": DECAY_UNIT, "vth": 0}  # re-emits each spike once

# The simulators' caps (not Loihi's): a file beyond one is refused when it is read, before a run
# allocates anything (a resource bomb). The largest real networks stay 20-50x below them: lava-dl's
# PilotNet LIF (76,032 neurons in a layer, 2.5 M neuron-steps and 0.23 G synapse-steps per sample),
# N-TIDIGITS (3,000 steps per sample), the toolkit's fmnist_cnn (802,816 weights in a layer).
MAX_LAYER_NEURONS = 1 << 22  # neurons in one layer (and values in a conv's padded input)
MAX_TIME_STEPS = 1 << 16  # time steps per sample
MAX_NEURON_STEPS = 1 << 27  # time steps x neurons of all layers, per sample
MAX_SYNAPSE_STEPS = 1 << 33  # time steps x synapses as the backends run them, per sample
MAX_VALUES = 1 << 25  # values in one dataset of a file, or in a projection's weights in Lava
