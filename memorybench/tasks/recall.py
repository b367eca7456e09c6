"""Multi-query associative recall, MQAR (Arora et al. 2023, "Zoology", sec. 3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import IGNORE, Batch, Task, TaskIO

BLANK = 0  # keys are tokens 1..keys, values keys+1..2*keys


@TASKS.register("recall")
@dataclass(frozen=True)
class Recall(Task):
    """Read ``pairs`` key-value pairs, then answer a query of every key with its value.

    Input (``length`` tokens): k1 v1 k2 v2 ... with distinct keys and random values, then
    blanks (0) among which every key is asked once, in random order at random positions.
    The target at a query is the value bound to that key; every other position is
    unlabelled (-100) and unscored.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Recall(pairs=2, keys=4)
    >>> b = task.sample(1, 8, np.random.default_rng(0))
    >>> print(lined_up({"input": b.x[0], "target": b.y[0]}))
    input     4    5    3    8    0    4    0    3
    target -100 -100 -100 -100 -100    5 -100    8

    Scored by accuracy at the query positions only. ``chance`` is ``1 / keys``: a uniform
    guess among the values, with no memory at all. A model that remembers which values
    appeared but not which key each was bound to scores about ``1 / pairs`` (more where a
    value repeats): stored as ``accuracy_value_set``, the expected accuracy of guessing
    among the sequence's own values, so beating ``chance`` alone does not prove recall of
    the bindings. Zoology sweeps length 64..512 and 4..64 pairs: attention solves it, while
    gated convolutions and small recurrent states fail as the pairs grow.
    """

    version = 1  # bump when the generator or score changes: old results stop matching
    description = "multi-query associative recall of key-value pairs (Zoology MQAR, " \
                  "Arora et al. 2023)"
    length_meaning = "sequence length T: pairs, then queries spread over the rest"

    pairs: int = 8
    keys: int = 32  # size of the key vocabulary; values have as many tokens
    solved: float = 0.9

    def validate(self) -> None:
        self.require("keys", self.keys >= 2, "an integer >= 2")
        self.require("pairs", 1 <= self.pairs <= self.keys,
                     f"an integer in 1..keys ({self.keys})")

    @property
    def min_length(self) -> int:
        return 3 * self.pairs  # the pairs, then one step per query

    @property
    def io(self) -> TaskIO:
        vocab = 1 + 2 * self.keys
        return TaskIO(inputs="tokens", in_size=vocab, targets="class", out_size=vocab,
                      positions="each")

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        p, rows = self.pairs, np.arange(n)[:, None]
        keys = np.argsort(rng.random((n, self.keys)), axis=1)[:, :p] + 1  # distinct (n, p)
        values = rng.integers(0, self.keys, (n, p)) + 1 + self.keys  # (n, p)
        x = np.full((n, length), BLANK, dtype=np.int64)  # (n, T)
        x[:, 0:2 * p:2], x[:, 1:2 * p:2] = keys, values
        where = np.argsort(rng.random((n, length - 2 * p)), axis=1)[:, :p] + 2 * p  # (n, p)
        asked = np.argsort(rng.random((n, p)), axis=1)  # which pair each query asks
        x[rows, where] = keys[rows, asked]
        y = np.full_like(x, IGNORE)
        y[rows, where] = values[rows, asked]
        return Batch(torch.from_numpy(x), torch.from_numpy(y))

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        base = self.sample(n, length, rng)
        x, y = base.x.numpy(), base.y.numpy()
        rows = np.arange(n)
        first = np.argmax(x[:, 2 * self.pairs:] == x[:, :1], axis=1) + 2 * self.pairs
        for a in (x, y):  # move the query of the first pair to the last step
            last = a[:, -1].copy()
            a[:, -1] = a[rows, first]
            a[rows, first] = last
        deciding = Batch(base.x.clone(), base.y.clone())
        value = (x[:, 1] - self.keys) % self.keys + 1 + self.keys  # another value
        deciding.x[:, 1] = deciding.y[:, -1] = torch.from_numpy(value)
        # Filler: every other key renamed, in its pair and its query alike (a cyclic shift
        # over the keys but the first pair's), so each query still asks for the same value.
        first_key = base.x[:, :1]
        other = (base.x >= 1) & (base.x <= self.keys) & (base.x != first_key)
        rank = base.x - 1 - (base.x > first_key).long()  # 0..keys-2 among the other keys
        shifted = (rank + 1) % (self.keys - 1)
        renamed = shifted + 1 + (shifted + 1 >= first_key).long()
        filler = Batch(torch.where(other, renamed, base.x), base.y.clone())
        return base, deciding, filler

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        asked = batch.y != IGNORE
        right = out.argmax(-1)[asked] == batch.y[asked]
        values = batch.x[:, 1:2 * self.pairs:2]  # (B, pairs)
        row = asked.nonzero()[:, 0]  # the example of each query
        among = (values[row] == batch.y[asked][:, None]).float().mean(1)  # (queries,)
        return {"accuracy": right.float().mean().item(),
                "accuracy_value_set": among.mean().item()}

    def chance(self, length: int) -> float:
        return 1.0 / self.keys
