"""The fixed-window baseline: a feed-forward network that sees only the last ``k`` inputs.

The classic alternative to recurrence (e.g. Bengio et al. 2003's n-gram MLP; the "fixed
window" model of introductory NLP lectures): the output at step t is an MLP of inputs
t-k+1 .. t, zero-padded before the first step. Whatever lies further back than ``k`` steps
cannot reach the output, so on a task whose deciding input is further back it must score
chance, by construction. That is its purpose in the benchmark: a memory horizon known
exactly, against which the recurrent models' horizons are read.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.base import Core


@MODELS.register("ffwindow")
class FFWindow(Core):
    """MLP over the concatenated last ``k`` inputs: ``layers`` hidden layers of width
    ``hidden`` with ReLU."""

    version = 1  # bump when a change alters what the model computes or learns

    description = "MLP over the last k inputs only: fails by construction beyond k steps"

    def __init__(self, d_in: int, hidden: int = 128, layers: int = 2, k: int = 10):
        super().__init__()
        if hidden < 1 or layers < 1 or k < 1:
            raise UserError(f"model {self.name}: hidden={hidden}, layers={layers}, k={k}; "
                            "expected positive integers")
        self.k = k
        blocks: list[nn.Module] = []
        width = k * d_in
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.mlp = nn.Sequential(*blocks)
        self.out_features = hidden

    def state_size(self) -> int | None:
        # Run step by step it keeps its last k inputs (width d_in each): a sliding buffer,
        # the inputs themselves, not a learned state.
        return cast(nn.Linear, self.mlp[0]).in_features  # k * d_in

    def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
        B, T, d = h.shape
        if not per_step:
            h = h[:, -self.k:]  # (B, min(T, k), d): the only steps the output may see
            T = h.shape[1]
        padded = F.pad(h, (0, 0, self.k - 1, 0))  # (B, T + k - 1, d): zeros before step 0
        windows = padded.unfold(1, self.k, 1)  # (B, T, d, k): window t ends at step t
        windows = windows.transpose(2, 3).reshape(B, T, self.k * d)  # (B, T, k d), oldest first
        out = self.mlp(windows)  # (B, T, hidden)
        return out if per_step else out[:, -1]  # (B, T, hidden) | (B, hidden)
