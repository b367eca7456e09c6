"""Equal-size comparisons: the width that gives a model about N trainable parameters.

Models compared at one parameter budget differ in architecture, not in capacity (the uRNN
paper compares its models at ~6.5k parameters; Arjovsky, Shah & Bengio 2016). The count
is taken from the real ``SequenceModel`` built for the task (encoder and head included),
so it is the number stored with every result.

A width alone cannot land near every target when a core accepts only some widths:
attention's must be multiples of its head count, and at small widths two such neighbours
differ by 50% or more in parameters. Such a core names a second integer parameter,
``Core.sizing_knob`` (attention: its MLP ratio), which the sizing moves away from the
spec's value, nearest values first, only as far as needed for some width to land within
10% of the target.

A core of fixed size (a module given in-process with no width argument,
``Core.fixed_size``) has no width to move: ``--params`` is refused for it, with its count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection

import torch

from memorybench.errors import UserError
from memorybench.models.base import Core, SequenceModel, count_parameters
from memorybench.tasks.base import TaskIO

TOLERANCE = 0.10  # the chosen width's count is within 10% of the target
MAX_WIDTH = 16384
MAX_PARAMS = 10_000_000  # the search builds models up to ~4x the target: bound its memory
STRIDE = 64  # widths scanned for one the core accepts (a multiple of its heads, ...)

Fit = tuple[int, int]  # (width, trainable parameters)


def count_at(io: TaskIO, core_cls: type[Core], params: dict, width: int) -> int | None:
    """Trainable parameters of the model at ``width`` (its ``Core.width_arg``); None if
    the core refuses that width (e.g. attention needs a multiple of its heads)."""
    try:
        with torch.random.fork_rng():  # building draws initial weights; leave the seed be
            return count_parameters(SequenceModel(io, core_cls,
                                                  **{**params, core_cls.width_arg: width}))
    except UserError:
        return None


def bracket(count: Callable[[int], int | None], target: int) -> tuple[Fit | None, Fit | None]:
    """The accepted widths around ``target``: the widest whose count is below it and the
    narrowest whose count reaches it (None where there is none).

    Counts grow with width, so an exponential then binary search over widths finds where
    the count passes the target, building a few dozen models, none much larger than the
    target.
    """
    memo: dict[int, int | None] = {}

    def first_accepted(w: int) -> Fit | None:
        for v in range(w, min(w + STRIDE, MAX_WIDTH + 1)):
            if v not in memo:
                memo[v] = count(v)
            if (n := memo[v]) is not None:
                return v, n
        return None

    def reaches(w: int) -> bool:
        fit = first_accepted(w)
        return fit is None or fit[1] >= target

    hi = 1  # the narrowest width that reaches
    while hi < MAX_WIDTH and not reaches(hi):
        hi = min(2 * hi, MAX_WIDTH)
    lo = hi // 2 + 1 if hi > 1 else 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid + 1, hi)
    above = first_accepted(hi)
    if above is not None and above[1] < target:  # even the widest falls short
        return above, None
    # hi - 1 does not reach, so it is itself accepted (else its first accepted is above's)
    return (first_accepted(hi - 1) if hi > 1 else None), above


def knob_values(spec: int) -> list[int]:
    """The spec's value first, then 1 .. 2 x spec by distance from it (ties: the smaller)."""
    return sorted(range(1, 2 * spec + 1), key=lambda v: (v != spec, abs(v - spec), v))


# (io, core, parameters, target, name, fixed) -> a width found: a sweep sizes each model once
# per task and parameter set, not once per learning rate or seed.
_FOUND: dict[tuple, tuple[dict, int]] = {}


def size_for(io: TaskIO, core_cls: type[Core], params: dict, target: int,
             name: str | None = None, fixed: Collection[str] = ()) -> tuple[dict, int]:
    """``find_size``, each answer found once per process."""
    key = (io, core_cls, repr(sorted(params.items())), target, name, tuple(sorted(fixed)))
    if key not in _FOUND:
        _FOUND[key] = find_size(io, core_cls, params, target, name, fixed)
    chosen, count = _FOUND[key]
    return dict(chosen), count


def find_size(io: TaskIO, core_cls: type[Core], params: dict, target: int,
              name: str | None = None, fixed: Collection[str] = ()) -> tuple[dict, int]:
    """(chosen, count): the parameters to set, the width (``{"hidden": h}``, or the core's
    own ``width_arg``) and, where the width alone
    misses, the core's ``sizing_knob``, so that the model has ``count`` trainable
    parameters, the nearest to ``target`` within 10%. Parameters in ``fixed`` (set by the
    user) are never changed. Raises a one-line ``UserError`` if no width lands, or if the
    model has no width (``Core.fixed_size``)."""
    name = name or core_cls.name
    if core_cls.fixed_size:
        with torch.random.fork_rng():
            count = count_parameters(SequenceModel(io, core_cls, **params))
        raise UserError(f"model {name} has a fixed size ({count:,} parameters); --params "
                        "cannot size it; expected no --params, or a width argument (hidden "
                        "or d_model) in the model")
    if target > MAX_PARAMS:
        raise UserError(f"--params {target}: too large; expected at most {MAX_PARAMS:,} "
                        "trainable parameters")
    knob = core_cls.sizing_knob
    values = [None] if knob is None or knob in fixed else knob_values(params[knob])
    misses = []
    for value in values:
        trial = params if value is None else {**params, knob: value}
        below, above = bracket(functools.partial(count_at, io, core_cls, trial), target)
        near = [f for f in (below, above) if f and abs(f[1] - target) <= TOLERANCE * target]
        if near:
            width, count = min(near, key=lambda f: (abs(f[1] - target), f[0]))
            return {core_cls.width_arg: width, **({} if value is None else {knob: value})}, count
        misses.append((below, above))
    below, above = misses[0]  # the spec's own architecture, for the message
    if below is None and above is None:
        expected = f"parameters with which the model accepts some width up to {STRIDE}"
    elif below is None:
        smallest = min(a[1] for b, a in misses if b is None and a)
        expected = f"a target of at least about {smallest} (its smallest size on this task)"
    elif above is None:
        expected = f"a target of at most about {below[1]} (its largest width, {below[0]})"
    else:  # the target falls in a gap between accepted widths
        arg = core_cls.width_arg
        expected = (f"a target near {below[1]} ({arg}={below[0]}) or {above[1]} "
                    f"({arg}={above[0]})")
    raise UserError(f"--params {target}: no width of model {name} gives {target} "
                    f"+-{TOLERANCE:.0%} trainable parameters; expected {expected}")
