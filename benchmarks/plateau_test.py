"""How well the plateau test (``memorybench.horizon.checks.still_learning``) foretells
whether more steps help: each stored cell that failed its length and was continued to twice
its budget (the same task, model, length, seed and rate) is one case; the test's verdict on
its curve at the budget it failed is set against what the continuation gained.

    python -m benchmarks.plateau_test                     # results/standard.jsonl
    python -m benchmarks.plateau_test results/standard.db --gain 0.05

A case *gained* when its metric rose by more than ``--gain`` from one budget to the next.
Rows: the rule in use, the earlier one, and variants of window and minimum points; the
last row also counts a curve as learning while its held-out loss is still falling by at
least 1% of its level over another budget (the loss leads the metric on a plateau).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from memorybench.cells import Metrics
from memorybench.horizon import checks
from memorybench.report import summary
from memorybench.store import results

RULES = (("in use", checks.WINDOW, checks.POINTS, False), ("earlier", 0.4, 4, False),
         ("half", 0.5, 4, False), ("40%, at least 6", 0.4, 6, False),
         ("in use, or loss falling", checks.WINDOW, checks.POINTS, True))


def loss_falling(raw: list[Any], steps: int, window: float, points: int) -> bool:
    """The held-out loss's fall over the last ``window`` of evaluations (at least
    ``points``), at its one-sided bound (``checks.slope_bound`` of the negated loss), times
    ``steps``: at least 1% of its level."""
    rows = [(int(p[0]), -float(p[2])) for p in raw if len(p) > 2 and math.isfinite(p[2])]
    if not rows or rows[-1][0] < steps:
        return False
    bound = checks.slope_bound(rows, window, points)
    return bound is not None and bound[1] > 0 and bound[1] * steps >= 0.01 * -rows[-1][1]


def cases(frame, above_control: bool = False
          ) -> list[tuple[list[tuple[int, float]], list[Any], int, float]]:
    """(curve, raw curve with losses, budget, gain) per continued failing cell; with
    ``above_control``, only cells of rungs above a search's control (where the rule
    decides: a failing control trains on to the ceiling whatever its curves)."""
    cells: dict[tuple[str, int], tuple[Any, int]] = {}
    for r in frame.itertuples():
        config = dict(r.config)
        train = dict(config.pop("train", {}))
        steps = int(train.pop("steps", 0))
        config.pop("key", None)
        if r.status == "ok" and steps:
            cells[(json.dumps([config, train], sort_keys=True, default=str), steps)] = (r, steps)
    out = []
    for (key, steps), (r, _) in cells.items():
        after = cells.get((key, 2 * steps))
        if r.solved or after is None or (above_control and Metrics.read(r.metrics).control):
            continue
        raw = (r.metrics or {}).get("curve") or []
        out.append((Metrics.read(r.metrics).curve, raw, steps,
                    float(after[0].metric) - float(r.metric)))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results/standard.jsonl")
    parser.add_argument("--gain", type=float, default=0.02,
                        help="a continuation gained when its metric rose by more [0.02]")
    parser.add_argument("--above-control", action="store_true",
                        help="only the rungs above a search's control, where the rule decides")
    args = parser.parse_args(argv)
    found = cases(summary.normalise(results.load(args.results)), args.above_control)
    if not found:
        raise SystemExit(f"{args.results}: no failing cell continued to twice its budget")
    gained = sum(g > args.gain for *_, g in found)
    print(f"{len(found)} failing cells continued to twice their budget in {args.results}; "
          f"{gained} gained more than {args.gain}\n")
    print("| rule | window | points | learning, gained | learning, did not | flat, gained "
          "(missed) | flat, did not |")
    print("|---|---|---|---|---|---|---|")
    for name, window, points, loss in RULES:
        counts = [0, 0, 0, 0]
        for curve, raw, steps, gain in found:
            said = checks.still_learning(curve, steps, window, points) or (
                loss and loss_falling(raw, steps, window, points))
            counts[(0 if said else 2) + (0 if gain > args.gain else 1)] += 1
        print(f"| {name} | {window:.0%} | {points} | " + " | ".join(map(str, counts)) + " |")


if __name__ == "__main__":
    main()
