"""Run many cells: skip the stored ones, train the rest in parallel, store each as it ends."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from joblib import Parallel, delayed
from tqdm import tqdm

from memorybench.store import Store
from memorybench.training import train_cell


@dataclass
class Plan:
    """The cells of a sweep, split into those to train and those already stored."""

    cells: list[dict]
    todo: list[dict]
    stored: list[dict]


def make_plan(cells: list[dict], statuses: dict[str, str], retry_failed: bool = False) -> Plan:
    def done(cell: dict) -> bool:
        status = statuses.get(cell["key"])
        return status is not None and not (retry_failed and status == "failed")

    unique = list({c["key"]: c for c in cells}.values())
    return Plan(unique, [c for c in unique if not done(c)], [c for c in unique if done(c)])


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _results(cells: list[dict], workers: int, device: str) -> Iterator[dict]:
    if workers == 1 or len(cells) == 1:
        return (train_cell(cell, device) for cell in cells)
    # Longest cells first, so the last worker to finish is not left with the biggest job.
    ordered = sorted(cells, key=lambda c: -c["length"] * c["train"]["steps"])
    return Parallel(n_jobs=min(workers, len(cells)), return_as="generator_unordered")(
        delayed(train_cell)(cell, device) for cell in ordered)


def run_plan(plan: Plan, store: Store, workers: int = 1, device: str = "cpu",
             progress: bool = True) -> Counter:
    """Train every cell still to do, storing each result the moment it arrives."""
    counts: Counter = Counter()
    bar = tqdm(total=len(plan.todo), file=sys.stderr, disable=not progress, unit="cell")
    with bar:
        for result in _results(plan.todo, workers, device):
            store.put(result)
            counts[result["status"]] += 1
            bar.set_postfix_str(f"{result['task']}/{result['model']}/{result['length']}",
                                refresh=False)
            bar.update()
    return counts
