"""Loihi 2's number ranges as Lava's ``fixed_pt`` models and netx apply them: the one place these
limits are written down (readers, exporters and the fast backend import them from here).

Units: weights, biases and thresholds are integer mantissas; decays are 12-bit fractions of 4096.
"""

from __future__ import annotations

WEIGHT_MIN, WEIGHT_MAX = -256, 255  # 8-bit weight mantissa (sign mode mixed: [-256, 254] even)
TRAINED_WEIGHT_MAX = 254  # largest weight the exporters write (lava-dl's quantize_8bit grid)
BIAS_MIN, BIAS_MAX = -4096, 4095  # 13-bit bias mantissa
BIAS_EXP = 6  # netx builds every LIF with bias_exp = 6: the bias enters v as bias_mant << 6
DECAY_UNIT = 4096  # decays are 12-bit fractions of 4096: iDecay = du + 1 and vDecay in [0, 4096]
VTH_MAX = (1 << 17) - 1  # 17-bit threshold mantissa, compared as v > vth << 6
NETX_FALLBACK_VTH = 1 << 17  # netx's neuron for a dense layer without neuron group: never spikes
NON_SPIKING_VTH = VTH_MAX  # an output layer at or above this never spikes: read its voltage
STATE_BITS = 24  # u wraps and v clips at 24 bits
MAX_DELAY = 62  # steps of synaptic delay Loihi 2 and netx support
FLOAT32_EXACT = 1 << 24  # Lava's Conv sums in float32: exact below this magnitude
GRADED_INPUT_BITS = 8  # message bits of graded input payloads
GRADED_STREAM_BITS = 24  # message bits of graded streams between layers

RELAY_NEURON = {"du": 4095, "dv": 4096, "vth": 0}  # a memoryless LIF re-emitting each spike once
