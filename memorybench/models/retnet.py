"""RetNet's multi-scale retention (Sun, Dong, Huang, Ma, Xia, Xue, Wang & Wei 2023,
"Retentive network: a successor to Transformer for large language models").

Each head h keeps a (d, d) matrix state that decays by a fixed gamma_h:

    S_t = gamma_h S_{t-1} + k_t^T v_t,   o_t = q_t S_t                 (sec 2.1)
    gamma_h = 1 - 2^(-5 - h)  (h = 0 .. heads-1, sec 2.2)

which unrolls to the parallel form O = (Q K^T * D) V with D_nm = gamma^(n-m) for n >= m,
else 0. Training uses the chunkwise form (sec 2.1): the parallel form inside chunks
of ``chunk`` steps, the state S carried from chunk to chunk, so memory grows with T * chunk,
not T^2. Then per-head GroupNorm, a swish gate and an output projection (sec 2.2):
Y = W_O (swish(X W_G) * GroupNorm(O)). Keys are scaled by d^-1/2 (sec 2.1). The xPos
rotation of q and k (the paper's Theta) is left out: only the decay marks position here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.models import MODELS
from memorybench.models.scan import Stacked, check_heads


class Retention(nn.Module):
    log_gamma: torch.Tensor  # (heads,), a buffer

    def __init__(self, width: int, heads: int, chunk: int):
        super().__init__()
        self.heads, self.d, self.chunk = heads, width // heads, chunk
        self.qkvg = nn.Linear(width, 4 * width, bias=False)  # [q | k | v | gate]
        self.norm = nn.GroupNorm(heads, width)
        self.out = nn.Linear(width, width, bias=False)
        gamma = 1 - 2.0 ** (-5 - torch.arange(heads, dtype=torch.float32))  # (heads,)
        self.register_buffer("log_gamma", torch.log(gamma), persistent=False)
        self.state_floats = heads * self.d * self.d

    def project(self, u: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k, v (..., heads, d) and the gate (..., H)."""
        q, k, v, g = self.qkvg(u).chunk(4, dim=-1)  # (..., H) each
        split = (*u.shape[:-1], self.heads, self.d)
        return q.reshape(split), k.reshape(split) * self.d ** -0.5, v.reshape(split), g

    def finish(self, o: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """GroupNorm per head, swish gate, projection; o (..., heads, d), g (..., H)."""
        o = o.flatten(-2)  # (..., H)
        o = self.norm(o.reshape(-1, o.shape[-1])).reshape(o.shape)
        return self.out(F.silu(g) * o)  # (..., H)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        B, T, H = u.shape
        q, k, v, g = self.project(u)  # (B, T, heads, d) x3, (B, T, H)
        L = min(self.chunk, T)
        n = -(-T // L)
        pad = (0, 0, 0, 0, 0, n * L - T)  # zero keys and values after the end add nothing
        q, k, v = (F.pad(t, pad).reshape(B, n, L, self.heads, self.d).transpose(2, 3)
                   for t in (q, k, v))  # (B, n, heads, L, d) each
        pos = torch.arange(L, device=u.device, dtype=u.dtype)  # (L,)
        lg = self.log_gamma.to(u.dtype)[:, None]  # (heads, 1)
        diff = pos[:, None] - pos[None, :]  # (L, L): n - m
        D = torch.exp(lg[..., None] * diff.clamp(min=0)) * (diff >= 0)  # (heads, L, L)
        inner = (q @ k.transpose(-1, -2) * D) @ v  # (B, n, heads, L, d)
        # the state each chunk leaves: sum over its steps of gamma^(L-1-m) k_m^T v_m
        to_end = torch.exp(lg * (L - 1 - pos))  # (heads, L)
        chunk_states = (k * to_end[..., None]).transpose(-1, -2) @ v  # (B, n, heads, d, d)
        carry, carries = torch.zeros_like(chunk_states[:, 0]), []
        whole = torch.exp(lg * L)[..., None]  # (heads, 1, 1): decay across a whole chunk
        for s in chunk_states.unbind(1):
            carries.append(carry)
            carry = whole * carry + s  # (B, heads, d, d)
        from_start = torch.exp(lg * (pos + 1))[..., None]  # (heads, L, 1)
        cross = (q @ torch.stack(carries, dim=1)) * from_start  # (B, n, heads, L, d)
        o = (inner + cross).transpose(2, 3).reshape(B, n * L, self.heads, self.d)[:, :T]
        return self.finish(o, g)  # (B, T, H)

    def step(self, u_t: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, k, v, g = self.project(u_t)  # (B, heads, d) x3, (B, H)
        gamma = torch.exp(self.log_gamma.to(u_t.dtype))[:, None, None]  # (heads, 1, 1)
        S = gamma * s.reshape(-1, self.heads, self.d, self.d) + k[..., None] * v[..., None, :]
        o = (q[..., None, :] @ S)[..., 0, :]  # (B, heads, d)
        return self.finish(o, g), S.flatten(1)  # (B, H), (B, heads d d)


@MODELS.register("retnet")
class RetNet(Stacked):
    """``layers`` residual retention blocks of width ``hidden`` (a multiple of ``heads``)."""

    description = "RetNet: multi-scale retention, per-head decay, chunkwise form (Sun et al. 2023)"
    # Widths come in steps of ``heads``, too coarse for small budgets: ``--params`` may
    # also change the head count (memorybench.models.sizing).
    sizing_knob = "heads"

    def __init__(self, d_in: int, hidden: int = 160, layers: int = 1, heads: int = 4,
                 chunk: int = 64):
        check_heads(self.name, hidden, heads, chunk)
        super().__init__(d_in, hidden, layers, lambda: Retention(hidden, heads, chunk))
