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

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return linear_scan(*_NormalizedGates.apply(self.gates(u)))  # (B, T, H)


class _NormalizedGates(torch.autograd.Function):
    """``MinLSTMCell.coefficients`` from the gates' pre-activations (..., 3H), the same
    arithmetic, with a backward of a few products instead of autograd's graph of every
    sigmoid, sum and quotient (which took about half of the parallel form's time).

    With s_f = sigmoid(f), s_i = sigmoid(i), a = s_f / (s_f + s_i), w = s_i / (s_f + s_i)
    and b = w h~: m = (dL/da - dL/db h~) a w gives dL/df = m (1 - s_f), dL/di = -m (1 - s_i),
    dL/dh~ = dL/db w.
    """

    @staticmethod
    def forward(ctx, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, i, cand = pre.chunk(3, dim=-1)  # (..., H) each
        f, i = torch.sigmoid(f), torch.sigmoid(i)
        total = f + i
        a, w = f / total, i / total
        ctx.save_for_backward(f, i, a, w, cand)
        return a, w * cand  # (..., H) each

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_a: torch.Tensor, grad_b: torch.Tensor) -> torch.Tensor:
        f, i, a, w, cand = ctx.saved_tensors
        grad = torch.empty(*a.shape[:-1], 3, a.shape[-1], dtype=a.dtype)  # (..., 3, H)
        torch.mul(grad_b, w, out=grad[..., 2, :])
        m = torch.addcmul(grad_a, grad_b, cand, value=-1).mul_(a).mul_(w)
        torch.addcmul(m, m, f, value=-1, out=grad[..., 0, :])  # m (1 - s_f)
        torch.addcmul(m, m, i, value=-1, out=grad[..., 1, :]).neg_()  # -m (1 - s_i)
        return grad.flatten(-2)  # (..., 3H)


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
