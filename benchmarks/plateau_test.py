"""How well the plateau test (``memorybench.horizon.checks.still_learning``) foretells
whether more steps help: each stored cell that failed its length and was continued to twice
its budget (the same task, model, length, seed and rate) is one case; the test's verdict on
its curve at the budget it failed is set against what the continuation gained, and against
whether the cell solved its length at any later budget.

    python -m benchmarks.plateau_test                     # results/standard.jsonl
    python -m benchmarks.plateau_test results/standard.db --gain 0.05
    python -m benchmarks.plateau_test --above-control --task parity

A case *gained* when its metric rose by more than ``--gain`` from one budget to the next.
Rows: the rule in use (the metric's slope over the last 60% of evaluations, at least 6, or
the held-out loss still falling by 1% of its level over another budget), the metric alone
over the same window and over the earlier windows (at least 4 points; the last 40%).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, NamedTuple

from memorybench.cells import Metrics
from memorybench.horizon import checks
from memorybench.report import summary
from memorybench.store import results

RULES = (("in use", checks.WINDOW, checks.POINTS, True),
         ("metric alone", checks.WINDOW, checks.POINTS, False),
         ("metric alone, at least 4", checks.WINDOW, 4, False),
         ("metric alone, 40%", 0.4, 4, False),
         ("at least 4, or loss falling", checks.WINDOW, 4, True))


class Case(NamedTuple):
    task: str
    curve: list[tuple[int, float]]
    losses: list[tuple[int, float]]
    budget: int
    gain: float  # the metric at twice the budget, less the metric at the budget
    solved_later: bool  # solved its length at a later budget (same rate and seed)


def cases(frame, above_control: bool = False) -> list[Case]:
    """One case per continued failing cell; with ``above_control``, only cells of rungs
    above a search's control (where the rule decides: a failing control trains on to the
    ceiling whatever its curves)."""
    cells: dict[tuple[str, int], Any] = {}
    for r in frame.itertuples():
        config = dict(r.config)
        train = dict(config.pop("train", {}))
        steps = int(train.pop("steps", 0))
        config.pop("key", None)
        if r.status == "ok" and steps:
            cells[(json.dumps([config, train], sort_keys=True, default=str), steps)] = r
    solved = {key for (key, _), r in cells.items() if r.solved}
    out = []
    for (key, steps), r in cells.items():
        after = cells.get((key, 2 * steps))
        metrics = Metrics.read(r.metrics)
        if r.solved or after is None or (above_control and metrics.control):
            continue
        out.append(Case(str(r.task), metrics.curve, metrics.losses, steps,
                        float(after.metric) - float(r.metric), key in solved))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results/standard.jsonl")
    parser.add_argument("--gain", type=float, default=0.02,
                        help="a continuation gained when its metric rose by more [0.02]")
    parser.add_argument("--above-control", action="store_true",
                        help="only the rungs above a search's control, where the rule decides")
    parser.add_argument("--task", action="append", default=[],
                        help="only this task's cases (repeatable) [all]")
    args = parser.parse_args(argv)
    found = [c for c in cases(summary.normalise(results.load(args.results)),
                              args.above_control) if not args.task or c.task in args.task]
    if not found:
        raise SystemExit(f"{args.results}: no failing cell continued to twice its budget")
    gained = sum(c.gain > args.gain for c in found)
    later = sum(c.solved_later for c in found)
    print(f"{len(found)} failing cells continued to twice their budget in {args.results}; "
          f"{gained} gained more than {args.gain}; {later} solved their length later\n")
    print("| rule | window | points | learning, gained | learning, did not | flat, gained "
          "(missed) | flat, did not | solved later, read flat | never solved, read "
          "learning |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, window, points, loss in RULES:
        counts = [0, 0, 0, 0, 0, 0]
        for c in found:
            said = checks.still_learning(c.curve, c.budget, window, points,
                                         c.losses if loss else None)
            counts[(0 if said else 2) + (0 if c.gain > args.gain else 1)] += 1
            counts[4] += c.solved_later and not said
            counts[5] += not c.solved_later and said
        print(f"| {name} | {window:.0%} | {points} | " + " | ".join(map(str, counts)) + " |")


if __name__ == "__main__":
    main()
