"""The copy memory task in the form of Arjovsky, Shah & Bengio (2016)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO

BLANK, DELIMITER = 8, 9  # tokens 0..7 are the data symbols a0..a7


@TASKS.register("copy")
@dataclass(frozen=True)
class Copy(Task):
    """Read ``symbols`` data tokens, wait ``length`` steps, then write them back in order.

    Input (length + 2*symbols steps): the symbols drawn from a0..a7, length-1 blanks (8),
    the delimiter (9), then blanks while the model answers. Target: blanks until the
    delimiter has passed, then the symbols.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Copy(symbols=3)
    >>> b = task.sample(1, 4, np.random.default_rng(0))
    >>> print(lined_up({"input": b.x[0], "target": b.y[0]}))
    input  6 5 4 8 8 8 9 8 8 8
    target 8 8 8 8 8 8 8 6 5 4

    Scored by accuracy over the recalled symbols only (chance 1/8): accuracy over all
    steps is misleading, as a memoryless model already gets the blanks right. The
    cross-entropy over all steps is stored too, with its memoryless baseline
    ``symbols * ln(8) / (length + 2 * symbols)`` (Arjovsky et al. 2016).
    """

    version = 1  # bump when the generator or score changes: old results stop matching
    description = "recall 10 symbols after a delay of `length` blanks (Arjovsky et al. 2016)"
    length_meaning = "delay T between the last symbol read and the delimiter that asks for it"

    symbols: int = 10
    solved: float = 0.9

    def validate(self) -> None:
        self.require("symbols", self.symbols >= 1, "an integer >= 1")

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", in_size=10, targets="class", out_size=10,
                      positions="each")

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        k = self.symbols
        data = rng.integers(0, 8, (n, k))  # (n, k)
        x = np.full((n, length + 2 * k), BLANK, dtype=np.int64)  # (n, T + 2k)
        x[:, :k] = data
        x[:, k + length - 1] = DELIMITER
        y = np.full_like(x, BLANK)
        y[:, k + length:] = data
        return Batch(torch.from_numpy(x), torch.from_numpy(y))

    def sequence_steps(self, length: int) -> int:
        return length + 2 * self.symbols

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        base = self.sample(n, length, rng)
        k = self.symbols
        deciding = Batch(base.x.clone(), base.y.clone())
        deciding.x[:, 0] = (base.x[:, 0] + 1) % 8  # the first symbol, read length+k steps later
        deciding.y[:, k + length] = deciding.x[:, 0]
        filler = Batch(base.x.clone(), base.y.clone())
        filler.x[:, -1] = (base.y[:, -1] + 1) % 8  # a blank while answering becomes a symbol
        return base, deciding, filler

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        k = self.symbols
        recalled = out[:, -k:].argmax(-1) == batch.y[:, -k:]
        ce = F.cross_entropy(out.reshape(-1, out.shape[-1]), batch.y.reshape(-1))
        return {"accuracy": recalled.float().mean().item(),
                "cross_entropy": ce.item(),
                "cross_entropy_baseline": self.ce_baseline(batch.x.shape[1] - 2 * k)}

    def ce_baseline(self, length: int) -> float:
        return self.symbols * math.log(8) / (length + 2 * self.symbols)

    def chance(self, length: int) -> float:
        return 1.0 / 8.0
