"""Equal-size comparisons: the width that gives a model about N trainable parameters.

Models compared at one parameter budget differ in architecture, not in capacity (the uRNN
paper compares its models at ~6.5k parameters; Arjovsky, Shah & Bengio 2016). The count
is taken from the real ``SequenceModel`` built for the task (encoder and head included),
so it is the number stored with every result.
"""

from __future__ import annotations

import torch

from memorybench.errors import UserError
from memorybench.models.base import Core, SequenceModel, count_parameters
from memorybench.tasks.base import TaskIO

TOLERANCE = 0.10  # the chosen width's count is within 10% of the target
MAX_WIDTH = 16384


def count_at(io: TaskIO, core_cls: type[Core], params: dict, hidden: int) -> int | None:
    """Trainable parameters of the model at width ``hidden``; None if the core refuses
    that width (e.g. attention needs a multiple of its heads)."""
    try:
        with torch.random.fork_rng():  # building draws initial weights; leave the seed be
            return count_parameters(SequenceModel(io, core_cls, **{**params, "hidden": hidden}))
    except UserError:
        return None


def widths() -> list[int]:
    """Candidate widths: every integer up to 64, then steps of ~3% (about 6% in
    parameters, which grow with the square of the width)."""
    out = list(range(1, 65))
    while out[-1] < MAX_WIDTH:
        out.append(int(out[-1] * 1.03) + 1)
    return out


def width_for(io: TaskIO, core_cls: type[Core], params: dict, target: int,
              name: str | None = None) -> tuple[int, int]:
    """(hidden, count): the width whose model has the count closest to ``target``.

    Counts grow with width, so an exponential then binary search over the candidate
    widths finds where the count passes the target, building a dozen models or so and
    none much larger than the target; every integer width around that point is then tried.
    """
    counted: dict[int, int | None] = {}

    def count(w: int) -> int | None:
        if w not in counted:
            counted[w] = count_at(io, core_cls, params, w)
        return counted[w]

    grid = widths()

    def reaches(i: int) -> bool:
        """Whether the first allowed width from grid[i] on has >= target parameters."""
        for w in range(grid[i], min(grid[i] + 64, grid[-1] + 1)):
            if (n := count(w)) is not None:
                return n >= target
        return True

    hi = 1  # exponential search, then bisection, for the first index that reaches
    while hi < len(grid) - 1 and not reaches(hi):
        hi = min(2 * hi, len(grid) - 1)
    lo = hi // 2
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid + 1, hi)
    for w in range(grid[max(lo - 2, 0)], grid[min(lo + 1, len(grid) - 1)] + 1):
        count(w)
    valid = {w: n for w, n in counted.items() if n is not None}
    if valid:
        best = min(valid, key=lambda w: (abs(valid[w] - target), w))
        if abs(valid[best] - target) <= TOLERANCE * target:
            return best, valid[best]
    counted = valid
    name = name or core_cls.name
    smallest = min(counted.values(), default=None)
    if smallest is not None and smallest > target:
        expected = f"a target of at least about {smallest} (its smallest width on this task)"
    else:  # the target falls in a gap between allowed widths
        below = max((w for w in counted if counted[w] < target), key=counted.get)
        above = min((w for w in counted if counted[w] > target), key=counted.get)
        expected = (f"a target near {counted[below]} (hidden={below}) or {counted[above]} "
                    f"(hidden={above})")
    raise UserError(f"--params {target}: no width of model {name} gives {target} "
                    f"+-{TOLERANCE:.0%} trainable parameters; expected {expected}")
