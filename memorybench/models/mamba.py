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
The time-varying recurrence runs as a chunked parallel scan (``scan.linear_scan``) over
the (E, N) state; ``step`` runs it one step at a time with a buffer of the last
``conv - 1`` inputs for the convolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.scan import Stacked, check_sizes, linear_scan

CHUNK = 16  # steps per scan call in ``MambaBlock.forward``


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

    def coefficients(self, delta: torch.Tensor, Bm: torch.Tensor,
                     x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b) of h_t = a_t * h_{t-1} + b_t."""
        a = torch.exp(delta[..., None] * -torch.exp(self.A_log))  # (..., E, N)
        b = (delta * x)[..., None] * Bm[..., None, :]  # (..., E, N)
        return a, b

    def read(self, y: torch.Tensor, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.out_proj((y + self.D * x) * F.silu(z))  # (..., H)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, E) each
        x = F.pad(x.transpose(1, 2), (self.k - 1, 0))  # (B, E, T + k - 1): zeros before 0
        x = F.silu(self.conv(x)).transpose(1, 2)  # (B, T, E)
        delta, Bm, Cm = self.inputs(x)
        # The (B, T, E, N) coefficients are made and scanned a chunk of steps at a time,
        # the state carried between chunks: (B, CHUNK, E, N) tensors stay in cache, where
        # whole-sequence ones cost more in memory traffic than the loop they replace.
        # split, not [:, s:s + CHUNK]: a slice's backward fills a zero tensor of the whole
        # sequence, once per chunk; split's is one concatenation.
        h, ys = None, []
        for d_c, B_c, C_c, x_c in zip(*(t.split(CHUNK, dim=1) for t in (delta, Bm, Cm, x)),
                                      strict=True):
            hs = linear_scan(*self.coefficients(d_c, B_c, x_c), h0=h)  # (B, L, E, N)
            h = hs[:, -1]  # (B, E, N)
            ys.append((hs @ C_c[..., None])[..., 0])  # (B, L, E)
        return self.read(torch.cat(ys, dim=1), x, z)  # (B, T, H)

    def step(self, u_t: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        E, N, k = self.inner, self.state, self.k
        h, window = s.split([E * N, E * (k - 1)], dim=-1)
        x, z = self.in_proj(u_t).chunk(2, dim=-1)  # (B, E) each
        window = torch.cat([window.reshape(-1, E, k - 1), x[..., None]], dim=-1)  # (B, E, k)
        x = F.silu((window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias)  # (B, E)
        delta, Bm, Cm = self.inputs(x)
        a, b = self.coefficients(delta, Bm, x)  # (B, E, N) each
        h = a * h.reshape(-1, E, N) + b  # (B, E, N)
        new = torch.cat([h.flatten(1), window[..., 1:].flatten(1)], dim=-1)  # (B, S)
        return self.read((h @ Cm[..., None])[..., 0], x, z), new


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
