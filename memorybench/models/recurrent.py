"""Recurrent cores on torch's fused modules (several times faster on CPU than a
Python loop over time steps)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.base import Core


class FusedRecurrent(Core):
    """A stack of ``layers`` recurrent layers of width ``hidden``; the sequence summary is
    the top layer's output after the last step."""

    version = 1  # bump when a change alters what the model computes or learns

    module: ClassVar[type[nn.RNN] | type[nn.LSTM] | type[nn.GRU]]
    extra: ClassVar[dict[str, Any]] = {}

    def __init__(self, d_in: int, hidden: int = 128, layers: int = 1):
        super().__init__()
        if hidden < 1 or layers < 1:
            raise UserError(f"model {self.name}: hidden={hidden}, layers={layers}; "
                            "expected positive integers")
        self.rnn = self.module(d_in, hidden, num_layers=layers, batch_first=True, **self.extra)
        self.out_features = hidden

    recurrent_state = True

    def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
        out, _ = self.rnn(h)  # (B, T, hidden)
        return out if per_step else out[:, -1]  # (B, T, hidden) | (B, hidden)

    def state_size(self) -> int | None:
        # h per layer and direction; an LSTM also carries its cell c
        per_layer = self.rnn.hidden_size * (2 if self.rnn.bidirectional else 1)
        return per_layer * self.rnn.num_layers * (2 if isinstance(self.rnn, nn.LSTM) else 1)

    def unroll(self, h: torch.Tensor) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor]:
        # The fused module's output sequence feeds no later step, so a gradient with respect
        # to it is not dLoss/dh_t through time. Here the same weights run one step per call,
        # each step starting from the previous step's state tensors. For an LSTM the state
        # is h_t; its cell c_t is carried alongside.
        B = h.shape[0]
        n, width = self.rnn.num_layers, self.rnn.hidden_size
        layers = tuple(h.new_zeros(B, width) for _ in range(n))  # n x (B, hidden), h_0 = 0
        cell = h.new_zeros(n, B, width) if isinstance(self.rnn, nn.LSTM) else None
        states = []
        for x_t in h.unbind(1):  # T x (B, d)
            hx = torch.stack(layers)  # (layers, B, hidden)
            _, h_n = self.rnn(x_t[:, None], hx if cell is None else (hx, cell))
            if cell is not None:
                h_n, cell = h_n  # (layers, B, hidden) each
            layers = tuple(h_n.unbind(0))  # n x (B, hidden)
            states.append(layers)
        return states, torch.stack([s[-1] for s in states], dim=1)  # (B, T, hidden)


@MODELS.register("elman")
class Elman(FusedRecurrent):
    description = "Elman RNN: h_t = tanh(W x_t + U h_{t-1} + b) (Elman 1990)"
    module = nn.RNN
    extra = {"nonlinearity": "tanh"}


@MODELS.register("lstm")
class LSTM(FusedRecurrent):
    description = "long short-term memory with forget gate (Hochreiter 1997; Gers 2000)"
    module = nn.LSTM

    def __init__(self, d_in: int, hidden: int = 128, layers: int = 1, forget_bias: float = 1.0):
        super().__init__(d_in, hidden, layers)
        # A positive forget-gate bias keeps the cell path open at the start of training
        # (Gers et al. 2000; Jozefowicz et al. 2015). Gates are ordered i, f, g, o.
        with torch.no_grad():
            for name, bias in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    bias[hidden:2 * hidden].fill_(forget_bias)
                elif name.startswith("bias_hh"):
                    bias[hidden:2 * hidden].zero_()


@MODELS.register("gru")
class GRU(FusedRecurrent):
    description = "gated recurrent unit (Cho et al. 2014)"
    module = nn.GRU


@MODELS.register("irnn")
class IRNN(FusedRecurrent):
    description = "ReLU RNN with identity recurrent init (Le, Jaitly & Hinton 2015)"
    module = nn.RNN
    extra = {"nonlinearity": "relu"}

    def __init__(self, d_in: int, hidden: int = 128, layers: int = 1):
        super().__init__(d_in, hidden, layers)
        # Identity recurrence and zero bias: at the start the state is copied from step to
        # step, so neither it nor its gradient decays (Le et al. 2015, sec 2).
        with torch.no_grad():
            for name, w in self.rnn.named_parameters():
                if name.startswith("weight_hh"):
                    w.copy_(torch.eye(hidden))
                elif name.startswith("bias"):
                    w.zero_()


@MODELS.register("birnn")
class BiRNN(LSTM):
    """Reads the sequence in both directions, so the output at step t sees every step."""

    description = "bidirectional LSTM (Schuster & Paliwal 1997; Graves & Schmidhuber 2005)"
    extra = {"bidirectional": True}
    causal = False
    recurrent_state = False  # two states running in opposite directions, not one through time

    def __init__(self, d_in: int, hidden: int = 128, layers: int = 1, forget_bias: float = 1.0):
        super().__init__(d_in, hidden, layers, forget_bias)  # both directions' forget gates
        self.out_features = 2 * hidden

    def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
        out, (h_n, _) = self.rnn(h)  # (B, T, 2 hidden), h_n (layers * 2, B, hidden)
        if per_step:
            return out  # (B, T, 2 hidden): forward and backward state at each step
        # The final state of each direction of the top layer: the forward one after step
        # T-1, the backward one after step 0; each has read the whole sequence.
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2 hidden)
