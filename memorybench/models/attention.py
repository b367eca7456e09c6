"""A small self-attention encoder (Vaswani et al. 2017) on torch's own attention.

Every step can look at every allowed step directly, at any distance, so its memory is not
limited by a state carried through time: the contrast the recurrent models are measured
against. Blocks are pre-norm (Xiong et al. 2020): x + MHA(LN(x)), then x + MLP(LN(x)).

``causal`` (default true) masks later steps, so the output at step t depends on inputs up
to t only, like the recurrent models; the whole-sequence output is then the last step's,
which has seen everything. ``models/encoder.toml`` is the non-causal variant (every step
sees the whole sequence, like ``birnn``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.base import Core


def sinusoids(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed sinusoidal positions (Vaswani et al. 2017, sec 3.5); no parameters, so any
    length works, including lengths longer than those trained on."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device) * (-math.log(10000.0) / dim))
    angle = pos * freq  # (T, ceil(dim/2))
    pe = torch.zeros(length, dim, device=device)  # (T, dim)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp * dim), nn.GELU(), nn.Linear(mlp * dim, dim))

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        # nn.MultiheadAttention's weights, computed by scaled_dot_product_attention with
        # is_causal and no mask tensor: the same function as the module's own forward with
        # a mask (version 1), 1.17-1.19x faster per training step on a CPU (python -m
        # benchmarks.attention_speed; performance section 14)
        B, T, dim = x.shape
        heads = self.attn.num_heads
        q, k, v = (t.view(B, T, heads, dim // heads).transpose(1, 2)  # (B, heads, T, dh)
                   for t in F.linear(self.ln1(x), self.attn.in_proj_weight,
                                     self.attn.in_proj_bias).chunk(3, dim=-1))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B, heads, T, dh)
        x = x + self.attn.out_proj(a.transpose(1, 2).reshape(B, T, dim))
        return x + self.mlp(self.ln2(x))  # (B, T, dim)


@MODELS.register("attention")
class Attention(Core):
    """``layers`` pre-norm blocks of ``heads``-head attention and an MLP ``mlp`` x wider,
    width ``hidden``, on inputs plus sinusoidal positions."""

    # 2: attention by scaled_dot_product_attention (Block.forward), whose backward rounds
    # differently from nn.MultiheadAttention's own forward: the same function, another
    # training trajectory
    version = 2

    description = "causal self-attention encoder, sinusoidal positions (Vaswani et al. 2017)"
    # Widths come in steps of ``heads``, too coarse for small budgets: ``--params`` may
    # also change the MLP ratio (the nearest ratio to the spec's that lands).
    sizing_knob = "mlp"

    def __init__(self, d_in: int, hidden: int = 64, layers: int = 2, heads: int = 4,
                 mlp: int = 4, causal: bool = True):
        super().__init__()
        if min(hidden, layers, heads, mlp) < 1 or hidden % heads:
            raise UserError(f"model {self.name}: hidden={hidden}, layers={layers}, "
                            f"heads={heads}, mlp={mlp}; expected positive integers with "
                            "hidden a multiple of heads")
        self.causal = causal  # shadows the class default: this instance's masking
        self.proj = nn.Identity() if d_in == hidden else nn.Linear(d_in, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads, mlp) for _ in range(layers))
        self.ln = nn.LayerNorm(hidden)
        self.out_features = hidden

    def state_size(self) -> int | None:
        return None  # each step attends to every earlier step: no fixed-size state

    def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
        T = h.shape[1]
        x = self.proj(h) + sinusoids(T, self.out_features, h.device)  # (B, T, hidden)
        for block in self.blocks:
            x = block(x, self.causal)  # (B, T, hidden)
        x = self.ln(x)
        if per_step:
            return x  # (B, T, hidden)
        return x[:, -1] if self.causal else x.mean(dim=1)  # (B, hidden)
