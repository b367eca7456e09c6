"""The orthogonal RNN's hand-written backward pass computes autograd's gradients."""

import pytest
import torch

from memorybench.models.orthogonal import Orthogonal
from memorybench.models.recurrences import modrelu_layer


def test_the_modrelu_layer_passes_gradcheck():
    g = torch.Generator().manual_seed(0)
    drive = torch.randn(7, 3, 5, generator=g, dtype=torch.double, requires_grad=True)
    w = (torch.randn(5, 5, generator=g, dtype=torch.double) * 0.5).requires_grad_()
    bias = (torch.rand(5, generator=g, dtype=torch.double) - 0.5).requires_grad_()
    assert torch.autograd.gradcheck(modrelu_layer, (drive, w, bias))


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("per_step", [True, False])
def test_forward_has_the_autograd_loops_values_and_gradients(layers, per_step):
    """``unroll`` runs the same recurrence step by step under autograd: the reference."""
    torch.manual_seed(0)
    core = Orthogonal(4, 6, layers).double()
    with torch.no_grad():  # some biases below zero, so that some units are cut off
        for act in core.act:
            act.bias.uniform_(-0.5, 0.5)
    h = torch.randn(3, 9, 4, dtype=torch.double)
    expected = core.unroll(h)[1]
    assert (expected == 0).any() and (expected != 0).any()  # units cut off, and not
    got = core(h, per_step)
    expected = expected if per_step else expected[:, -1]
    assert torch.equal(got, expected)  # the forward pass is the same arithmetic
    params = list(core.parameters())
    want = torch.autograd.grad(expected.square().sum(), params)
    have = torch.autograd.grad(got.square().sum(), params)
    assert len(params) == 3 * layers
    for (name, _), a, b in zip(core.named_parameters(), want, have, strict=True):
        torch.testing.assert_close(b, a, msg=name)


def test_a_unit_at_exactly_zero_passes_no_gradient_as_under_autograd():
    """sign(0) = 0: a zero drive at the first step gives h = 0 and no gradient, whatever
    the bias (autograd's sign(z) * relu(|z| + b) gives the same)."""
    drive = torch.zeros(2, 1, 3, dtype=torch.double, requires_grad=True)
    w = torch.eye(3, dtype=torch.double, requires_grad=True)
    bias = torch.full((3,), 0.5, dtype=torch.double, requires_grad=True)
    out = modrelu_layer(drive, w, bias)
    assert torch.equal(out, torch.zeros_like(out))
    grads = torch.autograd.grad(out.sum(), (drive, w, bias))
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)
