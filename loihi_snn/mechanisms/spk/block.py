"""SpikeAtConv's SPK blocks as activations of the residual models (SpikeAtConv, section "SPK
blocks"; the paper gives the blocks in words, the equations are this toolkit's reading):

    SL   : Y = LIF_th(X)                                      one LIF population
    RL   : S1 = LIF_th1(X),  S2 = LIF_th2(S1),  Y = S1 + S2   the "auxiliary branch" keeps S1
    MBPL : S_k = LIF_th_k(X), k = 1..K,  Y = sum_k S_k        parallel LIFs, distinct thresholds

X is the population's input current (float units of the trained model), thresholds are the
recipe's neuron threshold times ``spk_thresholds`` (the paper's best MBPL: K = 4, {0.2, 1, 2, 4}).
Decision: MBPL's per-branch ConvNeXt-style g_k of the paper is the identity, so Y is a
(K + 1)-level quantisation of X and every branch is an ordinary spike train: whatever reads Y
reads each S_k through its own copy of the projection (the sum happens in the dendrite, as Loihi
adds the messages of all synapses into a neuron), and the block exports as K stock LIF populations
sharing the input projections, each with its own scalar threshold (Lava's LIF takes one threshold
per population: no folding needed). RL's second LIF reads S1 through an identity projection of
one float unit of current. All branches share the recipe's decays.
"""

from __future__ import annotations

import torch

from ...errors import LoihiSnnError
from ...nn import CubaNeuron
from .rules import threshold_problem


class SpkBlock(torch.nn.Module):
    """An SPK block over the current X (N, C, H, W, T) or (N, F, T): ``forward`` gives Y, and
    ``branch_spikes`` the spikes of every branch population of the last call, in export order.

    kind: sl | rl | mbpl; thresholds: one per branch in float current units (sl 1, rl 2, mbpl K);
    neuron: SLAYER CUBA parameters shared by every branch (without the threshold)."""

    def __init__(self, kind: str, thresholds: list[float], neuron: dict) -> None:
        super().__init__()
        problem = threshold_problem(kind, thresholds)
        if problem:
            raise LoihiSnnError(problem)
        self.kind, self.thresholds = kind, [float(t) for t in thresholds]
        self.lifs = torch.nn.ModuleList(
            CubaNeuron(threshold=t, **neuron) for t in self.thresholds
        )
        self.branch_spikes: list[torch.Tensor] = []

    @property
    def device_params(self) -> dict:
        return self.lifs[0].device_params

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "rl":
            first = self.lifs[0](x)
            self.branch_spikes = [first, self.lifs[1](first)]
        else:
            self.branch_spikes = [lif(x) for lif in self.lifs]
        return sum(self.branch_spikes)
