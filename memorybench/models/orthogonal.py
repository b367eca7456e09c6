"""Orthogonal recurrent networks: the recurrent matrix stays orthogonal while it trains.

An orthogonal matrix preserves the norm of the hidden state and of the gradient flowing
back through it, so neither explodes nor vanishes over hundreds of steps (Arjovsky, Shah &
Bengio 2016). expRNN (Lezcano-Casado & Martinez-Rubio 2019) keeps it orthogonal by
construction, W = expm(A) with A skew-symmetric, and trains A; torch implements that map as
``torch.nn.utils.parametrizations.orthogonal(..., orthogonal_map="matrix_exp")``.

The orthogonal matrix alone is not enough: a ReLU RNN with torch's default orthogonal
parametrization and Adam stays at the copy baseline at T=200 for 3,000 steps. What makes
copy work is expRNN's whole recipe, which this module encodes as defaults:

* modReLU, sign(z) * relu(|z| + b) (Arjovsky et al. 2016): keeps the sign of each unit, so
  an orthogonal step loses nothing unless the unit's magnitude falls below -b;
* a skew-symmetric initialization of A made of 2x2 rotation blocks, Henaff et al. (2016)
  angles U[-pi, pi] (the copy task) or Cayley angles (Helfrich et al. 2018; pixel MNIST);
* RMSprop with a 10x smaller learning rate on A (``orth_lr``; see ``Core.lr_factors``);
  the optimizer is set by ``models/orthogonal.toml``.

modReLU has no fused kernel, so the recurrence is a Python loop, with a hand-written
backward pass (``memorybench.models.recurrences``). The fused alternative,
torch's ``nn.RNN`` (tanh or relu) with the same orthogonal ``weight_hh_l0``, init and
optimizer, ran about 1.5x more steps per second but learned copy far slower here (T=100,
hidden 190, batch 128, lr 1e-3): after 400-500 steps it recalled 2% (tanh) and 45% (relu)
of the symbols, while this model recalled 100% at its first evaluation, after 100 steps.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.base import Core
from memorybench.models.recurrences import modrelu_layer

INITS = ("henaff", "cayley")


def skew_init(n: int, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """A block-diagonal skew-symmetric (n, n) matrix of 2x2 blocks [[0, s], [-s, 0]].

    expm of a block rotates each pair of units by angle s. ``henaff``: s ~ U[-pi, pi]
    (Henaff, Szlam & LeCun 2016). ``cayley``: s = -sqrt((1 - cos u) / (1 + cos u)),
    u ~ U[0, pi/2] (Helfrich, Willmott & Ye 2018). An odd n leaves the last unit fixed.
    """
    if kind not in INITS:
        raise UserError(f"model orthogonal: init={kind!r}; expected one of: {', '.join(INITS)}")
    pairs = n // 2
    if kind == "henaff":
        s = (torch.rand(pairs, generator=generator) * 2 - 1) * math.pi  # (pairs,)
    else:
        u = torch.rand(pairs, generator=generator) * (math.pi / 2)  # (pairs,)
        s = -torch.sqrt((1 - torch.cos(u)) / (1 + torch.cos(u)))  # (pairs,)
    upper = torch.zeros(max(n - 1, 0))  # (n-1,) the first superdiagonal
    upper[::2] = s
    a = torch.diag(upper, diagonal=1)  # (n, n)
    return a - a.T  # (n, n) skew-symmetric


def make_orthogonal(module: nn.Module, name: str, init: str) -> None:
    """Parametrize ``module.<name>`` as expm(A) with A skew-symmetric, starting at
    A = ``skew_init``. torch stores A through its lower triangle in ``original`` and
    multiplies by a fixed orthogonal ``base``; base = I makes W = expm(A) exactly as in
    expRNN, so the learning rate acts on A itself."""
    with torch.no_grad():  # an orthogonal start spares torch's QR of a weight replaced below
        getattr(module, name).copy_(torch.eye(*getattr(module, name).shape))
    parametrizations.orthogonal(module, name, orthogonal_map="matrix_exp")
    weight = getattr(module, name)
    orth = getattr(module.parametrizations, name)
    with torch.no_grad():
        orth[0].base = torch.eye(weight.shape[0], dtype=weight.dtype)
        orth.original.copy_(skew_init(weight.shape[0], init).tril())


class ModReLU(nn.Module):
    """sign(z) * relu(|z| + b), one bias per unit (Arjovsky et al. 2016); b ~ U[-0.01, 0.01]
    as in expRNN."""

    def __init__(self, n: int):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(n).uniform_(-0.01, 0.01))  # (n,)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sign(z) * torch.relu(z.abs() + self.bias)


@MODELS.register("orthogonal")
class Orthogonal(Core):
    """expRNN: h_t = modReLU(W x_t + expm(A) h_{t-1}) (Lezcano-Casado & Martinez-Rubio 2019).

    modReLU has no fused kernel, so the recurrence is a Python loop over time with a
    hand-written backward pass (``modrelu_layer``); the input projection of all steps is one
    matmul before it, and the parametrized matrix is computed once per forward pass
    (``parametrize.cached``), not once per step. ``unroll`` runs the same recurrence under
    autograd, the reference the tests hold ``forward`` to.
    ``layers`` > 1 stacks cells, each feeding its states to the next.
    """

    # 2: the hand-written backward sums the weight gradient in another order than autograd
    version = 2

    description = "expRNN: orthogonal recurrent matrix expm(A), modReLU (Lezcano-Casado 2019)"

    def __init__(self, d_in: int, hidden: int = 190, layers: int = 1, init: str = "henaff",
                 orth_lr: float = 0.1):
        super().__init__()
        if hidden < 1 or layers < 1:
            raise UserError(f"model {self.name}: hidden={hidden}, layers={layers}; "
                            "expected positive integers")
        if not orth_lr > 0:
            raise UserError(f"model {self.name}: orth_lr={orth_lr!r}; expected a number > 0")
        self.orth_lr = orth_lr
        self.inputs = nn.ModuleList()
        self.recurrent = nn.ModuleList()
        self.act = nn.ModuleList()
        for i in range(layers):
            w_in = nn.Linear(d_in if i == 0 else hidden, hidden, bias=False)
            nn.init.kaiming_normal_(w_in.weight, nonlinearity="relu")  # as in expRNN
            rec = nn.Linear(hidden, hidden, bias=False)  # modReLU carries the bias
            make_orthogonal(rec, "weight", init)
            self.inputs.append(w_in)
            self.recurrent.append(rec)
            self.act.append(ModReLU(hidden))
        self.out_features = hidden

    def lr_factors(self) -> dict[str, float]:
        return {f"recurrent.{i}.parametrizations.weight.original": self.orth_lr
                for i in range(len(self.recurrent))}

    recurrent_state = True

    def state_size(self) -> int | None:
        # one (hidden,) state per layer; a ModuleList types its items as any module
        return sum(cast(ModReLU, act).bias.numel() for act in self.act)

    def unroll(self, h: torch.Tensor) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor]:
        # The recurrence of ``forward``, under autograd, with the layers interleaved per step.
        states = []
        with parametrize.cached():
            # (hidden, hidden) each; a ModuleList types its items as any module
            weights = [cast(nn.Linear, rec).weight.T for rec in self.recurrent]
            prev: tuple[torch.Tensor, ...] = ()
            for x_t in h.unbind(1):  # T x (B, d)
                below, new = x_t, []
                for i, (w_in, act) in enumerate(zip(self.inputs, self.act, strict=True)):
                    z = w_in(below)  # (B, hidden)
                    if prev:
                        z = torch.addmm(z, prev[i], weights[i])
                    below = act(z)  # (B, hidden)
                    new.append(below)
                prev = tuple(new)
                states.append(prev)
        return states, torch.stack([s[-1] for s in states], dim=1)  # (B, T, hidden)

    def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
        h = h.transpose(0, 1)  # (T, B, d): the recurrence runs time-major
        with parametrize.cached():
            for w_in, rec, act in zip(self.inputs, self.recurrent, self.act, strict=True):
                h = modrelu_layer(w_in(h), cast(nn.Linear, rec).weight,
                                  cast(ModReLU, act).bias)  # (T, B, hidden)
        return h.transpose(0, 1) if per_step else h[-1]  # (B, T, hidden) | (B, hidden)
