"""Induction heads (Olsson et al. 2022, "In-context learning and induction heads"; the
synthetic form of Gu & Dao 2023, "Mamba", sec. 4.1.2 and Table 2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO

TRIGGER = 0  # the other tokens, 1..vocab-1, are random tokens and values


@TASKS.register("induction")
@dataclass(frozen=True)
class Induction(Task):
    """Find the token that followed the trigger, when the trigger comes again at the end.

    Input (``length`` steps): random tokens (1..vocab-1) among which the trigger (0)
    occurs once, at a random step, followed by its value; the last step is the trigger
    again. The target, read at the last step, is the value. The random tokens are a
    shuffled multiset in which every token occurs equally often (+-1): with tokens drawn
    i.i.d., the value's token would be the sequence's most frequent more often than
    chance (0.16 instead of 0.07 at 32 steps), a shortcut that needs no memory of order.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Induction(vocab=6)
    >>> b = task.sample(1, 8, np.random.default_rng(2))
    >>> print(lined_up({"input": b.x[0]}))
    input 5 1 0 2 3 4 5 0
    >>> b.y.item()  # the token after the first trigger
    2

    An induction head is two steps: find the earlier occurrence of the current token,
    copy what followed it. Mamba Table 2 (vocabulary 16, trained at 256 steps): Mamba
    stays near 100% to 2^20 steps; attention fails beyond about twice its training length.

    Scored by accuracy; ``chance`` is ``1 / (vocab - 1)``, a uniform guess among the
    values. The trigger's step is uniform, so the value lies 1 to ``length - 2`` steps
    back (a window of the last ``w`` steps holds it in a share ``w / (length - 2)`` of
    the sequences); ``probe`` puts it as far back as it goes.
    """

    description = "recall the token that followed a trigger when the trigger recurs " \
                  "(induction heads, Olsson et al. 2022; Mamba sec. 4.1.2)"
    length_meaning = "sequence length T; the trigger and its value lie anywhere before the " \
                     "query at the last step, up to T-1 steps back"
    min_length = 4  # trigger, value, one random token, query

    vocab: int = 16  # the trigger and vocab-1 random tokens (values)
    solved: float = 0.9

    def validate(self) -> None:
        self.require("vocab", self.vocab >= 3, "an integer >= 3 (the trigger and at least "
                     "2 values)")

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", in_size=self.vocab, targets="class",
                      out_size=self.vocab, positions="last")

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        values = self.vocab - 1
        start = rng.integers(0, values, (n, 1))  # which tokens get the extra occurrences
        balanced = (np.arange(length - 2) + start) % values + 1  # (n, T-2)
        return self.assemble(rng.permuted(balanced, axis=1), rng.integers(0, length - 2, n))

    def assemble(self, tokens: np.ndarray, trigger: np.ndarray) -> Batch:
        """The batch of ``tokens`` (n, T-2) with the trigger inserted at step ``trigger``
        (n,) and at the end."""
        rows, steps = np.arange(len(tokens)), np.arange(tokens.shape[1] + 1)
        x = np.take_along_axis(tokens, steps - (steps > trigger[:, None]), axis=1)  # (n, T-1)
        x[rows, trigger] = TRIGGER  # the tokens after it move one step later
        x = np.concatenate([x, np.full((len(x), 1), TRIGGER)], axis=1)  # (n, T)
        return Batch(torch.from_numpy(x), torch.from_numpy(tokens[rows, trigger]))

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        base = self.assemble(rng.integers(1, self.vocab, (n, length - 2)), np.zeros(n, np.int64))
        deciding = base.x.clone()
        deciding[:, 1] = base.x[:, 1] % (self.vocab - 1) + 1  # another value, T-2 steps back
        filler = base.x.clone()  # every random token but the value replaced by another
        filler[:, 2:-1] = base.x[:, 2:-1] % (self.vocab - 1) + 1
        return base, Batch(deciding, deciding[:, 1].clone()), Batch(filler, base.y.clone())

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        return {"accuracy": (out.argmax(-1) == batch.y).float().mean().item()}

    def chance(self, length: int) -> float:
        return 1.0 / (self.vocab - 1)
