"""Run many cells: skip the stored ones, train the rest in parallel, store each as it ends.

Backends: ``local`` (joblib processes on this machine; the default, no server) and ``dask``
(any dask.distributed cluster, or a LocalCluster when no scheduler is given). Either way
results come back to this process, which is the only one writing the store: workers need no
shared filesystem, and each result is committed the moment it arrives.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from joblib import Parallel, delayed
from tqdm import tqdm

from memorybench.costs import cell_seconds
from memorybench.errors import UserError
from memorybench.store import Store
from memorybench.training import train_cell


@dataclass
class Plan:
    """The cells of a sweep, split into those to train and those already stored."""

    cells: list[dict]
    todo: list[dict]
    stored: list[dict]


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep; ``counts`` says what was stored before it."""

    def __init__(self, counts: Counter):
        super().__init__("interrupted")
        self.counts = counts


def make_plan(cells: list[dict], statuses: dict[str, str], retry_failed: bool = False) -> Plan:
    def done(cell: dict) -> bool:
        status = statuses.get(cell["key"])
        return status is not None and not (retry_failed and status == "failed")

    unique = list({c["key"]: c for c in cells}.values())
    return Plan(unique, [c for c in unique if not done(c)], [c for c in unique if done(c)])


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def longest_first(cells: list[dict]) -> list[dict]:
    """So the last worker to finish is not left with the biggest job: cells in decreasing
    order of their estimated cost (``memorybench.costs``), which knows that an attention
    cell costs more than an Elman cell of the same length."""
    def cost(cell: dict) -> float:
        try:
            return cell_seconds(cell)
        except Exception:  # a cell that cannot even sample fails in training, not here
            return float(cell["length"] * cell["train"]["steps"])

    return sorted(cells, key=lambda c: -cost(c))


def failed_row(cell: dict, error: str) -> dict:
    """The stored record of a cell whose worker could not return a result."""
    return {"key": cell["key"], "task": cell["task"], "model": cell["model"],
            "length": cell["length"], "seed": cell["seed"], "status": "failed",
            "error": error, "config": cell, "metrics": {}, "versions": {}}


def _local(cells: list[dict], workers: int, device: str) -> Iterator[dict]:
    if workers == 1 or len(cells) <= 1:
        for cell in cells:
            yield train_cell(cell, device)
        return
    yield from Parallel(n_jobs=min(workers, len(cells)), return_as="generator_unordered")(
        delayed(train_cell)(cell, device) for cell in longest_first(cells))


def _dask(cells: list[dict], workers: int, device: str, scheduler: str | None) -> Iterator[dict]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UserError("--backend dask needs dask.distributed; install the extra with "
                        "pip install 'memorybench[dask]'") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    try:
        client = Client(cluster if cluster is not None else scheduler, timeout="10s")
    except OSError as exc:
        raise UserError(f"--scheduler {scheduler}: cannot reach a Dask scheduler ({exc}); "
                        "expected an address like tcp://HOST:8786") from None
    try:
        # A cell whose worker dies is rescheduled by Dask on another worker; `retries` also
        # covers errors raised outside train_cell (which records its own failures).
        futures = {client.submit(train_cell, cell, device, key=f"memorybench-{cell['key']}",
                                 retries=2): cell for cell in longest_first(cells)}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # e.g. KilledWorker: the cell kept killing workers
                yield failed_row(futures[future], f"{type(exc).__name__}: {exc}")
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_plan(plan: Plan, store: Store, workers: int = 1, device: str = "cpu",
             backend: str = "local", scheduler: str | None = None,
             progress: bool = True) -> Counter:
    """Train every cell still to do, storing each result the moment it arrives."""
    counts: Counter = Counter()
    if backend == "dask":
        results = _dask(plan.todo, workers, device, scheduler)
    else:
        results = _local(plan.todo, workers, device)
    bar = tqdm(total=len(plan.todo), file=sys.stderr, disable=not progress, unit="cell")
    try:
        for result in results:
            store.put(result)
            counts[result["status"]] += 1
            bar.set_postfix_str(f"{result['task']}/{result['model']}/{result['length']}",
                                refresh=False)
            bar.update()
    except KeyboardInterrupt:
        raise SweepInterrupted(counts) from None
    finally:
        results.close()  # stops the workers: nothing keeps training after we return
        bar.close()
    return counts
