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
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.errors import UserError
from memorybench.models.base import Core


def linear_scan(a: torch.Tensor, b: torch.Tensor, chunk: int | None = None,
                h0: torch.Tensor | None = None) -> torch.Tensor:
    """All h_t of h_t = a_t * h_{t-1} + b_t with h_{-1} = ``h0`` (default 0), along dim 1
    of (B, T, ...) tensors (real or complex; ``a`` broadcast to ``b``'s shape).

    A two-level chunked scan: the sequence is cut into chunks of ``chunk`` steps (default
    ceil(sqrt T)); one loop over the positions inside a chunk runs every chunk at once,
    a second loop carries each chunk's end state into the next, and the carry reaches each
    step through the chunk's running product of a. About 2 sqrt(T) Python steps instead
    of T, the same arithmetic as the step loop, and no division or log of a: nothing
    overflows however small a_t gets (products underflow to 0, harmlessly), unlike the
    cumulative-sum-of-logs scans (Heinsen 2023) at T in the thousands. The backward pass
    is the same scan run backwards in time (``_Scan``), not a graph of every small step.
    On CPU the scan is bound by memory traffic, not by Python: it pays where the step
    loop's per-step work is small (``benchmarks/scan_speed.py``).
    """
    a = a.expand_as(b).contiguous()
    if h0 is not None:  # h0 enters as part of the first step's input
        b = torch.cat([b[:, :1] + a[:, :1] * h0.unsqueeze(1), b[:, 1:]], dim=1)
    return _Scan.apply(a, b.contiguous(), chunk)


def _scan(a: torch.Tensor, b: torch.Tensor, chunk: int | None,
          reverse: bool = False) -> torch.Tensor:
    """``linear_scan`` without a graph; ``reverse``: h_t = a_t * h_{t+1} + b_t, h_T = 0."""
    B, T = b.shape[:2]
    L = chunk or max(1, math.isqrt(T - 1) + 1)
    n = -(-T // L)  # chunks
    if n * L != T:  # pad the end with b = 0: the padded steps reach no real step's state
        pad = (0, 0) * (b.dim() - 2) + (0, n * L - T)
        a, b = F.pad(a, pad, value=1.0), F.pad(b, pad)
    a = a.reshape(B, n, L, *b.shape[2:])  # (B, n, L, ...)
    b = b.reshape(B, n, L, *b.shape[2:])  # (B, n, L, ...)
    first, order = (L - 1, range(L - 2, -1, -1)) if reverse else (0, range(1, L))
    step = 1 if reverse else -1  # from position j, the one the recurrence comes from is j+step
    h = torch.empty_like(b)  # (B, n, L, ...): first the scan inside each chunk from 0
    decay = torch.empty_like(a)  # (B, n, L, ...): product of a from the chunk's start
    h[:, :, first], decay[:, :, first] = b[:, :, first], a[:, :, first]
    for j in order:
        torch.addcmul(b[:, :, j], a[:, :, j], h[:, :, j + step], out=h[:, :, j])
        torch.mul(a[:, :, j], decay[:, :, j + step], out=decay[:, :, j])
    carry = torch.zeros_like(b[:, :, 0])  # (B, n, ...): the state entering each chunk
    last = first + (L - 1) * -step  # the chunk's final position in scan order
    for c in (range(n - 2, -1, -1) if reverse else range(1, n)):
        torch.addcmul(h[:, c + step, last], decay[:, c + step, last], carry[:, c + step],
                      out=carry[:, c])
    h.addcmul_(decay, carry.unsqueeze(2))
    return h.reshape(B, n * L, *b.shape[3:])[:, :T]  # (B, T, ...)


class _Scan(torch.autograd.Function):
    """dLoss/db_t = g_t + conj(a_{t+1}) dLoss/db_{t+1}: the same recurrence backwards in
    time; dLoss/da_t = dLoss/db_t * conj(h_{t-1}) (torch's convention for complex)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, chunk: int | None) -> torch.Tensor:
        h = _scan(a, b, chunk)
        ctx.save_for_backward(a, h)
        ctx.chunk = chunk
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: torch.Tensor):
        a, h = ctx.saved_tensors
        later = F.pad(a[:, 1:].conj(), (0, 0) * (a.dim() - 2) + (0, 1))  # (B, T, ...): a_{t+1}
        grad_b = _scan(later, g.contiguous(), ctx.chunk, reverse=True)
        earlier = F.pad(h[:, :-1].conj(), (0, 0) * (h.dim() - 2) + (1, 0))  # h_{t-1}
        return grad_b * earlier, grad_b, None


def check_sizes(name: str, **sizes: int) -> None:
    if min(sizes.values()) < 1:
        listed = ", ".join(f"{k}={v}" for k, v in sizes.items())
        raise UserError(f"model {name}: {listed}; expected positive integers")


def check_heads(name: str, hidden: int, heads: int, chunk: int) -> None:
    """Positive sizes, and a width that splits evenly into ``heads``."""
    check_sizes(name, heads=heads, chunk=chunk)
    if hidden % heads:
        raise UserError(f"model {name}: hidden={hidden}, heads={heads}; expected hidden a "
                        "multiple of heads")


class StepBlock(Protocol):
    """What ``Stacked.unroll`` needs of a block: one step, and the size of its state."""

    state_floats: int

    def step(self, u_t: torch.Tensor, state: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]: ...


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

    def _step_blocks(self) -> list[StepBlock]:
        """The blocks, as ``block()`` made them (a ModuleList types them as any module)."""
        return cast(list[StepBlock], list(self.blocks))

    def unroll(self, h: torch.Tensor) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor]:
        # The recurrent form: each block's ``step`` from the previous step's flat states.
        x = self.proj(h)  # (B, T, H)
        prev = tuple(x.new_zeros(x.shape[0], blk.state_floats) for blk in self._step_blocks())
        states, feats = [], []
        for x_t in x.unbind(1):  # T x (B, H)
            new = []
            for norm, block, s in zip(self.norms, self._step_blocks(), prev, strict=True):
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
        return sum(block.state_floats for block in self._step_blocks())


class GLU(nn.Module):
    """Linear(H, 2H) then a * sigmoid(b) (Dauphin et al. 2017): the output mixing of the
    LRU and S4D blocks."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, 2 * width)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return F.glu(self.linear(y), dim=-1)  # (..., H)
