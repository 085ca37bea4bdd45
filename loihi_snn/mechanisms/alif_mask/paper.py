"""The BIASNN paper's op model (Sci. Rep. 2025, doi 10.1038/s41598-025-22430-3), as functions of
layer shapes.

The paper counts the arithmetic of the neurons of its three attention layers, per image and per
time step, and prices it at 45 nm (Horowitz 2014: addition 0.9 pJ, multiplication 3.7 pJ):

* LIF (the "LASNN" ablation): 229,376 multiplications and 458,752 additions, i.e. 2 and 4 per
  neuron of N_att = 64*32*32 + 128*16*16 + 256*8*8 = 114,688 (CIFAR-10). Multiplications:
  lambda*u and *(1-s); additions: 1-s, +x, u-V_th and the reset.
* ALIF (BIASNN): 458,755 multiplications = 4 per neuron (the LIF's two, plus rho*a and gamma*a of
  the adaptive threshold) + 1 per layer (a per-layer scalar such as rho = exp(-1/tau)); 688,688
  additions = 6 per neuron (the LIF's four, plus the spike-conditional (1-rho)*s and theta_0 + ...)
  + 560. The paper does not say where the 560 come from; C + C/4 per layer (448 + 112) is one fit
  and is what :data:`ALIF` uses, marked as such.

The MS-ResNet18 backbone (paper Table 1: stem k7 s1 p3; groups of two blocks with 64, 128, 256 and
512 channels, first convs of stride 1, 2, 2 and 1; attention after blocks 2, 4 and 6) gives the
attention shapes and, for the standard energy formula (E_AC x SOPs + E_MAC x FLOPs of the first
layer, SpiLiFormer Eqs. 25-27), the FLOPs (MACs) of its convolutions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ADD_PJ = 0.9  # pJ per addition, 45 nm (Horowitz 2014), as the paper prices it
MULT_PJ = 3.7  # pJ per multiplication, 45 nm (Horowitz 2014)
MAC_PJ = ADD_PJ + MULT_PJ  # 4.6 pJ

# (channels, stride of the group's first conv) of MS-ResNet18 as BIASNN uses it (paper Table 1).
GROUPS = ((64, 1), (128, 2), (256, 2), (512, 1))
BLOCKS_PER_GROUP = 2
ATTENTION_AFTER_BLOCKS = (2, 4, 6)
STEM = (64, 7, 1, 3)  # channels, kernel, stride, padding


@dataclass(frozen=True)
class NeuronOps:
    """Arithmetic per time step of one spiking layer under the paper's op model.

    mults_per_neuron, adds_per_neuron: operations per neuron update (count);
    mults_per_layer: per layer and step (count); channel_adds: divisors d, adding sum(C // d)
    additions per layer and step (the ALIF's unattributed 560, fitted as C + C/4).
    """

    name: str
    mults_per_neuron: int
    adds_per_neuron: int
    mults_per_layer: int = 0
    channel_adds: tuple[int, ...] = ()
    note: str = ""

    def count(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """(multiplications, additions) of one layer of neurons ``shape`` (C, H, W) for one image
        and one time step."""
        neurons = math.prod(shape)
        mults = self.mults_per_neuron * neurons + self.mults_per_layer
        adds = self.adds_per_neuron * neurons + sum(shape[0] // d for d in self.channel_adds)
        return mults, adds


LIF = NeuronOps(
    "lif", 2, 4, note="lambda*u, *(1-s); 1-s, +x, u-V_th, reset (the paper's LASNN counts, exact)"
)
ALIF = NeuronOps(
    "alif",
    4,
    6,
    mults_per_layer=1,
    channel_adds=(1, 4),
    note="LIF + rho*a, gamma*a; +(1-rho)s, theta_0+; 1 mult per layer (rho); "
    "C + C/4 adds per layer is a fit of the paper's unattributed 560",
)
NEURON_OPS = {"lif": LIF, "alif": ALIF}


def ms_resnet18_convs(input_shape: tuple[int, int, int] = (3, 32, 32)) -> list[dict]:
    """The convolutions of MS-ResNet18 in order: name, in/out channels, kernel, stride, output
    (C, H, W), whether their input is real-valued (stem and downsampling shortcuts) and MACs."""
    convs = []
    c, h, w = input_shape

    def conv(name: str, c_in: int, c_out: int, k: int, s: int, p: int, real: bool) -> None:
        nonlocal h, w
        oh, ow = ((size + 2 * p - k) // s + 1 for size in (h, w))  # torch's conv output size
        macs = c_in * k * k * c_out * oh * ow
        convs.append(
            {
                "name": name,
                "in": c_in,
                "out": c_out,
                "kernel": k,
                "stride": s,
                "shape": (c_out, oh, ow),
                "real_input": real,
                "macs": macs,
            }
        )

    channels, k, s, p = STEM
    conv("stem", c, channels, k, s, p, True)
    h, w = convs[-1]["shape"][1:]
    block = 0
    for out, stride in GROUPS:
        for b in range(BLOCKS_PER_GROUP):
            block += 1
            s = stride if b == 0 else 1
            h_in, w_in = h, w
            conv(f"block{block}.conv1", channels, out, 3, s, 1, False)
            h, w = convs[-1]["shape"][1:]
            conv(f"block{block}.conv2", out, out, 3, 1, 1, False)
            if channels != out or s != 1:
                h, w = h_in, w_in
                conv(f"block{block}.shortcut", channels, out, 1, s, 0, True)
                h, w = convs[-1]["shape"][1:]
            channels = out
    return convs


def ms_resnet18_attention_shapes(
    input_shape: tuple[int, int, int] = (3, 32, 32),
) -> list[tuple[int, int, int]]:
    """The (C, H, W) of the attention (ALIF) layers: the outputs of blocks 2, 4 and 6."""
    shapes = {}
    for conv in ms_resnet18_convs(input_shape):
        if conv["name"].endswith(".conv2"):
            shapes[int(conv["name"][5:].split(".")[0])] = conv["shape"]
    return [shapes[b] for b in ATTENTION_AFTER_BLOCKS]


def attention_ops(
    shapes: list[tuple[int, int, int]], neuron: str = "alif", time_steps: int = 1, images: int = 1
) -> tuple[int, int]:
    """(multiplications, additions) of the attention neurons of layers ``shapes`` under the paper's
    op model, for ``images`` images of ``time_steps`` steps (the paper's numbers: 1 and 1)."""
    ops = NEURON_OPS[neuron]
    mults = adds = 0
    for shape in shapes:
        m, a = ops.count(shape)
        mults, adds = mults + m, adds + a
    return mults * time_steps * images, adds * time_steps * images


def seeds_formula_energy(
    input_shape: tuple[int, int, int] = (3, 32, 32), rate: float = 0.0964, time_steps: int = 4
) -> dict[str, float]:
    """Energy (pJ per image) of MS-ResNet18 under the seeds' formula with a uniform firing rate:
    E_AC x rate x T x MACs of the spike-input convs + E_MAC x MACs of the stem (once, static image)
    + E_MAC x T x MACs of the real-valued downsampling shortcuts (which the papers leave out).
    An order-of-magnitude check only: the paper used per-layer rates."""
    convs = ms_resnet18_convs(input_shape)
    spike = sum(c["macs"] for c in convs if not c["real_input"])
    stem = sum(c["macs"] for c in convs if c["name"] == "stem")
    shortcut = sum(c["macs"] for c in convs if c["name"].endswith(".shortcut"))
    terms = {
        "spike_conv_sops": ADD_PJ * rate * time_steps * spike,
        "stem_macs_once": MAC_PJ * stem,
        "shortcut_macs": MAC_PJ * time_steps * shortcut,
    }
    terms["total"] = sum(terms.values())
    return terms


def paper_table(input_shape: tuple[int, int, int] = (3, 32, 32)) -> dict:
    """The paper's attention op counts (per image, per step) for LIF and ALIF with their 45 nm
    energies, the ALIF's extra cost, and the backbone MACs, as one JSON-able dict."""
    shapes = ms_resnet18_attention_shapes(input_shape)
    rows = {}
    for name in ("lif", "alif"):
        mults, adds = attention_ops(shapes, name)
        rows[name] = {
            "multiplications": mults,
            "additions": adds,
            "energy_pj": mults * MULT_PJ + adds * ADD_PJ,
            "rule": NEURON_OPS[name].note,
        }
    convs = ms_resnet18_convs(input_shape)
    return {
        "model": "BIASNN attention (MS-ResNet18), per image and time step",
        "source": "BIASNN, Sci. Rep. 2025 (doi 10.1038/s41598-025-22430-3)",
        "costs_pj": {"add": ADD_PJ, "mult": MULT_PJ},
        "input_shape": list(input_shape),
        "attention_shapes": [list(s) for s in shapes],
        "attention_neurons": sum(math.prod(s) for s in shapes),
        "neurons": rows,
        "alif_extra_pj": rows["alif"]["energy_pj"] - rows["lif"]["energy_pj"],
        "backbone_macs": {
            "spike_input_convs": sum(c["macs"] for c in convs if not c["real_input"]),
            "stem": sum(c["macs"] for c in convs if c["name"] == "stem"),
            "shortcuts": sum(c["macs"] for c in convs if c["name"].endswith(".shortcut")),
        },
        "seeds_formula_uniform_rate_pj": seeds_formula_energy(input_shape),
    }
