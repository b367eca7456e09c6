"""Flip-flop language modeling (Liu, Ash, Goel, Krishnamurthy & Zhang 2023, "Exposing
attention glitches with flip-flop language modeling", sec. 2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import IGNORE, Batch, Task, TaskIO

WRITE, IGNORED, READ = 0, 2, 4  # tokens: write 0/1 = 0/1, ignore 0/1 = 2/3, read = 4


@TASKS.register("flipflop")
@dataclass(frozen=True)
class FlipFlop(Task):
    """At every read, output the bit of the last write; ignore instructions change nothing.

    Input (``length`` steps): one instruction per step, drawn i.i.d. as in the paper:
    ignore with probability ``ignore``, write or read with ``(1 - ignore) / 2`` each; the
    first step is a write, the last a read. Writes and ignores carry a random bit, so a
    step is one of five tokens: w0 w1 i0 i1 r (0 1 2 3 4). The target at a read is the
    last written bit; every other step is unlabelled (-100) and unscored.

    >>> from memorybench.tasks.base import lined_up
    >>> task = FlipFlop(ignore=0.5)
    >>> b = task.sample(1, 10, np.random.default_rng(0))
    >>> print(lined_up({"input": b.x[0], "target": b.y[0]}))
    input     0    3    3    2    4    4    1    0    1    4
    target -100 -100 -100 -100    0    0 -100 -100 -100    1

    The paper writes each instruction and its bit as two tokens and has a language model
    predict the bit after ``r``; here the read carries no bit, so no model (a bidirectional
    one included) can find the answer in its input. The paper trains at ``ignore`` 0.8 and
    tests sparse (0.98) and dense (0.1) sequences: a 1-layer LSTM makes no read errors,
    Transformers make rare, sporadic ones ("attention glitches"). Here the density is a
    parameter; each density is its own cell.

    Scored by accuracy over the reads (``solved`` 0.99: the point is how rarely a model
    errs); ``chance`` is 0.5. The gap between a read and its write is geometric, so a fixed
    window of the last ``w`` steps already gets most reads right at ``ignore`` 0.8 (see the
    shortcut tests); ``length`` bounds the gap. ``accuracy_sequences`` is the share of
    sequences with no read error at all.
    """

    description = "output the last written bit at every read among write/ignore/read " \
                  "instructions (flip-flop, Liu et al. 2023)"
    length_meaning = "sequence length T at the stated ignore probability; a read's write " \
                     "can be up to T-1 steps back"
    min_length = 3  # write, ignore, read

    ignore: float = 0.8  # probability of an ignore instruction (paper: train 0.8)
    solved: float = 0.99

    def validate(self) -> None:
        self.require("ignore", 0.0 <= self.ignore < 1.0, "0 <= ignore < 1")

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", in_size=5, targets="class", out_size=2,
                      positions="each")

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        u = rng.random((n, length))
        kind = np.where(u < self.ignore, IGNORED, np.where(u < (1 + self.ignore) / 2,
                                                           WRITE, READ))  # (n, T)
        kind[:, 0], kind[:, -1] = WRITE, READ
        bits = rng.integers(0, 2, (n, length))
        return self.assemble(np.where(kind == READ, READ, kind + bits))

    @staticmethod
    def assemble(x: np.ndarray) -> Batch:
        """The batch of instruction tokens ``x`` (n, T), targets read from it."""
        steps = np.arange(x.shape[1])
        last = np.maximum.accumulate(np.where(x <= 1, steps, 0), axis=1)  # last write
        written = np.take_along_axis(x, last, axis=1)  # its bit, 0 or 1
        y = np.where(x == READ, written, IGNORE)
        return Batch(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y))

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        x = IGNORED + rng.integers(0, 2, (n, length))  # ignores with random bits...
        x[:, 0] = rng.integers(0, 2, n)  # ... after one write, T-1 steps before the read
        x[:, -1] = READ
        deciding = x.copy()
        deciding[:, 0] = 1 - x[:, 0]
        filler = x.copy()  # every ignored bit flipped
        filler[:, 1:-1] = IGNORED + (1 - (x[:, 1:-1] - IGNORED))
        return self.assemble(x), self.assemble(deciding), self.assemble(filler)

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        reads = batch.y != IGNORE
        wrong = (out.argmax(-1) != batch.y) & reads
        return {"accuracy": 1.0 - wrong.sum().item() / reads.sum().item(),
                "accuracy_sequences": (~wrong.any(1)).float().mean().item()}

    def chance(self, length: int) -> float:
        return 0.5
