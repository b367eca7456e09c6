"""The word problem of a permutation group (Merrill, Petty & Sabharwal 2024, "The illusion
of state in state-space models", sec. 3: composing permutations of 5 elements, S5)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from memorybench.errors import UserError
from memorybench.tasks import TASKS
from memorybench.tasks.base import Batch, Task, TaskIO

GROUPS = {"S3": 3, "S4": 4, "S5": 5}  # symmetric groups: every permutation of n items


@lru_cache
def group_tables(group: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(elements (|G|, n), compose (|G|, |G|), inverse (|G|,)) of a symmetric group.
    Elements in lexicographic order, so 0 is the identity; ``compose[a, b]`` is the
    permutation "apply a, then b"."""
    elements = np.array(list(itertools.permutations(range(GROUPS[group]))))
    index = {tuple(p): i for i, p in enumerate(elements.tolist())}
    then = elements[:, None, :].repeat(len(elements), 1)  # a, broadcast over b
    composed = np.take_along_axis(elements[None, :, :].repeat(len(elements), 0), then, 2)
    compose = np.array([[index[tuple(p)] for p in row] for row in composed.tolist()])
    inverse = np.argmax(compose == 0, axis=1)
    return elements, compose, inverse


@TASKS.register("permutation")
@dataclass(frozen=True)
class Permutation(Task):
    """Compose a sequence of ``length`` permutations; name the product.

    Input: ``length`` tokens, each one element of the group (S3: 6 tokens, S5: 120), drawn
    uniformly. The target, read after the last step, is their composition, applied first
    to last. Token ``i`` is the ``i``-th permutation in lexicographic order (0 is the
    identity; for S3: 012 021 102 120 201 210), where ``p`` sends item ``j`` to ``p[j]``.

    >>> from memorybench.tasks.base import lined_up
    >>> task = Permutation(group="S3")
    >>> b = task.sample(1, 4, np.random.default_rng(0))
    >>> print(lined_up({"input": b.x[0]}))
    input 5 3 3 1
    >>> b.y.item()  # 210 then 120 then 120 then 021 is 201
    4

    A model must carry the running product, one of |G| states, and update it by each
    token: the word problem of S5 is NC1-complete, so linear state space models and
    fixed-depth Transformers cannot track it at every length, while nonlinear RNNs can
    (Merrill et al. 2024); S3, S4 are easier variants with fewer states.

    With ``every_step`` the target at every step is the product so far, the signal parity's
    ``every_step`` gives: a label at the end alone says almost nothing until the whole chain
    of compositions is right. The metric stays the accuracy at the last step
    (``accuracy_steps`` covers every step); ``probe`` does not apply then.

    Scored by accuracy; ``chance`` is ``1 / |G|``. The product is uniform and independent
    of any strict subset of the tokens, so neither the last tokens nor any window shorter
    than ``length`` says anything about it. Token counts give only the product's sign
    (even or odd): a bag of tokens can at best reach ``2 / |G|``.
    """

    description = "compose `length` permutations of a small set and name the product " \
                  "(S3/S5 word problems, Merrill et al. 2024)"
    length_meaning = "number of permutations T; the first is T-1 steps before the output"
    min_length = 2

    group: str = "S3"  # S5 is the paper's hard case; S3 (6 states) is in reach of CPU budgets
    solved: float = 0.9
    every_step: bool = False  # label every step with the product so far

    def validate(self) -> None:
        self.require("group", self.group in GROUPS, " | ".join(GROUPS))

    @property
    def size(self) -> int:
        return len(group_tables(self.group)[1])

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", in_size=self.size, targets="class",
                      out_size=self.size, positions="each" if self.every_step else "last")

    def product(self, x: np.ndarray) -> np.ndarray:
        """The composition of each row of ``x`` (n, T), by pairs in log2(T) steps."""
        compose = group_tables(self.group)[1]
        while x.shape[1] > 1:
            if x.shape[1] % 2:
                x = np.concatenate([x, np.zeros_like(x[:, :1])], axis=1)  # the identity
            x = compose[x[:, 0::2], x[:, 1::2]]
        return x[:, 0]

    def prefixes(self, x: np.ndarray) -> np.ndarray:
        """The composition of each prefix of each row of ``x`` (n, T): (n, T)."""
        compose = group_tables(self.group)[1]
        out = np.empty_like(x)
        out[:, 0] = x[:, 0]
        for t in range(1, x.shape[1]):
            out[:, t] = compose[out[:, t - 1], x[:, t]]
        return out

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        x = rng.integers(0, self.size, (n, length))  # (n, T)
        y = self.prefixes(x) if self.every_step else self.product(x)  # (n, T) | (n,)
        return Batch(torch.from_numpy(x), torch.from_numpy(y))

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        if self.every_step:
            raise UserError("task permutation: with every_step the probe does not apply; "
                            "each step's target is one step of memory from the previous one")
        _, compose, inverse = group_tables(self.group)
        x = rng.integers(0, self.size, (n, length))
        g = rng.integers(1, self.size, n)  # not the identity
        deciding = x.copy()
        deciding[:, 0] = compose[x[:, 0], g]  # the first token, T-1 steps back
        filler = x.copy()  # (a then g) then (g^-1 then b) = a then b
        filler[:, -2] = compose[x[:, -2], g]
        filler[:, -1] = compose[inverse[g], x[:, -1]]

        def batch(a: np.ndarray) -> Batch:
            return Batch(torch.from_numpy(a), torch.from_numpy(self.product(a)))

        return batch(x), batch(deciding), batch(filler)

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, float]:
        right = out.argmax(-1) == batch.y  # (B,) | (B, T) with every_step
        if not self.every_step:
            return {"accuracy": right.float().mean().item()}
        return {"accuracy": right[:, -1].float().mean().item(),
                "accuracy_steps": right.float().mean().item()}

    def chance(self, length: int) -> float:
        return 1.0 / self.size
