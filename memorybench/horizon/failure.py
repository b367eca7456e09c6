"""A failed rung, checked before it counts (``rules``' verdicts over it): the rung of a
length trained at several budgets (``decided``), whether its seeds train on
(``extendable``, against ``control_steps``) and at which rates (``halving``). Pure, like
``rules``; the arithmetic is ``checks``'."""

from __future__ import annotations

import dataclasses
import math

from memorybench.horizon.rules import Rung, Trial, rung


def decided(length: int, trials: list[Trial], lrs: tuple[float, ...]) -> Rung:
    """The rung of a length's trials at every budget they trained: judged at the longest
    budget, at the best of the rates extended to it (``halving``), or at the base budget
    over every rate tried there (the grid's, and any past its edge). Its grid edge is the
    edge of every rate tried."""
    tried = tuple(sorted({*lrs, *(t.lr for t in trials)}))
    top = max(t.budget for t in trials)
    last = rung(length, [t for t in trials if t.budget == top], tried)
    return dataclasses.replace(last, lr_at_edge=len(tried) > 1 and last.lr in (tried[0],
                                                                             tried[-1]))


def halving(trials: list[Trial]) -> tuple[float, ...]:
    """The rates that train on when a failing rung is extended: the better half (rounded
    up) of the rates at its longest budget by mean validation metric, as successive halving
    keeps them (Jamieson & Talwalkar 2016): a rate slower at first may be better at a
    longer budget, and each doubling costs less than the last."""
    top = max(t.budget for t in trials)
    at_top = [t for t in trials if t.budget == top]
    rates = sorted({t.lr for t in at_top})
    ranked = []
    for i, lr in enumerate(rates):
        mine = [t for t in at_top if t.lr == lr]
        values = [t.validation if t.ok and t.validation == t.validation else -math.inf
                  for t in mine]
        solved = sum(t.ok and t.solved for t in mine)
        ranked.append((-sum(values) / len(values), -solved, i, lr))
    return tuple(lr for *_, lr in sorted(ranked)[:math.ceil(len(rates) / 2)])


def extendable(r: Rung, need: float) -> bool:
    """Whether a failed rung's seeds train on: a majority of them trained their whole
    budget (a run stopped early, solved or with no progress, has nothing to continue), and
    a majority were still learning (``still_learning``) or had trained fewer than
    ``need`` steps (k x the control's, ``control_steps``)."""
    half = len(r.seeds) / 2
    return (not r.passed and sum(r.ran_out.values()) > half
            and (sum(r.rising.values()) > half or r.budget < need))


def any_extendable(length: int, trials: list[Trial], rates: tuple[float, ...],
                   need: float) -> bool:
    """Whether a failed rung's seeds train on at any of ``rates`` (the better half that
    would, ``halving``): each rate's seeds at the longest budget judged as a rung of their
    own (``extendable``). The best rate's seeds may have flattened near the threshold while
    a slower rate's are still climbing, and successive halving keeps both."""
    top = max(t.budget for t in trials)
    return any(extendable(rung(length, [t for t in trials if t.budget == top and t.lr == lr],
                               (lr,)), need)
               for lr in rates if any(t.budget == top and t.lr == lr for t in trials))


def steps_needed(rungs: dict[int, Rung], length: int, control: int | None,
                 multiple: float) -> float:
    """The steps a failure at ``length`` must have trained before a flat curve lets it count
    as failed (``extendable``'s ``need``): ``multiple`` (k) x the steps the shortest solved
    length below it took (``control_steps``), 0 where none solved; at the ``control``,
    every step up to the ceiling: "not learned" claims the ceiling's steps, since a plateau
    at the control may still break, and its cells are the cheapest."""
    if length == control:
        return math.inf
    solved = [x for n, x in sorted(rungs.items()) if n < length and x.solve_steps]
    return multiple * (control_steps(solved[0]) or 0.0) if solved else 0.0


def control_steps(r: Rung) -> float | None:
    """The median steps the control's solving seeds trained (an early stop's: when it
    stopped), the measure of how fast a model learns the task; None if none solved."""
    steps = sorted(r.solve_steps)
    if not steps:
        return None
    mid = len(steps) // 2
    return steps[mid] if len(steps) % 2 else (steps[mid - 1] + steps[mid]) / 2
