"""mLSTM, xLSTM's matrix-memory LSTM (Beck, Poeppel, Spanring, Auer, Prudnikova, Kopp,
Klambauer, Brandstetter & Hochreiter 2024, "xLSTM: Extended Long Short-Term Memory").

Per head, a (d, d) matrix memory written with an exponential input gate (sec 2.3),
kept in range by a running max state m (the stabilization of sec 2.2):

    m_t = max(log f_t + m_{t-1}, i~_t)                    f_t = sigmoid(f~_t), scalars per head
    C_t = f'_t C_{t-1} + i'_t k_t v_t^T                   f'_t = exp(log f_t + m_{t-1} - m_t)
    n_t = f'_t n_{t-1} + i'_t k_t                         i'_t = exp(i~_t - m_t)
    h~_t = q_t C_t / max(|q_t . n_t|, exp(-m_t))          k_t scaled by d^-1/2
    h_t = sigmoid(o~_t) * GroupNorm(h~_t)                 (the block's head-wise norm)

with C_0 = n_0 = 0 and m_0 = 0. The parallel form (the paper's appendix) weighs step s's
write at step t by D_ts = sum_{r=s+1..t} log f_r + i~_s; here it runs chunkwise: that
matrix inside chunks of ``chunk`` steps (all chunks at once), the stabilized (C, n, m)
carried from chunk to chunk, so memory grows with T * chunk, not T^2. Forget biases start
spread over [3, 6] per head (long memory at first), as in the paper's code; input biases
start at 0 (xlstm 2.0.6 draws them from N(0, 0.1^2); docs/your-model.md). The block is a
pre-norm residual around q, k, v, gates and an output projection (the paper's
up-projection and convolution are left out).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.models import MODELS
from memorybench.models.scan import Stacked, check_heads


class MatrixMemory(nn.Module):
    def __init__(self, width: int, heads: int, chunk: int):
        super().__init__()
        self.heads, self.d, self.chunk = heads, width // heads, chunk
        self.qkvo = nn.Linear(width, 4 * width, bias=False)  # [q | k | v | output gate]
        self.gates = nn.Linear(width, 2 * heads)  # [input | forget], one scalar per head
        with torch.no_grad():
            self.gates.bias[:heads].zero_()
            self.gates.bias[heads:] = torch.linspace(3.0, 6.0, heads)
        self.norm = nn.GroupNorm(heads, width)
        self.out = nn.Linear(width, width, bias=False)
        self.state_floats = heads * (self.d * self.d + self.d + 1)  # C, n and m

    def project(self, u: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k, v (..., heads, d), the output gate (..., H), i~ and log f (..., heads)."""
        q, k, v, o = self.qkvo(u).chunk(4, dim=-1)  # (..., H) each
        ig, fg = self.gates(u).chunk(2, dim=-1)  # (..., heads) each
        split = (*u.shape[:-1], self.heads, self.d)
        return (q.reshape(split), k.reshape(split) * self.d ** -0.5, v.reshape(split), o,
                ig, F.logsigmoid(fg))

    def finish(self, h: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        h = h.flatten(-2)  # (..., H)
        h = self.norm(h.reshape(-1, h.shape[-1])).reshape(h.shape)
        return self.out(torch.sigmoid(o) * h)  # (..., H)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        B, T, H = u.shape
        q, k, v, o, ig, logf = self.project(u)
        L = min(self.chunk, T)
        n = -(-T // L)
        extra = n * L - T  # padded steps at the end: no write (i~ very negative), f = 1
        q, k, v = (F.pad(t, (0, 0, 0, 0, 0, extra)).reshape(B, n, L, self.heads, self.d)
                   .permute(0, 3, 1, 2, 4) for t in (q, k, v))  # (B, heads, n, L, d)
        ig = F.pad(ig, (0, 0, 0, extra), value=-1e4).reshape(B, n, L, -1).permute(0, 3, 1, 2)
        logf = F.pad(logf, (0, 0, 0, extra)).reshape(B, n, L, -1).permute(0, 3, 1, 2)
        b = logf.cumsum(-1)  # (B, heads, n, L): log of the forget product since chunk start
        causal = torch.ones(L, L, dtype=torch.bool, device=u.device).tril()
        D = (b[..., :, None] - b[..., None, :] + ig[..., None, :]).masked_fill(
            ~causal, float("-inf"))  # (B, heads, n, L, L): log weight of write s at t
        m_in = D.amax(-1)  # (B, heads, n, L): the largest weight from inside the chunk
        m_c, ends = torch.zeros_like(b[:, :, 0, 0]), []  # m_0 = 0
        for c in range(n):  # m at each chunk's end
            m_c = torch.maximum(b[:, :, c, -1] + m_c, m_in[:, :, c, -1])  # (B, heads)
            ends.append(m_c)
        m_end = torch.stack(ends, dim=-1)  # (B, heads, n)
        m_prev = F.pad(m_end[..., :-1], (1, 0))  # (B, heads, n): m entering each chunk
        m = torch.maximum(b + m_prev[..., None], m_in)  # (B, heads, n, L)
        scores = (q @ k.transpose(-1, -2)) * torch.exp(D - m[..., None])  # (B, h, n, L, L)
        # what each chunk leaves: C and n at its end, relative to exp(m_end)
        w_end = torch.exp(b[..., -1:] - b + ig - m_end[..., None])  # (B, heads, n, L)
        kw = k * w_end[..., None]  # (B, heads, n, L, d)
        writes, keys = kw.transpose(-1, -2) @ v, kw.sum(-2)  # (B,h,n,d,d), (B,h,n,d)
        decay = torch.exp(b[..., -1] + m_prev - m_end)  # (B, heads, n)
        C, nrm = torch.zeros_like(writes[:, :, 0]), torch.zeros_like(keys[:, :, 0])
        Cs, ns = [], []
        for c in range(n):  # the state entering each chunk
            Cs.append(C)
            ns.append(nrm)
            C = decay[:, :, c, None, None] * C + writes[:, :, c]  # (B, heads, d, d)
            nrm = decay[:, :, c, None] * nrm + keys[:, :, c]  # (B, heads, d)
        w_prev = torch.exp(b + m_prev[..., None] - m)[..., None]  # (B, heads, n, L, 1)
        num = scores @ v + (q @ torch.stack(Cs, dim=2)) * w_prev  # (B, heads, n, L, d)
        den = scores.sum(-1) + (q @ torch.stack(ns, dim=2)[..., None])[..., 0] * w_prev[..., 0]
        h = num / torch.maximum(den.abs(), torch.exp(-m))[..., None]  # (B, heads, n, L, d)
        h = h.permute(0, 2, 3, 1, 4).reshape(B, n * L, self.heads, self.d)[:, :T]
        return self.finish(h, o)  # (B, T, H)

    def step(self, u_t: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heads, d = self.heads, self.d
        q, k, v, o, ig, logf = self.project(u_t)  # (B, heads, d) x3, (B, H), (B, heads) x2
        C, nrm, m = s.split([heads * d * d, heads * d, heads], dim=-1)
        C, nrm = C.reshape(-1, heads, d, d), nrm.reshape(-1, heads, d)
        m_new = torch.maximum(logf + m, ig)  # (B, heads)
        f, i = torch.exp(logf + m - m_new)[..., None], torch.exp(ig - m_new)[..., None]
        C = f[..., None] * C + i[..., None] * k[..., :, None] * v[..., None, :]  # (B, h, d, d)
        nrm = f * nrm + i * k  # (B, heads, d)
        num = (q[..., None, :] @ C)[..., 0, :]  # (B, heads, d)
        den = (q * nrm).sum(-1, keepdim=True)  # (B, heads, 1)
        h = num / torch.maximum(den.abs(), torch.exp(-m_new)[..., None])
        new = torch.cat([C.flatten(1), nrm.flatten(1), m_new], dim=-1)  # (B, S)
        return self.finish(h, o), new


@MODELS.register("mlstm")
class MLSTM(Stacked):
    """``layers`` residual mLSTM blocks of width ``hidden`` (a multiple of ``heads``)."""

    description = "mLSTM: matrix memory, exponential gating, chunkwise form (Beck et al. 2024)"
    # Widths come in steps of ``heads``: ``--params`` may also change the head count.
    sizing_knob = "heads"

    def __init__(self, d_in: int, hidden: int = 160, layers: int = 1, heads: int = 4,
                 chunk: int = 32):
        check_heads(self.name, hidden, heads, chunk)
        super().__init__(d_in, hidden, layers, lambda: MatrixMemory(hidden, heads, chunk))
