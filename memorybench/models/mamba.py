"""Mamba: the selective state space block (Gu & Dao 2023, "Mamba: linear-time sequence
modeling with selective state spaces").

S6 (sec 3.2, Algorithm 2): the step Delta and the matrices B and C are computed from the
input, so the model chooses per step what to store and what to forget:

    Delta_t = softplus(W_dt (W_r x_t) + b_dt)        (E,)   rank-R projection
    B_t, C_t = W_B x_t, W_C x_t                      (N,) each
    A = -exp(A_log), S4D-Real init A_n = -(n + 1)    (E, N)
    h_t = exp(Delta_t A) * h_{t-1} + Delta_t B_t x_t (E, N)  (zero-order hold for A, the
    y_t = C_t h_t + D * x_t                          (E,)     paper's simpler B' = Delta B)

The block (sec 3.4, Figure 3): expand H to E = expand * H twice, x and z; x goes through a
causal depthwise convolution of width ``conv`` and SiLU, then S6; the output is gated by
SiLU(z) and projected back to H. Initialization (sec 3.6): Delta's bias is the
inverse softplus of dt ~ log-uniform [dt_min, dt_max] = [0.001, 0.1]; R = ceil(H / 16).
The time-varying recurrence runs through ``_SelectiveScan``, a few steps at a time on
in-cache tensors with a hand-written backward; ``step`` runs it one step at a time with a
buffer of the last ``conv - 1`` inputs for the convolution.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.scan import Stacked, check_sizes

# Steps per chunk of the selective scan: its (B, CHUNK, N, E) working tensors stay in
# cache (4 measured fastest at batch 32, E = 128: benchmarks/scan_speed.py).
CHUNK = 4
LOG2E = 1 / math.log(2)


class MambaBlock(nn.Module):
    def __init__(self, width: int, state: int, expand: int, conv: int, dt_min: float,
                 dt_max: float):
        super().__init__()
        inner, rank = expand * width, math.ceil(width / 16)
        self.inner, self.state, self.rank, self.k = inner, state, rank, conv
        self.in_proj = nn.Linear(width, 2 * inner, bias=False)  # [x | z]
        self.conv = nn.Conv1d(inner, inner, conv, groups=inner)  # depthwise; causal by padding
        self.x_proj = nn.Linear(inner, rank + 2 * state, bias=False)  # [dt | B | C]
        self.dt_proj = nn.Linear(rank, inner)
        dt = torch.exp(torch.rand(inner) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min))  # (E,) log-uniform in [dt_min, dt_max]
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state + 1.0)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))  # (E,)
        self.out_proj = nn.Linear(inner, width, bias=False)
        self.state_floats = inner * state + inner * (conv - 1)  # S6 state and conv buffer

    def inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Delta (..., E), B (..., N), C (..., N) from the conv output x."""
        dt, Bm, Cm = self.x_proj(x).split([self.rank, self.state, self.state], dim=-1)
        return F.softplus(self.dt_proj(dt)), Bm, Cm

    def rates(self) -> torch.Tensor:
        """A log2(e), (E, N): exp(Delta A) is computed as exp2(Delta A log2 e), which torch
        computes about 3x faster on a CPU."""
        return -torch.exp(self.A_log) * LOG2E

    def coefficients(self, delta: torch.Tensor, Bm: torch.Tensor,
                     x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b) of h_t = a_t * h_{t-1} + b_t."""
        a = torch.exp2(delta[..., None] * self.rates())  # (..., E, N)
        b = (delta * x)[..., None] * Bm[..., None, :]  # (..., E, N)
        return a, b

    def read(self, y: torch.Tensor, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.out_proj((y + self.D * x) * F.silu(z))  # (..., H)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, E) each
        T, taps = x.shape[1], self.conv.weight[:, 0].t()  # (k, E)
        x = F.pad(x, (0, 0, self.k - 1, 0))  # (B, T + k - 1, E): zeros before step 0
        # The depthwise convolution as k shifted products: no transposes, and cheaper on
        # a CPU than Conv1d with one group per channel (the same sum as ``step``'s).
        bias = cast(torch.Tensor, self.conv.bias)  # (E,); Conv1d has one unless told not to
        out = torch.addcmul(bias, x[:, :T], taps[0])  # (B, T, E)
        for j in range(1, self.k):
            out = torch.addcmul(out, x[:, j:j + T], taps[j])
        x = F.silu(out)  # (B, T, E)
        delta, Bm, Cm = (t.contiguous() for t in self.inputs(x))
        rates = self.rates().t().contiguous()  # (N, E)
        return self.read(_SelectiveScan.apply(delta, rates, Bm, Cm, x), x, z)  # (B, T, H)

    def step(self, u_t: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        E, N, k = self.inner, self.state, self.k
        h, window = s.split([E * N, E * (k - 1)], dim=-1)
        x, z = self.in_proj(u_t).chunk(2, dim=-1)  # (B, E) each
        window = torch.cat([window.reshape(-1, E, k - 1), x[..., None]], dim=-1)  # (B, E, k)
        bias = cast(torch.Tensor, self.conv.bias)  # (E,)
        x = F.silu((window * self.conv.weight[:, 0]).sum(-1) + bias)  # (B, E)
        delta, Bm, Cm = self.inputs(x)
        a, b = self.coefficients(delta, Bm, x)  # (B, E, N) each
        h = a * h.reshape(-1, E, N) + b  # (B, E, N)
        new = torch.cat([h.flatten(1), window[..., 1:].flatten(1)], dim=-1)  # (B, S)
        return self.read((h @ Cm[..., None])[..., 0], x, z), new


def _chunk_states(delta: torch.Tensor, A: torch.Tensor, dx: torch.Tensor, Bm: torch.Tensor,
                  h0: torch.Tensor, a: torch.Tensor, h: torch.Tensor) -> None:
    """Into ``a`` and ``h`` (B, L, N, E): a_t = exp2(Delta_t A) and h_t = a_t * h_{t-1} +
    (Delta_t x_t) B_t for the L steps of one chunk, from the state h0 (B, N, E) before it."""
    torch.mul(delta[:, :, None, :], A, out=a).exp2_()
    torch.mul(dx[:, :, None, :], Bm[..., None], out=h)  # b_t, then h_t in place
    h[:, 0].addcmul_(a[:, 0], h0)
    for j in range(1, h.shape[1]):
        h[:, j].addcmul_(a[:, j], h[:, j - 1])


class _SelectiveScan(torch.autograd.Function):
    """y_t = C_t h_t over the S6 recurrence, from Delta, x (B, T, E), A (N, E) (in units
    of log2: a_t = exp2(Delta_t A)) and B, C (B, T, N), without the (B, T, N, E) tensors
    of every step.

    Whole-sequence tensors of that size cost more in memory traffic than the step loop's
    Python (Mamba's own answer is a fused kernel, Gu & Dao 2023 sec 3.3.2). Here the steps
    run ``CHUNK`` at a time in a few (B, CHUNK, N, E) buffers that stay in cache; only the
    state entering each chunk is kept, and the backward pass recomputes a chunk's states
    from it, then runs the gradient recurrence dL/dh_t = C_t g_t + a_{t+1} dL/dh_{t+1}
    backwards through it.
    """

    @staticmethod
    def forward(ctx, delta, A, Bm, Cm, x):
        B, T, E = x.shape
        dx = delta * x  # (B, T, E)
        starts = x.new_empty(B, -(-T // CHUNK), A.shape[0], E)  # (B, chunks, N, E)
        starts[:, 0] = 0
        a, h = (x.new_empty(B, CHUNK, *A.shape) for _ in range(2))  # (B, CHUNK, N, E)
        y = torch.empty_like(x)  # (B, T, E)
        for c, s in enumerate(range(0, T, CHUNK)):
            cut, L = slice(s, s + CHUNK), min(CHUNK, T - s)
            _chunk_states(delta[:, cut], A, dx[:, cut], Bm[:, cut], starts[:, c], a[:, :L],
                          h[:, :L])
            y[:, cut] = torch.matmul(Cm[:, cut, None, :], h[:, :L])[:, :, 0]  # (B, L, E)
            if c + 1 < starts.shape[1]:
                starts[:, c + 1] = h[:, -1]
        ctx.save_for_backward(delta, A, Bm, Cm, x, dx, starts)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        delta, A, Bm, Cm, x, dx, starts = ctx.saved_tensors
        B, T, E = x.shape
        g = g.contiguous()
        d_delta, d_dx, dB, dC = (torch.empty_like(t) for t in (delta, dx, Bm, Cm))
        dA = x.new_zeros(B, CHUNK, *A.shape)  # (B, CHUNK, N, E): summed over B, L at the end
        natural = A * math.log(2)  # (N, E): d exp2(u) / du = exp2(u) ln 2
        a_, h_, G_, tmp_ = (x.new_empty(B, CHUNK, *A.shape) for _ in range(4))
        carry = torch.zeros_like(starts[:, 0])  # (B, N, E): a_t dL/dh_t at the next chunk's start
        for c in reversed(range(starts.shape[1])):
            cut, h0, L = slice(c * CHUNK, (c + 1) * CHUNK), starts[:, c], min(CHUNK, T - c * CHUNK)
            a, h, G, tmp = a_[:, :L], h_[:, :L], G_[:, :L], tmp_[:, :L]
            _chunk_states(delta[:, cut], A, dx[:, cut], Bm[:, cut], h0, a, h)
            torch.mul(Cm[:, cut, :, None], g[:, cut, None, :], out=G)  # dL/dh_t
            G[:, -1] += carry
            for j in range(L - 2, -1, -1):
                G[:, j].addcmul_(a[:, j + 1], G[:, j + 1])
            torch.mul(a[:, 0], G[:, 0], out=carry)
            dC[:, cut] = torch.einsum("ble,blne->bln", g[:, cut], h)
            dB[:, cut] = torch.einsum("ble,blne->bln", dx[:, cut], G)
            d_dx[:, cut] = torch.matmul(Bm[:, cut, None, :], G)[:, :, 0]
            a[:, 1:].mul_(h[:, :-1])  # a_t h_{t-1}
            a[:, 0].mul_(h0)
            X = a.mul_(G)  # (B, L, N, E): dL/d(Delta_t A) / ln 2
            dA[:, :L].addcmul_(X, delta[:, cut, None, :])
            torch.sum(torch.mul(X, natural, out=tmp), 2, out=d_delta[:, cut])
        d_delta += d_dx * x
        return d_delta, dA.sum((0, 1)).mul_(math.log(2)), dB, dC, d_dx * delta


@MODELS.register("mamba")
class Mamba(Stacked):
    """``layers`` residual Mamba blocks of width ``hidden``: inner width ``expand`` *
    ``hidden``, ``state`` (N) per inner channel, a causal convolution of width ``conv``."""

    description = "Mamba: selective state space (S6), input-dependent Delta, B, C (Gu & Dao 2023)"

    def __init__(self, d_in: int, hidden: int = 136, layers: int = 1, state: int = 16,
                 expand: int = 2, conv: int = 4, dt_min: float = 0.001, dt_max: float = 0.1):
        check_sizes(self.name, state=state, expand=expand, conv=conv)
        if not 0 < dt_min <= dt_max:
            raise UserError(f"model {self.name}: dt_min={dt_min}, dt_max={dt_max}; expected "
                            "0 < dt_min <= dt_max")
        super().__init__(d_in, hidden, layers,
                         lambda: MambaBlock(hidden, state, expand, conv, dt_min, dt_max))
