"""A nonlinear recurrence with a hand-written backward pass: the orthogonal RNN's modReLU layer.

A recurrence h_t = f(d_t + W h_{t-1}) that cannot be parallelized over time runs one small
product and a few elementwise kernels per step. Under autograd each of those kernels also
records a node, keeps its inputs and runs its own backward, and the weight's gradient comes
as one small product per step. Here the forward pass runs the loop without a graph and
keeps only the states; the backward pass runs the gradient recurrence through time with the
one product per step it cannot avoid and three elementwise kernels, and the weight's
gradient is one product over all steps. Tensors are time-major (T, B, H), so each step's
slice is contiguous and stays in cache.

``benchmarks/recurrence_speed.py`` measures it against the same loop under autograd, and a
GRU written the same way against ``nn.GRU`` (no faster: not adopted); the tests hold values
and gradients to the autograd loop's.
"""

from __future__ import annotations

import torch


class _ModReLU(torch.autograd.Function):
    """h_t = modReLU(z_t) = sign(z_t) * relu(|z_t| + b), z_t = d_t + W h_{t-1}, h_{-1} = 0
    (Arjovsky, Shah & Bengio 2016), from the drive d, time-major (T, B, H)."""

    @staticmethod
    def forward(ctx, drive: torch.Tensor, w: torch.Tensor, bias: torch.Tensor
                ) -> torch.Tensor:
        wt = w.t()  # (H, H)
        out = torch.empty_like(drive)  # h_t
        z = torch.empty_like(drive[0])  # (B, H)
        for t in range(drive.shape[0]):
            if t:
                torch.addmm(drive[t], out[t - 1], wt, out=z)
            else:
                z.copy_(drive[0])
            torch.add(z.abs(), bias, out=out[t]).relu_().mul_(z.sign())  # (B, H)
        ctx.save_for_backward(w, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: torch.Tensor):
        w, out = ctx.saved_tensors
        T, B, H = out.shape
        # dh_t/dz_t = sign(z)^2 [|z| + b > 0] = sign(h_t)^2 and dh_t/db = sign(h_t)^3,
        # since h_t = 0 exactly where either factor is 0
        dz = torch.empty_like(out)
        db = torch.zeros_like(out[0])  # (B, H): dL/dh_t sign(h_t), summed over steps
        dh = g[-1]
        for t in range(T - 1, -1, -1):
            s = out[t].sign()  # (B, H)
            u = dh * s
            db += u
            torch.mul(u, s, out=dz[t])
            if t:
                dh = torch.addmm(g[t - 1], dz[t], w)  # (B, H)
        d_w = dz[1:].reshape(-1, H).t() @ out[:-1].reshape(-1, H)  # (H, H)
        return dz, d_w, db.sum(0)


def modrelu_layer(drive: torch.Tensor, w: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """h_t (T, B, H) of h_t = modReLU(drive_t + W h_{t-1}; bias), h_{-1} = 0, from the drive
    (T, B, H), time-major."""
    return _ModReLU.apply(drive.contiguous(), w, bias)
