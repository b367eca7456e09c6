"""What the modern recurrent cores share: a parallel linear scan and a residual stack.

Every diagonal linear recurrence h_t = a_t * h_{t-1} + b_t (minGRU, minLSTM, LRU, Mamba)
runs through ``linear_scan``; every such core is a ``Stacked`` core: ``layers`` pre-norm
residual blocks x + block(LN(x)) and a final LayerNorm (as in the LRU, Mamba, RetNet and
xLSTM papers), each block with a parallel ``forward`` for training and a one-step
``step`` whose chained calls give the same outputs (the recurrent form, for checking and
for ``unroll``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.errors import UserError
from memorybench.models.base import Core


def linear_scan(a: torch.Tensor, b: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """All h_t of h_t = a_t * h_{t-1} + b_t with h_{-1} = 0, along dim 1 of (B, T, ...)
    tensors (real or complex; ``a`` broadcast to ``b``'s shape).

    A two-level chunked scan: the sequence is cut into chunks of ``chunk`` steps (default
    ceil(sqrt T)); one loop over the positions inside a chunk runs every chunk at once,
    a second loop carries each chunk's end state into the next, and the carry reaches each
    step through the chunk's running product of a (``cumprod``). About 2 sqrt(T) Python
    steps instead of T, the same arithmetic as the step loop, and no division or log of
    a: nothing overflows however small a_t gets (products underflow to 0, harmlessly).
    """
    a = a.expand_as(b)
    B, T = b.shape[:2]
    L = chunk or max(1, math.isqrt(T - 1) + 1)
    n = -(-T // L)  # chunks
    if n * L != T:  # pad the end with a = 1, b = 0: later steps never reach earlier ones
        pad = (0, 0) * (b.dim() - 2) + (0, n * L - T)
        a, b = F.pad(a, pad, value=1.0), F.pad(b, pad)
    a = a.reshape(B, n, L, *b.shape[2:])  # (B, n, L, ...)
    b = b.reshape(B, n, L, *b.shape[2:])  # (B, n, L, ...)
    a_steps, b_steps = a.unbind(2), b.unbind(2)  # L x (B, n, ...)
    h = b_steps[0]
    local = [h]
    for a_j, b_j in zip(a_steps[1:], b_steps[1:], strict=True):
        h = a_j * h + b_j  # (B, n, ...): the scan inside every chunk from a zero start
        local.append(h)
    local_h = torch.stack(local, dim=2)  # (B, n, L, ...)
    decay = torch.cumprod(a, dim=2)  # (B, n, L, ...): product of a from the chunk start
    carry = torch.zeros_like(b_steps[0][:, 0])  # (B, ...): the state before chunk 0
    carries = []
    for end_h, end_a in zip(h.unbind(1), decay[:, :, -1].unbind(1), strict=True):
        carries.append(carry)
        carry = end_h + end_a * carry  # (B, ...): the state at this chunk's end
    h = local_h + decay * torch.stack(carries, dim=1).unsqueeze(2)  # (B, n, L, ...)
    return h.reshape(B, n * L, *b.shape[3:])[:, :T]  # (B, T, ...)


def check_sizes(name: str, **sizes: int) -> None:
    if min(sizes.values()) < 1:
        listed = ", ".join(f"{k}={v}" for k, v in sizes.items())
        raise UserError(f"model {name}: {listed}; expected positive integers")


class Stacked(Core):
    """``layers`` residual blocks x <- x + block(LN(x)) of width ``hidden``, then LayerNorm.

    ``block()`` makes one layer's block: a module with ``forward(u)`` (B, T, H) ->
    (B, T, H) (the parallel form), ``step(u_t, state)`` -> (y_t, new state) on (B, H) and
    flat real (B, S) states, and an int attribute ``state_floats`` (S).
    """

    recurrent_state = True

    def __init__(self, d_in: int, hidden: int, layers: int, block: Callable[[], nn.Module]):
        super().__init__()
        check_sizes(self.name, hidden=hidden, layers=layers)
        self.proj = nn.Identity() if d_in == hidden else nn.Linear(d_in, hidden)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.blocks = nn.ModuleList(block() for _ in range(layers))
        self.out_norm = nn.LayerNorm(hidden)
        self.out_features = hidden

    def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
        x = self.proj(h)  # (B, T, H)
        for norm, block in zip(self.norms, self.blocks, strict=True):
            x = x + block(norm(x))  # (B, T, H)
        x = self.out_norm(x)
        return x if per_step else x[:, -1]  # (B, T, H) | (B, H)

    def unroll(self, h: torch.Tensor) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor]:
        # The recurrent form: each block's ``step`` from the previous step's flat states.
        x = self.proj(h)  # (B, T, H)
        prev = tuple(x.new_zeros(x.shape[0], blk.state_floats) for blk in self.blocks)
        states, feats = [], []
        for x_t in x.unbind(1):  # T x (B, H)
            new = []
            for norm, block, s in zip(self.norms, self.blocks, prev, strict=True):
                y_t, s = block.step(norm(x_t), s)  # (B, H), (B, S)
                x_t = x_t + y_t
                new.append(s)
            prev = tuple(new)
            states.append(prev)
            feats.append(self.out_norm(x_t))  # (B, H)
        return states, torch.stack(feats, dim=1)  # (B, T, H)

    def forward_recurrent(self, h: torch.Tensor) -> torch.Tensor:
        """The step-by-step form of ``forward(h, per_step=True)``: one step at a time."""
        return self.unroll(h)[1]

    def state_size(self) -> int | None:
        return sum(block.state_floats for block in self.blocks)


class GLU(nn.Module):
    """Linear(H, 2H) then a * sigmoid(b) (Dauphin et al. 2017): the output mixing of the
    LRU and S4D blocks."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, 2 * width)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return F.glu(self.linear(y), dim=-1)  # (..., H)
