"""The checks a failed length passes before it counts as failed, as numbers: the plateau
test of a learning curve (``still_learning``), the budgets a failing rung is extended to
(``next_budget``) and the learning rate past a grid's edge (``beyond``). ``rules`` and
``failure`` apply them to rungs; nothing here knows of one."""

from __future__ import annotations

import math

from scipy.stats import linregress
from scipy.stats import t as student_t

# The plateau test of ``still_learning``: the least-squares slope of the held-out metric
# over the last WINDOW of a cell's evaluations (at least POINTS of them), and its one-sided
# (1 - ALPHA) confidence bound (Student's t): a curve is still learning while that bound
# stays above zero, and flat once it reaches zero. Calibrated on the cells a search
# continued to twice their budget (``python -m benchmarks.plateau_test``), the v3 run's
# first 89 (copy and recall): the last 40% (4 points, 2 degrees of freedom, on a 1,000-step
# curve of 10 evaluations) called flat 17 of the 73 curves that went on to gain more than
# 0.02; the last 60% calls 6 flat, with 10 false alarms of 16 as before. A 600-step curve
# is still judged on its last 4 points, past the rise that came before its plateau.
WINDOW, POINTS, ALPHA = 0.6, 4, 0.05


def slope_bound(curve: list[tuple[int, float]], window: float = WINDOW,
                points: int = POINTS) -> tuple[float, float] | None:
    """The slope of the metric per step over the curve's last ``window`` of evaluations
    (at least ``points``), and the lower end of its one-sided 1 - ``ALPHA`` confidence
    interval; None where the curve has fewer than ``points`` evaluations."""
    n = max(points, math.ceil(window * len(curve)))
    if len(curve) < points or len({x for x, _ in curve[-n:]}) < 2:
        return None
    fit = linregress([x for x, _ in curve[-n:]], [y for _, y in curve[-n:]])
    slope, error = float(fit.slope), float(fit.stderr)
    return slope, slope - float(student_t.ppf(1 - ALPHA, n - 2)) * error


def still_learning(curve: list[tuple[int, float]], steps: int, window: float = WINDOW,
                   points: int = POINTS) -> bool:
    """Whether a cell's budget cut its learning curve: it trained every one of its ``steps``
    (no early stop), and its held-out metric was still rising at the end: the slope over
    the last ``WINDOW`` of its evaluations is above zero with 1 - ``ALPHA`` confidence
    (``slope_bound``). A flat curve, or one too short to judge, is not. A horizon whose
    first failed length holds such cells by majority is the budget's: more steps may move
    it."""
    if not curve or curve[-1][0] < steps:
        return False
    bound = slope_bound(curve, window, points)
    return bound is not None and bound[1] > 0


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
