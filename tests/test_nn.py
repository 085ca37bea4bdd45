"""The toolkit's CUBA neuron computes what lava-dl's computes, values and gradients, bit for bit."""

import pytest
import torch
from lava.lib.dl import slayer

from loihi_snn.nn import CubaNeuron


@pytest.mark.parametrize("learn_decays", [False, True])
@pytest.mark.parametrize(
    ("current_decay", "voltage_decay"),
    [(1.0, 0.75), (1.0, 1.0), (1.0, 0.0), (0.25, 0.03), (0.0, 0.5)],
)
def test_the_neuron_equals_lava_dl_s(
    current_decay: float, voltage_decay: float, learn_decays: bool
) -> None:
    params = dict(threshold=0.5, current_decay=current_decay, voltage_decay=voltage_decay,
                  tau_grad=0.1, scale_grad=1.0, requires_grad=learn_decays)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 5, 6, generator=generator) * 0.7  # fractions, both signs
    mix = torch.randn(3, 4, 5, 5, 6, generator=generator)
    outputs, grads = [], []
    for neuron in (slayer.neuron.cuba.Neuron(**params), CubaNeuron(**params)):
        for _ in range(2):  # the first call also sizes the neuron
            inp = x.clone().requires_grad_(True)
            current, voltage = neuron.dynamics(inp)
            spikes = neuron.spike(voltage)
            ((spikes + voltage + current) * mix).sum().backward()
        outputs.append((current, voltage, spikes))
        grads.append([inp.grad] + ([neuron.current_decay.grad, neuron.voltage_decay.grad]
                                   if learn_decays else []))
        assert tuple(neuron.shape) == (4, 5, 5)
    for ours, theirs in zip(outputs[1], outputs[0], strict=True):
        assert torch.equal(ours, theirs)
    for ours, theirs in zip(grads[1], grads[0], strict=True):
        assert torch.equal(ours, theirs)
    assert outputs[0][2].sum() > 0 and outputs[0][2].mean() < 0.9  # spikes, not all
    assert not torch.equal(outputs[0][0], x)  # the grid truncation is part of what is compared
    if learn_decays:
        assert all(g.abs().sum() > 0 for g in grads[0][1:])


def test_the_compiled_integrator_equals_lava_dl_s_on_large_states() -> None:
    """States far from the threshold, both signs, over many steps: the int64 arithmetic, the
    truncation towards zero and torch's float32 comparison, as lava-dl computes them."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 300, 40, generator=generator) * 3000
    params = dict(threshold=2000.0, current_decay=0.01, voltage_decay=0.001, requires_grad=False)
    theirs = slayer.neuron.cuba.Neuron(**params).dynamics(x)
    ours = CubaNeuron(**params).dynamics(x)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
    # beyond 2^18 (x 64 = 2^24), where float32 no longer holds every 1/64 step of the state
    assert theirs[1].abs().max() > 2**18


def test_a_sized_neuron_refuses_another_shape_as_lava_dl_s_does() -> None:
    for neuron in (slayer.neuron.cuba.Neuron(threshold=0.5, current_decay=1.0, voltage_decay=0.5),
                   CubaNeuron(threshold=0.5, current_decay=1.0, voltage_decay=0.5)):
        neuron(torch.rand(2, 3, 4))
        with pytest.raises(AssertionError, match="does not match"):
            neuron(torch.rand(2, 5, 4))
