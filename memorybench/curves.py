"""A cell's stored learning curve, read back: its points, and whether the training budget
cut it while it was still rising (a horizon that is the budget's, not the memory's)."""

from __future__ import annotations

RISE = 0.05  # ``still_learning``: a gain in the metric's own units (accuracy: 5 points)


def still_learning(curve: list[tuple[int, float]], steps: int, rise: float = RISE) -> bool:
    """Whether a cell's budget cut its learning curve: it trained every one of its ``steps``
    (no early stop) and the best held-out metric of its last third of evaluations beat the
    best before them by at least ``rise``. A horizon whose first failed length holds such
    cells by majority is the budget's: more steps may move it."""
    if len(curve) < 3 or curve[-1][0] < steps:
        return False
    cut = len(curve) - max(1, len(curve) // 3)
    return max(v for _, v in curve[cut:]) - max(v for _, v in curve[:cut]) >= rise


def curve_of(metrics: dict) -> list[tuple[int, float]]:
    """(step, held-out metric) of a cell's stored learning curve (``metrics["curve"]``,
    [step, metric, loss] per evaluation); [] where none was stored (a baseline's fit)."""
    points = []
    for point in metrics.get("curve") or []:
        if isinstance(point, list) and len(point) >= 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in point[:2]):
            points.append((int(point[0]), float(point[1])))
    return points
