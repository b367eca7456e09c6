"""The checks a failed length passes before it counts as failed, as numbers: the plateau
test of a learning curve (``still_learning``), the budgets a failing rung is extended to
(``next_budget``) and the learning rate past a grid's edge (``beyond``). ``rules`` and
``failure`` apply them to rungs; nothing here knows of one."""

from __future__ import annotations

import functools
import math

from scipy.stats import t as student_t

# The plateau test of ``still_learning``: the least-squares slope of the held-out metric
# over the last WINDOW of a cell's evaluations (at least POINTS of them, or all where it has
# fewer; a fit takes FIT), and its one-sided (1 - ALPHA) confidence bound (Student's t): a
# curve is still learning while that bound stays above zero, or while its held-out loss,
# read the same way, still falls by LOSS_FALL of its level over another budget. Calibrated
# on the cells a search continued to twice their budget (``python -m
# benchmarks.plateau_test``): on copy and recall (1,000-step curves of 10 evaluations) the
# last 60% missed 6 of the 73 that gained more than 0.02, the last 40% 17. On the 600-step
# tasks (6 evaluations) the rungs above a search's control broke from flat curves: of the
# 65 parity and permutation cells that went on to solve their length at the same rate,
# the metric's last 4 points called 29 flat, the whole curve or a falling loss 6, at the
# price of 54 of the 61 that did not solve read as learning (12 before): on those tasks a
# failing rung now nearly always trains on to its ceiling.
WINDOW, POINTS, FIT, ALPHA, LOSS_FALL = 0.6, 6, 4, 0.05, 0.01


def slope_bound(curve: list[tuple[int, float]], window: float = WINDOW,
                points: int = POINTS) -> tuple[float, float] | None:
    """The slope of the metric per step over the curve's last ``window`` of evaluations
    (at least ``points``, or all of them where it has fewer), and the lower end of its
    one-sided 1 - ``ALPHA`` confidence interval; None where the curve has fewer than
    ``FIT`` evaluations."""
    n = min(len(curve), max(points, math.ceil(window * len(curve))))
    if n < FIT or len({x for x, _ in curve[-n:]}) < 2:
        return None
    slope, error = _fit([float(x) for x, _ in curve[-n:]], [float(y) for _, y in curve[-n:]])
    return slope, slope - _quantile(n - 2) * error


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """The least-squares slope of ``ys`` on ``xs`` and its standard error, as
    ``scipy.stats.linregress`` gives them (its formulas, for the few points of a curve
    without its per-call overhead: a report reads thousands of curves); a constant ``ys``
    has slope 0 and error 0 (linregress's error: nan; either reads as not rising)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs) / n
    syy = sum((y - my) ** 2 for y in ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / n
    r = 0.0 if sxx == 0 or syy == 0 else min(1.0, max(-1.0, sxy / math.sqrt(sxx * syy)))
    slope = sxy / sxx
    return slope, math.sqrt((1 - r * r) * syy / sxx / (n - 2))


@functools.cache
def _quantile(df: int) -> float:
    """Student's t at 1 - ``ALPHA`` with ``df`` degrees of freedom."""
    return float(student_t.ppf(1 - ALPHA, df))


def loss_falling(losses: list[tuple[int, float]], steps: int, window: float = WINDOW,
                 points: int = POINTS) -> bool:
    """Whether a held-out loss curve still fell when its ``steps`` ran out: the fall over
    another ``steps``, at the one-sided bound of its slope (``slope_bound`` of the negated
    loss), is at least ``LOSS_FALL`` of its last value."""
    if not losses or losses[-1][0] < steps:
        return False
    bound = slope_bound([(x, -y) for x, y in losses], window, points)
    return bound is not None and bound[1] > 0 and bound[1] * steps >= LOSS_FALL * losses[-1][1]


def still_learning(curve: list[tuple[int, float]], steps: int, window: float = WINDOW,
                   points: int = POINTS, losses: list[tuple[int, float]] | None = None
                   ) -> bool:
    """Whether a cell's budget cut its learning curve: it trained every one of its ``steps``
    (no early stop), and its held-out metric was still rising at the end (the slope over
    the last ``WINDOW`` of its evaluations is above zero with 1 - ``ALPHA`` confidence,
    ``slope_bound``) or its held-out ``losses`` still falling (``loss_falling``). A flat
    curve, or one too short to judge, is not. A horizon whose first failed length holds
    such cells by majority is the budget's: more steps may move it."""
    if not curve or curve[-1][0] < steps:
        return False
    bound = slope_bound(curve, window, points)
    return (bound is not None and bound[1] > 0) or loss_falling(losses or [], steps, window,
                                                                points)


def next_budget(budget: int, base: int, ceiling: int) -> int | None:
    """A failing rung's next budget: twice ``budget``, at most ``ceiling`` x ``base``;
    None at the ceiling."""
    top = base * ceiling
    return min(2 * budget, top) if budget < top else None


def rung_ceiling(ceiling: int, base: int, batch: int, length: int, tokens: int) -> int:
    """A failing rung's ceiling, as a multiple of its ``base`` budget of steps: ``ceiling``,
    halved while that many times ``base`` steps of ``batch`` sequences of ``length`` would
    train more than ``tokens`` (the length, the memory distance, stands for an example's
    time steps); at least 1. ``tokens`` 0: ``ceiling``, whatever the length."""
    top = ceiling
    while tokens > 0 and top > 1 and top * base * batch * length > tokens:
        top //= 2
    return top


def beyond(lr: float, grid: tuple[float, ...], up: bool) -> float:
    """The rate one step past ``lr`` on the grid's scale: along the 1-3-10 series where the
    grid lies on it (1e-2 -> 3e-2 -> 1e-1), else by the grid's geometric step."""
    def series(x: float) -> tuple[int, int] | None:
        exp = math.floor(math.log10(x) + 1e-9)
        mantissa = x / 10 ** exp
        for m in (1, 3):
            if math.isclose(mantissa, m, rel_tol=1e-6):
                return exp, m
        return None

    if len(grid) > 1 and all(series(x) for x in grid) and (at := series(lr)):
        exp, m = at
        if up:
            return float(f"{'3' if m == 1 else '1'}e{exp if m == 1 else exp + 1}")
        return float(f"{'1' if m == 3 else '3'}e{exp if m == 3 else exp - 1}")
    step = (max(grid) / min(grid)) ** (1 / (len(grid) - 1)) if len(grid) > 1 else 10.0
    return lr * step if up else lr / step
