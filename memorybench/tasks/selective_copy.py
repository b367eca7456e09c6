"""Selective copying (Gu & Dao 2023, "Mamba", sec. 3.1 and Table 1), the variable-position
form of the copy task (Arjovsky, Shah & Bengio 2016, variable copy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import IGNORE, Batch, Task, TaskIO

NOISE, MARKER = 0, 1  # data tokens are 2..vocab-1


@TASKS.register("selective-copy")
@dataclass(frozen=True)
class SelectiveCopy(Task):
    """Find ``tokens`` data tokens scattered among noise, then write them back in order.

    Input (``length + tokens`` steps): ``length`` steps of noise (0) among which the data
    tokens (2..vocab-1, drawn i.i.d.) sit at random distinct positions, then ``tokens``
    markers (1), one per token asked for. The target at the i-th marker is the i-th data
    token; every other position is unlabelled (-100) and unscored.

    >>> from memorybench.tasks.base import lined_up
    >>> task = SelectiveCopy(vocab=6, tokens=3)
    >>> b = task.sample(1, 6, np.random.default_rng(0))
    >>> print(lined_up({"input": b.x[0], "target": b.y[0]}))
    input     0    4    4    5    0    0    1    1    1
    target -100 -100 -100 -100 -100 -100    4    4    5

    Unlike copy, where the data sit at fixed positions, a model must decide from each
    token's content whether to store it: a time-invariant (LTI) state space model cannot,
    a selective one can (Mamba Table 1, vocabulary 16 with 16 tokens over 4,096 steps:
    S4 18.3% accuracy, S6 97.0%, Mamba 99.8%).

    Scored by accuracy at the markers only; ``chance`` is ``1 / (vocab - 2)``, a uniform
    guess among the data tokens. A model that remembers which tokens appeared but not
    their order does better: its best answer at every marker is the sequence's most
    frequent data token, whose accuracy is stored as ``accuracy_bag`` (about 0.2 at the
    Mamba setting), so beating ``chance`` alone does not prove the order was kept.
    """

    description = "copy the data tokens scattered among noise, in order (Mamba selective " \
                  "copy, Gu & Dao 2023)"
    length_meaning = "steps T over which the tokens are scattered; the first can be T steps " \
                     "before the marker that asks for it"

    vocab: int = 16  # noise, marker and vocab-2 data tokens
    tokens: int = 16  # data tokens to copy
    solved: float = 0.9

    def validate(self) -> None:
        self.require("vocab", self.vocab >= 4,
                     "an integer >= 4 (noise, marker and at least 2 data tokens)")
        self.require("tokens", self.tokens >= 1, "an integer >= 1")

    @property
    def min_length(self) -> int:
        return self.tokens + 1  # the tokens and at least one noise step

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", in_size=self.vocab, targets="class",
                      out_size=self.vocab, positions="each")

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        where = np.sort(np.argsort(rng.random((n, length)), axis=1)[:, :self.tokens], axis=1)
        return self.assemble(where, rng.integers(2, self.vocab, (n, self.tokens)), length)

    def sequence_steps(self, length: int) -> int:
        return length + self.tokens

    def assemble(self, where: np.ndarray, data: np.ndarray, length: int) -> Batch:
        """The batch with ``data`` (n, tokens) at the sorted positions ``where``."""
        n, k, rows = len(data), self.tokens, np.arange(len(data))[:, None]
        x = np.full((n, length + k), NOISE, dtype=np.int64)  # (n, T + k)
        x[rows, where] = data
        x[:, length:] = MARKER
        y = np.full_like(x, IGNORE)
        y[:, length:] = data
        return Batch(torch.from_numpy(x), torch.from_numpy(y))

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        k = self.tokens
        later = np.sort(np.argsort(rng.random((n, length - 1)), axis=1)[:, :k - 1], axis=1)
        where = np.concatenate([np.zeros((n, 1), np.int64), later + 1], axis=1)
        base = self.assemble(where, rng.integers(2, self.vocab, (n, k)), length)
        deciding = Batch(base.x.clone(), base.y.clone())  # the first token, T steps back
        other = (base.x[:, 0] - 1) % (self.vocab - 2) + 2  # the next data token
        deciding.x[:, 0] = deciding.y[:, length] = other
        # Filler: the data token before the first noise step moves one step later; the
        # tokens and their order stay, only where they sit changes.
        filler = base.x.clone()
        gap = (base.x[:, :length] == NOISE).float().argmax(1)  # >= 1: step 0 holds data
        rows = torch.arange(n)
        filler[rows, gap], filler[rows, gap - 1] = base.x[rows, gap - 1], NOISE
        return base, deciding, Batch(filler, base.y.clone())

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        k = self.tokens
        asked = batch.y[:, -k:]  # (B, k)
        right = out[:, -k:].argmax(-1) == asked
        counts = (asked[:, :, None] == asked[:, None, :]).sum(2)  # (B, k) each one's count
        return {"accuracy": right.float().mean().item(),
                "accuracy_bag": (counts.amax(1) / k).mean().item()}

    def chance(self, length: int) -> float:
        return 1.0 / (self.vocab - 2)
