"""minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs all we
needed?").

Take the GRU and the LSTM, let their gates and candidate state depend on the input x_t
only, never on h_{t-1}, and drop the output tanh: the recurrence becomes diagonal and
linear in h, h_t = a_t * h_{t-1} + b_t with a_t, b_t computed for every step at once, and
all steps come out of one parallel scan (``scan.linear_scan``) instead of a loop.

    minGRU  (sec 3.1):    z_t = sigmoid(W_z x_t),  h~_t = W_h x_t
                          h_t = (1 - z_t) * h_{t-1} + z_t * h~_t
    minLSTM (sec 3.2):    f_t = sigmoid(W_f x_t),  i_t = sigmoid(W_i x_t),  h~_t = W_h x_t
                          f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t)
                          h_t = f'_t * h_{t-1} + i'_t * h~_t

The paper's version computes the scan in log space (Heinsen 2023), which needs a positive
h~ (its g(x) activation); ``linear_scan`` needs no log, so h~_t stays the plain linear
map of the definitions above.
Each layer is a residual pre-norm block around the cell (``scan.Stacked``), as in the
paper's deeper models.
"""

from __future__ import annotations

import torch
from torch import nn

from memorybench.models import MODELS
from memorybench.models.scan import Stacked, linear_scan


class MinGRUCell(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.gates = nn.Linear(width, 2 * width)  # [z pre-activation | h~]
        self.state_floats = width

    def coefficients(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b) of h_t = a * h_{t-1} + b, from the inputs alone."""
        pre, cand = self.gates(u).chunk(2, dim=-1)  # (..., H) each
        z = torch.sigmoid(pre)
        return 1 - z, z * cand  # (..., H) each

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return linear_scan(*self.coefficients(u))  # (B, T, H)

    def step(self, u_t: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.coefficients(u_t)  # (B, H) each
        h = a * h + b  # (B, H)
        return h, h


class MinLSTMCell(MinGRUCell):
    def __init__(self, width: int):
        super().__init__(width)
        self.gates = nn.Linear(width, 3 * width)  # [f | i | h~]

    def coefficients(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, i, cand = self.gates(u).chunk(3, dim=-1)  # (..., H) each
        f, i = torch.sigmoid(f), torch.sigmoid(i)
        total = f + i  # normalized gates: f' + i' = 1, so h stays time-independent in scale
        return f / total, i / total * cand  # (..., H) each


@MODELS.register("mingru")
class MinGRU(Stacked):
    """``layers`` residual blocks of a minGRU of width ``hidden``."""

    description = "minGRU: gates from x_t only, parallel scan (Feng et al. 2024)"

    def __init__(self, d_in: int, hidden: int = 256, layers: int = 1):
        super().__init__(d_in, hidden, layers, lambda: MinGRUCell(hidden))


@MODELS.register("minlstm")
class MinLSTM(Stacked):
    """``layers`` residual blocks of a minLSTM of width ``hidden``."""

    description = "minLSTM: normalized input-only gates, parallel scan (Feng et al. 2024)"

    def __init__(self, d_in: int, hidden: int = 208, layers: int = 1):
        super().__init__(d_in, hidden, layers, lambda: MinLSTMCell(hidden))
