"""Run many cells: skip the stored ones, train the rest in parallel, store each as it ends.

Backends: ``local`` (joblib processes on this machine; the default, no server) and ``dask``
(any dask.distributed cluster, or a LocalCluster when no scheduler is given). Either way
results come back to this process, which is the only one writing the store: workers need no
shared filesystem, and each result is committed the moment it arrives.
"""

from __future__ import annotations

import os
import sys
from collections import Counter, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import click
from tqdm import tqdm

from memorybench.cells import Cell
from memorybench.costs import cell_seconds
from memorybench.errors import UserError, printable
from memorybench.store import Store
from memorybench.training import train_cell
from memorybench.usermodels import check_bound

# A unit of work: a Cell, or a diagnostic (memorybench.diagnostics.Diagnostic). Either has
# a ``key`` and a ``failure(error)`` row; ``work(unit, device)`` returns its store row.
Unit = Any
Work = Callable[[Unit, str], dict[str, Any]]
# More work, asked for whenever a worker is free and nothing is queued: the units to train
# next, given the keys of those in flight (results so far are stored). A horizon search
# plans its next rungs from the results as they arrive, so no worker waits for a round.
Refill = Callable[[set[str]], list[Unit]]


@dataclass
class Plan:
    """The cells of a sweep (or diagnostics), split into those to train and those already
    stored."""

    cells: list[Unit]
    todo: list[Unit]
    stored: list[Unit]


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep; ``counts`` says what was stored before it."""

    def __init__(self, counts: Counter):
        super().__init__("interrupted")
        self.counts = counts


def make_plan(cells: list[Cell], statuses: dict[str, str], retry_failed: bool = False,
              rerun: bool = False) -> Plan:
    """Which cells to train: those not stored, stored failures with ``retry_failed``, and
    every cell with ``rerun``."""
    def done(cell: Cell) -> bool:
        status = statuses.get(cell.key)
        return (status is not None and not rerun
                and not (retry_failed and status == "failed"))

    unique = list({c.key: c for c in cells}.values())
    return Plan(unique, [c for c in unique if not done(c)], [c for c in unique if done(c)])


def check_device(device: str) -> str:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available here; "
                            "expected --device auto or cpu")
    return device


def default_workers() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # None where Python cannot tell


def longest_first(units: list[Unit]) -> list[Unit]:
    """So the last worker to finish is not left with the biggest job: cells in decreasing
    order of their estimated cost (``memorybench.costs``), which knows that an attention
    cell costs more than an Elman cell of the same length."""
    def cost(unit: Unit) -> float:
        cell: Cell = unit.cell if hasattr(unit, "cell") else unit  # a diagnostic trains its cell
        try:
            return cell_seconds(cell)
        except Exception:  # a cell that cannot even sample fails in training, not here
            return float(cell.length * cell.train.steps)

    return sorted(units, key=lambda c: -cost(c))


# A local worker process that has been idle this long exits (and one orphaned by a killed
# `run` exits soon after finishing its cell).
IDLE_SECONDS = 15


def _local(cells: list[Unit], workers: int, device: str, work: Work,
           refill: Refill | None = None) -> Generator[dict[str, Any], None, None]:
    """Train ``cells`` in ``workers`` processes of joblib's process pool (loky), at most one
    cell per process at a time, yielding results as they finish, then what ``refill``
    gives whenever a process is free and the queue is empty, until it gives nothing.

    A cell whose process dies (a segfault, the kernel's out-of-memory killer, a plugin that
    exits) takes down the whole pool, and with it the other cells in flight. The pool is
    restarted and the cells that were in flight are run again, each one alone, in a pool
    of its own with one process: a death there is that cell's for certain (a worker of the
    shared pool dying meanwhile is not blamed on it), so the cell is stored as failed and
    the sweep goes on.
    """
    if workers == 1 or (len(cells) <= 1 and refill is None):
        queue = deque(cells)
        while queue or (refill is not None and (queue := deque(refill(set())))):
            yield work(queue.popleft(), device)
        return
    from concurrent.futures import FIRST_COMPLETED, wait

    from joblib.externals.loky import ProcessPoolExecutor, get_reusable_executor
    from joblib.externals.loky.process_executor import BrokenProcessPool

    size = workers if refill is not None else min(workers, len(cells))
    queue = deque(longest_first(cells))
    suspects: set[str] = set()  # keys of cells in flight when a process died
    running: dict = {}  # future -> cell
    solo = None  # the one-process pool of a suspect
    executor = get_reusable_executor(max_workers=size, timeout=IDLE_SECONDS)
    try:
        while True:
            if refill is not None and not queue and len(running) < size:
                queue.extend(longest_first(refill({c.key for c in running.values()})))
            if not queue and not running:
                break
            # A suspect runs alone, so that a second death names its cell for certain.
            while queue and len(running) < size and not (
                    running and (queue[0].key in suspects
                                 or any(c.key in suspects for c in running.values()))):
                cell = queue.popleft()
                if cell.key in suspects:
                    solo = ProcessPoolExecutor(max_workers=1)
                    running[solo.submit(work, cell, device)] = cell
                else:
                    executor = get_reusable_executor(max_workers=size, timeout=IDLE_SECONDS)
                    running[executor.submit(work, cell, device)] = cell
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                cell = running.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool as exc:
                    if cell.key in suspects:  # its own pool's one process died
                        yield cell.failure("the worker process died while training this "
                                           f"cell ({type(exc).__name__}: {exc})")
                    else:
                        suspects.add(cell.key)
                        queue.appendleft(cell)
                except Exception as exc:  # e.g. a result that could not be sent back
                    yield cell.failure(f"{type(exc).__name__}: {exc}")
                finally:
                    if solo is not None and cell.key in suspects:
                        solo.shutdown(wait=True)
                        solo = None
    finally:
        if solo is not None:
            solo.shutdown(wait=False, kill_workers=True)
        for future in running:
            future.cancel()
        if running:  # interrupted: nothing keeps training after we return
            executor.shutdown(wait=False, kill_workers=True)


def require_dask(scheduler: str | None) -> None:
    """Fail early, before any store is opened, when dask.distributed is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        option = "--scheduler" if scheduler else "--backend dask"
        raise UserError(f"{option} needs dask.distributed; install the extra with "
                        "pip install 'memorybench[dask]'") from None


def _dask(cells: list[Unit], workers: int, device: str, scheduler: str | None,
          work: Work, refill: Refill | None = None) -> Generator[dict[str, Any], None, None]:
    require_dask(scheduler)
    import logging

    from distributed import Client, LocalCluster, as_completed

    # Dask reports routine worker restarts and slow shutdowns as warnings: keep the
    # terminal for memorybench's own lines.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    try:
        client = Client(cluster if cluster is not None else scheduler, timeout="10s")
    except (OSError, ValueError) as exc:
        raise UserError(f"--scheduler {scheduler}: cannot reach a Dask scheduler ({exc}); "
                        "expected an address like tcp://HOST:8786") from None
    try:
        # A cell whose worker dies is rescheduled by Dask on another worker; `retries` also
        # covers errors raised outside train_cell (which records its own failures).
        def submit(units: list[Unit]) -> dict:
            return {client.submit(work, cell, device, key=f"memorybench-{cell.key}",
                                  retries=2): cell for cell in longest_first(units)}

        futures = submit(cells)
        finished = as_completed(futures)
        if not futures and refill is not None:
            futures = submit(refill(set()))
            finished.update(futures)
        for future in finished:
            cell = futures.pop(future)
            try:
                yield future.result()
            except Exception as exc:  # e.g. KilledWorker: the cell kept killing workers
                yield cell.failure(f"{type(exc).__name__}: {exc}")
            future.release()
            if refill is not None and len(futures) < workers:
                more = submit(refill({c.key for c in futures.values()}))
                futures |= more
                finished.update(more)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_plan(plan: Plan, store, workers: int = 1, device: str = "cpu",
             backend: str = "local", scheduler: str | None = None, progress: bool = True,
             work: Work = train_cell, put: Callable[[dict], None] | None = None,
             on_result: Callable[[dict], None] | None = None,
             refill: Refill | None = None) -> Counter:
    """Run every unit still to do (by default: train cells), storing each result the
    moment it arrives (``put``, by default ``store.put``), then what ``refill`` gives
    while it gives more (``Refill``). An in-process model whose name the store holds for
    another model is refused first (``usermodels.check_bound``)."""
    check_bound(store, plan.todo)
    put = put or store.put
    counts: Counter = Counter()
    bar = tqdm(total=len(plan.todo), file=sys.stderr, disable=not progress, unit="cell")

    def more(flying: set[str]) -> list[Unit]:
        units = list({u.key: u for u in refill(flying)}.values()) if refill else []
        check_bound(store, units)
        bar.total = (bar.total or 0) + len(units)
        return units

    if backend == "dask":
        results = _dask(plan.todo, workers, device, scheduler, work, more if refill else None)
    else:
        results = _local(plan.todo, workers, device, work, more if refill else None)
    try:
        for result in results:
            put(result)
            counts[result["status"]] += 1
            if on_result is not None:
                on_result(result)
            bar.set_postfix_str(f"{result['task']}/{result['model']}/{result['length']}",
                                refresh=False)
            bar.update()
    except KeyboardInterrupt:
        raise SweepInterrupted(counts) from None
    finally:
        results.close()  # stops the workers: nothing keeps training after we return
        bar.close()
    return counts


@dataclass
class SweepOutcome:
    """What ``run_sweep`` did: its plan, the statuses of the cells it trained, the stored
    rows of the sweep's cells (empty for a dry run or an interrupted one) and the exit
    code (1 while cells of the sweep are stored as failed, 130 when interrupted)."""

    plan: Plan
    counts: Counter
    frame: Any = None  # pandas.DataFrame of the sweep's stored rows
    code: int = 0


def note(text: str) -> None:
    """A line for the person at the terminal (standard error, beside the progress bar),
    shown, not obeyed, where a name in it holds an escape sequence."""
    click.echo("\n".join(printable(line) for line in text.split("\n")), err=True)


def run_sweep(cells: list[Cell], db, workers: int, device: str = "cpu", backend: str = "local",
              scheduler: str | None = None, retry_failed: bool = False, rerun: bool = False,
              dry_run: bool = False, progress: bool = True, resume: str = "",
              work: Work = train_cell, say: Callable[[str], None] = note) -> SweepOutcome:
    """The ``run`` command's work: plan ``cells`` against the store ``db`` and train those
    to do (``work``), storing each as it ends; nothing with ``dry_run``. ``say`` gets the
    lines a person follows the run by (cells skipped, held by another run, interrupted
    with ``resume``: the command that picks up again); the caller prints the outcome."""
    with Store(db, readonly=dry_run) as store:
        plan = make_plan(cells, store.statuses(), retry_failed, rerun)
        check_bound(store, plan.todo)  # before the plan is said (run_plan checks again)
        if dry_run:
            return SweepOutcome(plan, Counter())
        held = store.claim([c.key for c in plan.todo])
        if held:
            plan.todo = [c for c in plan.todo if c.key not in held]
            say(f"{len(held)} cells are being trained by another run (process "
                f"{', '.join(map(str, sorted(set(held.values()))))}) on this store; "
                "skipped here")
        say(f"{len(plan.cells)} cells: {len(plan.todo)} to train, "
            f"{len(plan.stored)} already stored in {db}")
        try:
            counts = run_plan(plan, store, workers=workers, device=device, backend=backend,
                              scheduler=scheduler, progress=progress, work=work,
                              put=lambda row: store.put(row, replace=rerun))
        except SweepInterrupted as stop:
            say(f"memorybench: interrupted; {sum(stop.counts.values())} cells trained "
                f"and stored in {db} before it. Resume with: {resume}")
            return SweepOutcome(plan, stop.counts, code=130)
        finally:
            store.release([c.key for c in plan.todo])
        frame = store.frame()
    mine = frame[frame["key"].isin({c.key for c in plan.cells})]
    failed = int((mine["status"] == "failed").sum())
    return SweepOutcome(plan, counts, mine, 1 if failed else 0)
