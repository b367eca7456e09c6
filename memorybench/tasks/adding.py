"""The adding problem (Hochreiter & Schmidhuber 1997, sec. 5.4; modern form of
Le, Jaitly & Hinton 2015 and Arjovsky, Shah & Bengio 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO


@TASKS.register("adding")
@dataclass(frozen=True)
class Adding(Task):
    """Sum the two marked values of a sequence of ``length`` random numbers.

    Two channels: values ~ U[0, 1], and markers with exactly one 1 in the first half and
    one in the second half. The target, read after the last step, is the sum of the two
    marked values; the first marker can lie ``length - 1`` steps back.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Adding()
    >>> b = task.sample(1, 6, np.random.default_rng(0))
    >>> print(lined_up({"value": b.x[0, :, 0], "marker": b.x[0, :, 1]}))
    value  0.85 0.64 0.51 0.27 0.31 0.04
    marker 1.00 0.00 0.00 1.00 0.00 0.00
    >>> round(b.y.item(), 2)  # 0.85 + 0.27
    1.12

    A sequence counts as correct when ``|prediction - target| < tolerance`` (0.04 in the
    1997 paper). Predicting the mean 1.0 without memory is correct with probability
    ``1 - (1 - tolerance)**2`` (0.078) and has MSE Var(U1 + U2) = 1/6.
    """

    version = 1  # bump when the generator or score changes: old results stop matching
    description = "sum the two marked values among `length` random numbers (Hochreiter 1997)"
    length_meaning = "sequence length T; the first marked value can be T-1 steps back"
    min_length = 2

    tolerance: float = 0.04  # |error| below which a sequence counts as correct (1997, sec 5.4)
    solved: float = 0.8

    def validate(self) -> None:
        self.require("tolerance", 0.0 < self.tolerance < 1.0, "0 < tolerance < 1")

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="reals", in_size=2, targets="real", out_size=1, positions="last")

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        half = length // 2
        values = rng.random((n, length), dtype=np.float32)  # (n, T)
        first = rng.integers(0, half, n)  # marker in [0, T/2)
        second = rng.integers(half, length, n)  # marker in [T/2, T)
        markers = np.zeros((n, length), dtype=np.float32)
        rows = np.arange(n)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        x = np.stack([values, markers], axis=-1)  # (n, T, 2)
        y = values[rows, first] + values[rows, second]  # (n,)
        return Batch(torch.from_numpy(x), torch.from_numpy(y[:, None]))  # y: (n, 1)

    def memory_target(self, batch: Batch, distance: int, rng: np.random.Generator
                      ) -> tuple[torch.Tensor, np.ndarray]:
        """The marked value, its marker moved to ``distance``; the other marker stays in the
        other half, so the example is still a valid adding sequence."""
        x = batch.x.clone()
        length = x.shape[1]
        pos, half = length - 1 - distance, length // 2
        other = (rng.integers(half, length, len(x)) if pos < half
                 else rng.integers(0, half, len(x)))
        x[..., 1] = 0.0
        x[:, pos, 1] = 1.0
        x[np.arange(len(x)), other, 1] = 1.0
        return x, x[:, pos, 0].numpy()[:, None]

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        base = self.sample(n, length, rng)
        x = base.x.clone()
        x[:, : length // 2, 1] = 0.0
        x[:, 0, 1] = 1.0  # the first marker as far back as it goes: T-1 steps
        base = Batch(x, (x[..., 0] * x[..., 1]).sum(1, keepdim=True))
        deciding = x.clone()
        deciding[:, 0, 0] = (x[:, 0, 0] + 0.5) % 1.0  # the first marked value
        unmarked = x[..., 1] == 0
        filler = x.clone()
        filler[..., 0] = torch.where(unmarked, (x[..., 0] + 0.5) % 1.0, x[..., 0])
        return (base, Batch(deciding, (deciding[..., 0] * x[..., 1]).sum(1, keepdim=True)),
                Batch(filler, base.y.clone()))

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        err = (out - batch.y).squeeze(-1)
        return {"accuracy": (err.abs() < self.tolerance).float().mean().item(),
                "mse": err.square().mean().item(),
                "mse_baseline": 1.0 / 6.0}

    def chance(self, length: int) -> float:
        return 1.0 - (1.0 - self.tolerance) ** 2
