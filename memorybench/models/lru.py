"""The Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De 2023,
"Resurrecting recurrent neural networks for long sequences").

A complex diagonal linear recurrence, its eigenvalues parametrized so they stay inside
the unit disk (sec 3.3) and the input scaled so the state's norm does not grow
with them (gamma, sec 3.4):

    lambda = exp(-exp(nu) + i exp(theta))                  (N,) complex, |lambda| < 1
    h_t = lambda * h_{t-1} + gamma * (B x_t)               (N,) complex, gamma = exp(gamma_log)
    y_t = Re(C h_t) + D * x_t                              (H,)

initialized on a ring: |lambda| uniform in [r_min, r_max] (area-uniform, Lemma 3.2), phase
uniform in [0, max_phase], gamma_log = log sqrt(1 - |lambda|^2). The block then applies a
GELU and a GLU (the paper's Figure 1 block: LRU, then a nonlinear projection, inside a
pre-norm residual). The recurrence runs as a parallel scan (sec 3.2 uses an associative
scan; here ``scan.linear_scan``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.scan import GLU, Stacked, check_sizes, linear_scan


class LRUBlock(nn.Module):
    def __init__(self, width: int, state: int, r_min: float, r_max: float, max_phase: float):
        super().__init__()
        u1, u2 = torch.rand(state), torch.rand(state)  # (N,) each
        # |lambda|^2 uniform in [r_min^2, r_max^2]: the ring uniform by area (Lemma 3.2)
        radius = torch.sqrt(u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2)  # (N,)
        self.nu_log = nn.Parameter(torch.log(-torch.log(radius)))  # (N,)
        self.theta_log = nn.Parameter(torch.log(max_phase * u2 + 1e-8))  # (N,)
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - radius ** 2)))  # (N,)
        # Glorot-like complex B and C (sec 3.3): variance split between real and imaginary
        self.B = nn.Parameter(torch.randn(2, state, width) / math.sqrt(2 * width))  # re, im
        self.C = nn.Parameter(torch.randn(2, width, state) / math.sqrt(state))  # re, im
        self.D = nn.Parameter(torch.randn(width))  # (H,)
        self.out = GLU(width)
        self.state_floats = 2 * state  # real and imaginary part of each entry

    def recurrence(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(lambda (N,), gamma * B (N, H)), both complex."""
        lam = torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))
        gb = torch.complex(self.B[0], self.B[1]) * torch.exp(self.gamma_log)[:, None]
        return lam, gb  # (N,), (N, H)

    def read(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """y = Re(C h) + D u, then GELU and GLU; h (..., N) complex, u (..., H)."""
        y = h.real @ self.C[0].T - h.imag @ self.C[1].T + self.D * u  # (..., H)
        return self.out(F.gelu(y))  # (..., H)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        lam, gb = self.recurrence()
        drive = u.to(gb.dtype) @ gb.T  # (B, T, N) complex
        h = linear_scan(lam, drive)  # (B, T, N)
        return self.read(h, u)  # (B, T, H)

    def step(self, u_t: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lam, gb = self.recurrence()
        n = lam.shape[0]
        h = lam * torch.complex(s[:, :n], s[:, n:]) + u_t.to(gb.dtype) @ gb.T  # (B, N)
        return self.read(h, u_t), torch.cat([h.real, h.imag], dim=-1)  # (B, H), (B, 2N)


@MODELS.register("lru")
class LRU(Stacked):
    """``layers`` residual LRU blocks of width ``hidden`` with ``state`` complex state
    entries each (0: as many as ``hidden``)."""

    description = "Linear Recurrent Unit: complex diagonal recurrence, ring init (Orvieto 2023)"

    def __init__(self, d_in: int, hidden: int = 148, layers: int = 1, state: int = 0,
                 r_min: float = 0.9, r_max: float = 0.999, max_phase: float = 2 * math.pi,
                 recurrence_lr: float = 0.5):
        state = state or hidden
        check_sizes(self.name, state=state)
        if not 0 < r_min <= r_max < 1:
            raise UserError(f"model {self.name}: r_min={r_min}, r_max={r_max}; expected "
                            "0 < r_min <= r_max < 1")
        super().__init__(d_in, hidden, layers,
                         lambda: LRUBlock(hidden, state, r_min, r_max, max_phase))
        self.recurrence_lr = recurrence_lr

    def lr_factors(self) -> dict[str, float]:
        # Orvieto et al. 2023, Appendix D: the recurrent parameters (nu, theta, gamma) train
        # at half the learning rate of the others.
        return {f"blocks.{i}.{p}": self.recurrence_lr for i in range(len(self.blocks))
                for p in ("nu_log", "theta_log", "gamma_log")}
