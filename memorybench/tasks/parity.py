"""Parity (Deletang et al. 2023, "Neural networks and the Chomsky hierarchy", parity check,
a regular task; Grazzi et al. 2024 on the state tracking it needs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memorybench.errors import UserError
from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO, balanced_labels


@TASKS.register("parity")
@dataclass(frozen=True)
class Parity(Task):
    """Say whether a string of ``length`` bits holds an odd number of ones.

    Input: ``length`` bits (tokens 0 and 1). The target, read after the last bit, is their
    sum modulo 2. Labels are balanced: each bit string is uniform among those of its
    parity (a uniform string whose parity is not the drawn label gets one random bit
    flipped).

    >>> from memorybench.tasks.base import lined_up
    >>> b = Parity().sample(1, 8, np.random.default_rng(0))
    >>> print(lined_up({"input": b.x[0]}))
    input 1 1 1 0 0 0 1 0
    >>> b.y.item()  # four ones
    0

    Every bit decides the target, however far back; the first is ``length - 1`` steps
    before the output. A model needs one bit of state, flipped at every 1: RNNs and LSTMs
    learn it and generalize to longer strings, Transformers do not (Deletang et al. 2023:
    trained on lengths up to 40, tested on 41..500); diagonal linear recurrences with
    eigenvalues in [0, 1] (Mamba, LRU as usually set up) cannot represent it at arbitrary
    length (Grazzi et al. 2024).

    With ``every_step`` the target at every step is the parity so far: every prefix is a
    shorter parity problem, the signal Deletang et al. get from training on every length
    up to 40, while a label at the end alone says almost nothing until the whole chain
    of XORs is right. The metric stays the accuracy at the last step (``accuracy_steps``
    covers every step). ``probe`` does not apply then: each step's
    target is one step of memory from the previous one, so no target needs an input
    ``length`` steps back without also changing the targets in between.

    Scored by accuracy; ``chance`` is 0.5. The parity is a function of the count of ones,
    but not a monotone one: a fixed window of bits says nothing about it, and a threshold
    on the count (what a linear model of token counts can learn) gains only from the most
    likely count, ``length / 2``, whose parity is known: at most ``0.5 + P(count =
    length / 2) / 2``, 0.60 at 16 bits, 0.55 at 64, falling as ``1 / sqrt(length)``.
    """

    description = "the parity of `length` bits, read at the end (Deletang et al. 2023)"
    length_meaning = "number of bits T; the first is T-1 steps before the output"
    min_length = 2
    balanced = True

    every_step: bool = False  # label every step with the parity so far
    solved: float = 0.9

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", in_size=2, targets="class", out_size=2,
                      positions="each" if self.every_step else "last")

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        x = rng.integers(0, 2, (n, length))  # (n, T)
        y = balanced_labels(n, 2, rng)  # (n,)
        flip = (x.sum(1) % 2) != y
        x[np.flatnonzero(flip), rng.integers(0, length, n)[flip]] ^= 1
        if self.every_step:
            y = np.cumsum(x, axis=1) % 2  # (n, T)
        return Batch(torch.from_numpy(x), torch.from_numpy(y))

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        if self.every_step:
            raise UserError("task parity: with every_step the probe does not apply; each "
                            "step's target is one step of memory from the previous one")
        base = self.sample(n, length, rng)
        deciding = base.x.clone()
        deciding[:, 0] ^= 1  # the first bit, T-1 steps back
        filler = base.x.clone()  # the last two bits flipped: the count of ones changes by
        filler[:, -2:] ^= 1  # -2, 0 or 2, its parity not at all
        return base, Batch(deciding, 1 - base.y), Batch(filler, base.y.clone())

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        right = out.argmax(-1) == batch.y  # (B,) | (B, T) with every_step
        if not self.every_step:
            return {"accuracy": right.float().mean().item()}
        return {"accuracy": right[:, -1].float().mean().item(),
                "accuracy_steps": right.float().mean().item()}

    def chance(self, length: int) -> float:
        return 0.5
