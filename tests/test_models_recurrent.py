"""Properties of particular recurrent cores that the battery cannot state for every model:
each test runs over every registered model built on that core (variants in ``models/``
included), at one and two layers."""

from __future__ import annotations

import pytest
import torch

from memorybench.catalog import model_class, model_names, model_spec
from memorybench.models.base import Core
from memorybench.models.recurrent import IRNN, LSTM, BiRNN

NETWORKS = [n for n in model_names() if issubclass(model_class(n), Core)]
B, T, D, H = 3, 7, 5, 6
layer_counts = pytest.mark.parametrize("layers", [1, 2])


def on(core: type[Core]) -> pytest.MarkDecorator:
    """Parametrize over the registered models whose core is ``core`` or a subclass."""
    return pytest.mark.parametrize("name", [n for n in NETWORKS
                                            if issubclass(model_class(n), core)])


def build(name: str, layers: int, **override):
    torch.manual_seed(0)
    params = {**model_spec(name).get("params", {}), "hidden": H, "layers": layers, **override}
    return model_class(name)(d_in=D, **params)


@on(BiRNN)
@layer_counts
def test_birnn_sequence_output_is_both_final_states(name, layers):
    """Forward direction after the last step, backward direction after the first: the
    two states that have each read the whole sequence."""
    core = build(name, layers)
    h = torch.randn(B, T, D)
    steps = core(h, per_step=True)  # (B, T, 2H): forward | backward at each step
    assert steps.shape == (B, T, 2 * H)
    expected = torch.cat([steps[:, -1, :H], steps[:, 0, H:]], dim=-1)  # (B, 2H)
    torch.testing.assert_close(core(h, per_step=False), expected, rtol=0, atol=1e-6)


@on(IRNN)
@layer_counts
def test_irnn_starts_from_identity_recurrence_and_zero_biases(name, layers):
    """Le, Jaitly & Hinton 2015, sec 2: with no input the initial state is carried on
    unchanged, in every layer."""
    rnn = build(name, layers).rnn
    assert rnn.nonlinearity == "relu" and rnn.num_layers == layers
    for k in range(layers):
        torch.testing.assert_close(getattr(rnn, f"weight_hh_l{k}"), torch.eye(H),
                                   rtol=0, atol=0)
        assert not getattr(rnn, f"bias_ih_l{k}").any()
        assert not getattr(rnn, f"bias_hh_l{k}").any()
        assert getattr(rnn, f"weight_ih_l{k}").abs().sum() > 0  # inputs are not zeroed


@on(LSTM)
@layer_counts
@pytest.mark.parametrize("forget_bias", [1.0, 2.5])
def test_lstm_forget_gate_bias(name, layers, forget_bias):
    """Gers et al. 2000: every layer and direction starts with forget-gate bias
    ``forget_bias`` (bias_ih + bias_hh; torch orders the gates i, f, g, o)."""
    rnn = build(name, layers, forget_bias=forget_bias).rnn
    biases = dict(rnn.named_parameters())
    directions = ["", "_reverse"] if rnn.bidirectional else [""]
    for k in range(layers):
        for suffix in directions:
            total = biases[f"bias_ih_l{k}{suffix}"] + biases[f"bias_hh_l{k}{suffix}"]  # (4H,)
            assert torch.all(total[H:2 * H] == forget_bias), (k, suffix)
            assert not torch.all(total[:H] == forget_bias)  # the other gates keep torch's init
