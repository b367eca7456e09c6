"""S4D: the diagonal state space model (Gu, Gupta, Goel & Re 2022, "On the parameterization
and initialization of diagonal state space models").

Each of the H channels is a linear time-invariant system with N/2 complex modes (the
other N/2 are their conjugates, hence the factor 2 Re below):

    A_n = -exp(a_n) + i b_n, S4D-Lin init A_n = -1/2 + i pi n          (sec 4)
    zero-order hold with a learned step Delta = exp(log_dt):            (sec 3)
        A' = exp(Delta A),  B' = (exp(Delta A) - 1) / A * B,  B = 1
    h_t = A' * h_{t-1} + B' u_t,  y_t = 2 Re(C h_t) + D u_t

Being time-invariant, y is the causal convolution of u with the kernel
K_k = 2 Re(sum_n C_n B'_n A'_n^k) (a Vandermonde product), applied here by FFT of length 2T;
``step`` runs the recurrence itself. log_dt starts uniform in [log dt_min, log dt_max]
(S4's recommended 0.001 .. 0.1). The block is the paper's: SSM, GELU, then a GLU
projection, inside a pre-norm residual.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.scan import GLU, Stacked, check_sizes


class S4DBlock(nn.Module):
    def __init__(self, width: int, state: int, dt_min: float, dt_max: float):
        super().__init__()
        modes = state // 2
        self.log_dt = nn.Parameter(torch.rand(width) * (math.log(dt_max) - math.log(dt_min))
                                   + math.log(dt_min))  # (H,)
        self.A_re_log = nn.Parameter(torch.full((width, modes), math.log(0.5)))  # (H, N/2)
        self.A_im = nn.Parameter(math.pi * torch.arange(
            modes, dtype=torch.get_default_dtype()).repeat(width, 1))
        # C ~ complex normal, variance 1/2 per part (S4D's standalone init)
        self.C = nn.Parameter(torch.randn(2, width, modes) * math.sqrt(0.5))  # re, im
        self.D = nn.Parameter(torch.randn(width))  # (H,)
        self.out = GLU(width)
        self.state_floats = 2 * width * modes  # real and imaginary part of each mode

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Delta A (H, N/2), C * B' (H, N/2)), complex: the zero-order-hold system."""
        A = torch.complex(-torch.exp(self.A_re_log), self.A_im)  # (H, N/2)
        dtA = A * torch.exp(self.log_dt)[:, None]  # (H, N/2)
        cb = torch.complex(self.C[0], self.C[1]) * (torch.exp(dtA) - 1) / A  # (H, N/2)
        return dtA, cb

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        T = u.shape[1]
        dtA, cb = self.discrete()
        k = torch.arange(T, device=u.device, dtype=self.log_dt.dtype)  # (T,)
        powers = torch.exp(dtA[..., None] * k)  # (H, N/2, T): A'^k
        kernel = 2 * torch.einsum("hn,hnt->ht", cb, powers).real  # (H, T)
        spec = torch.fft.rfft(u.transpose(1, 2), n=2 * T) * torch.fft.rfft(kernel, n=2 * T)
        y = torch.fft.irfft(spec, n=2 * T)[..., :T].transpose(1, 2)  # (B, T, H): causal part
        return self.out(F.gelu(y + self.D * u))  # (B, T, H)

    def step(self, u_t: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dtA, cb = self.discrete()
        decay = torch.exp(dtA)  # (H, N/2)
        H, n = decay.shape
        h = torch.complex(s[:, :H * n], s[:, H * n:]).reshape(-1, H, n)  # (B, H, N/2)
        # B' u_t with C folded into B': carry C B' h instead of h, the same y
        h = decay * h + cb * u_t[..., None]  # (B, H, N/2)
        y = 2 * h.sum(-1).real + self.D * u_t  # (B, H)
        flat = h.reshape(-1, H * n)
        return self.out(F.gelu(y)), torch.cat([flat.real, flat.imag], dim=-1)  # (B, H), (B, N H)


@MODELS.register("s4d")
class S4D(Stacked):
    """``layers`` residual S4D blocks of width ``hidden``, ``state`` (N) per channel."""

    description = "S4D: diagonal state space, S4D-Lin init, FFT convolution (Gu et al. 2022)"

    def __init__(self, d_in: int, hidden: int = 224, layers: int = 1, state: int = 64,
                 dt_min: float = 0.001, dt_max: float = 0.1):
        check_sizes(self.name, state=state // 2)
        if not 0 < dt_min <= dt_max:
            raise UserError(f"model {self.name}: dt_min={dt_min}, dt_max={dt_max}; expected "
                            "0 < dt_min <= dt_max")
        super().__init__(d_in, hidden, layers, lambda: S4DBlock(hidden, state, dt_min, dt_max))
