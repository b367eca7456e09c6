"""Run horizon searches (``memorybench horizon``): the rules of ``memorybench.horizon.rules`` over
ordinary cells, planned by ``memorybench.horizon.plan``, trained and stored by the runner.

Each rung of a search is one cell per (learning rate, seed) at one length, so it is keyed,
resumable and parallel like any cell of ``run``: a rerun reads every rung back from the
store and trains nothing. Every open search asks for its next rung, the runner trains the
rungs of all searches at once, and whenever a worker is free and nothing is queued the
searches are read back from the store and asked again (``runner.Refill``), so no worker
waits for the slowest cell of a round; each search whose bracket closes is printed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from memorybench import checkpoints
from memorybench.checkpoints import folder_of
from memorybench.config import Protocol, Request
from memorybench.costs import cell_seconds, duration, sweep_seconds
from memorybench.errors import UserError
from memorybench.horizon import rules, text
from memorybench.horizon.plan import Search, plan_searches, search_sweep
from memorybench.horizon.progress import Progress
from memorybench.horizon.rules import Rung, State
from memorybench.runner import SweepInterrupted, Work, make_plan, run_plan
from memorybench.store import Store, results
from memorybench.training import Continuing
from memorybench.usermodels import check_bound

if TYPE_CHECKING:
    import pandas as pd

    from memorybench.cells import Cell


Row = dict[str, Any]  # a stored cell, missing values as None


def brackets(searches: list[Search], protocol: Protocol, db: str | Path) -> list[dict[str, Any]]:
    """Each search's bracket as stored in ``db``: one row per (task, model)."""
    with Store(db, readonly=True) as store:
        rows = stored_rows(store)
    out = []
    for search in searches:
        state, rungs = search.state(rows, protocol.resolution)
        best = rungs.get(state.lo) if state.lo is not None else None
        out.append({"task": search.task, "model": search.model, "closed": state.closed,
                    "solved": state.lo, "failed": state.hi, "cap": search.cap,
                    "bracket": text.verdict(state, rungs, search.cap, search.control,
                                            search.task_cap)
                    if state.closed else None,
                    "lr": best.lr if best else None, "causal": search.causal,
                    "lengths_trained": list(state.trained)})
    return out


def as_searched(row: dict[str, Any], record: dict[str, Any] | None,
                control: bool = False) -> dict[str, Any]:
    """A result row as a search stores it: ``metrics["search"]``, the protocol of the search
    that asked for it (``Search.record``), and ``metrics["control"]`` where its cell was
    the search's control (the report reads a failed control as "not learned",
    ``rules.not_learned``). Both are non-key data: the cell's key stays as it was."""
    if not isinstance(row.get("metrics"), dict):
        return row
    extra = ({"search": record} if record is not None else {}) | (
        {"control": True} if control else {})
    return {**row, "metrics": {**row["metrics"], **extra}} if extra else row


def stored_rows(store: Store) -> dict[str, Row]:
    return rows_by_key(store.frame())


def rows_by_key(frame: pd.DataFrame) -> dict[str, Row]:
    """Key -> row (missing values as None) of a results table."""
    # pandas types a record's keys as Hashable; these are the column names
    rows = cast(list[Row], frame.astype(object).where(frame.notna(), None)
                .to_dict(orient="records"))
    return {r["key"]: r for r in rows}


def suite_search_rows(db: str | Path, suite: str) -> tuple[pd.DataFrame, int]:
    """The stored rows of every search of ``suite``'s ``[horizon]`` table in the store or
    results file ``db`` (each search's cells at every length it trained), and how many
    stored rows are not theirs; a search still open is an error that says how to resume."""
    frame = results.load(db)
    sweep, protocol = search_sweep(Request(suite))
    searches = plan_searches(sweep, protocol)
    rows = rows_by_key(frame)
    keys, still_open = set(), []
    for search in searches:
        state, rungs = search.state(rows, protocol.resolution)
        if not state.closed:
            still_open.append(f"{search.task} × {search.model}")
        keys |= {c.key for c in search.trained(state, rungs, rows)}
        keys |= {c.key for c in search.probe_cells(state, rungs)}
    if still_open:
        raise UserError(f"{db}: {len(still_open)} of the {len(searches)} searches of suite "
                        f"{suite} are still open ({still_open[0]} first); resume them: "
                        f"memorybench horizon --suite {suite} --db {db}")
    keep = frame["key"].isin(keys)
    return frame[keep], int((~keep).sum())


def run_searches(searches: list[Search], protocol: Protocol, db: str | Path, workers: int,
                 device: str = "cpu", backend: str = "local", scheduler: str | None = None,
                 dry_run: bool = False, progress: bool = True, work: Work | None = None,
                 keep_checkpoints: bool = False) -> int:
    """The ``horizon`` command: rounds of rungs until every search's bracket closes,
    printing each bracket as it closes; with ``dry_run``, the ladders so far and the
    worst-case cost left. Returns the exit code (1 while a searched cell is stored as
    failed, 130 when interrupted). ``work`` trains a cell (default: ``train_cell``
    continuing the checkpoints beside ``db``, ``checkpoints.folder_of``, which are
    removed once every search has closed unless ``keep_checkpoints``)."""
    printed: set[int] = set()
    trained: set[str] = set()  # the keys this command stored
    records = {(s.task, s.model): s.record(protocol) for s in searches}
    controls: set[str] = set()  # the keys of the searches' control cells asked for so far
    rows: dict[str, Row] = {}
    states: list[tuple[State, dict[int, Rung]]] = []
    with Progress(progress and not dry_run, workers) as bar, \
            Store(db, readonly=dry_run) as store:
        # a name the store holds for another model: refused before anything is said
        check_bound(store, [s.cells(s.lengths[0])[0] for s in searches])

        def next_cells(flying: set[str]) -> list[Cell]:
            """The cells the searches ask for now, from what is stored, but those in
            ``flying``; each search that has closed meanwhile is printed."""
            nonlocal rows, states
            rows = stored_rows(store)
            states = [s.state(rows, protocol.resolution) for s in searches]
            for i, (search, (state, rungs)) in enumerate(zip(searches, states, strict=True)):
                if state.closed and i not in printed:
                    printed.add(i)
                    bar.write(text.describe(search.task, search.model, state, rungs,
                                            search.cap, search.causal, search.control,
                                            search.baseline, search.task_cap))
                if search.control is not None and state.next == search.control:
                    controls.update(c.key for c in search.at(search.control, rows, rungs)[0])
            todo = [c for s, (state, rungs) in zip(searches, states, strict=True)
                    for c in s.todo(state, rungs, rows) if c.key not in flying]
            bar.more(todo if flying else [])
            return todo

        def put(row: Row) -> None:
            search = records.get((str(row.get("task")), str(row.get("model"))))
            store.put(as_searched(row, search, row.get("key") in controls))
            trained.add(row["key"])

        while True:
            todo = next_cells(set())
            if dry_run:
                print_dry_run(searches, states, protocol, workers, rows)
                return 0
            if not todo:
                break
            plan = make_plan(todo, store.statuses())
            if not plan.todo:  # every cell stored, yet no rung closed: a bug, not a loop
                raise RuntimeError("horizon search made no progress")
            bar.round(plan.todo, worst_left(searches, states, protocol, rows))
            try:  # each rung asks for the next as its results arrive (``next_cells``)
                run_plan(plan, store, workers=workers, device=device, backend=backend,
                         scheduler=scheduler, progress=False,
                         work=work or Continuing(str(folder_of(db))), put=put,
                         on_result=bar.done, refill=next_cells)
            except SweepInterrupted:
                bar.close()  # before the lines that follow
                print_interrupted(searches, protocol, stored_rows(store), trained, db)
                return 130
        bar.close(finished=True)  # every search closed: the plan was what was trained
    print_totals(searches, states, trained, db, rows)
    if not keep_checkpoints:
        checkpoints.prune(folder_of(db), {checkpoints.lineage(c) for s, (state, rungs) in
                                          zip(searches, states, strict=True)
                                          for c in s.trained(state, rungs, rows)})
    failed = sum(1 for s, (state, rungs) in zip(searches, states, strict=True)
                 for c in s.trained(state, rungs, rows)
                 if rows.get(c.key, {}).get("status") == "failed")
    if failed:
        click.echo(f"{failed} searched cells are stored as failed (they count as failed "
                   "seeds); see `memorybench report`", err=True)
    return 1 if failed else 0


def asked_keys(searches: list[Search], protocol: Protocol, rows: dict[str, Row]) -> set[str]:
    """The keys of every cell the searches have asked for so far (``Search.asked``), read
    from the stored ``rows``: each cell once, however many searches share it."""
    keys: set[str] = set()
    for search in searches:
        state, rungs = search.state(rows, protocol.resolution)
        keys |= {c.key for c in search.asked(state, rungs, rows)}
    return keys


def print_interrupted(searches: list[Search], protocol: Protocol, rows: dict[str, Row],
                      trained: set[str], db: str | Path) -> None:
    """What an interrupted command leaves: the searches' cells stored, however many
    rounds or earlier commands stored them, and those it stored itself (``trained``)."""
    stored = asked_keys(searches, protocol, rows) & rows.keys()
    click.echo(f"memorybench: interrupted; {len(stored)} cells of these searches are stored "
               f"in {db} ({len(stored & trained)} trained now); run the same command to "
               "resume", err=True)


def print_totals(searches: list[Search], states: list[tuple[State, dict[int, Rung]]],
                 trained: set[str], db: str | Path, rows: dict[str, Row]) -> None:
    """The cells the closed searches hold, each once: those this command stored
    (``trained``) and those it found stored; against a full grid over the same ladders;
    and the share of their training time spent in cells that did not solve (those run
    their whole budget)."""
    pairs = list(zip(searches, states, strict=True))
    keys = {c.key for s, (st, rungs) in pairs for c in s.asked(st, rungs, rows)}
    rungs_only = {c.key for s, (st, rungs) in pairs for c in s.trained(st, rungs, rows)}
    now = len(keys & trained)
    probes = len(keys - rungs_only)
    grid = sum(len(s.lengths) * len(s.base) for s in searches)
    ratio = grid / len(rungs_only) if rungs_only else math.inf
    click.echo(f"{len(searches)} searches: {len(keys)} cells ({now} trained now, "
               f"{len(keys & rows.keys()) - now} found stored in {db}"
               + (f"; {probes} of them probes" if probes else "")
               + f"); a full grid over the same ladders: {grid} cells ({ratio:.1f}× the "
               f"{len(rungs_only)} cells of the searches' rungs)", err=True)
    stored = [rows[k] for k in sorted(keys & rows.keys())]
    total = sum(r.get("wall_time") or 0.0 for r in stored)
    failing = sum(r.get("wall_time") or 0.0 for r in stored if not r.get("solved"))
    if total:
        click.echo(f"training time of these cells: {total:.0f} s, {failing / total:.0%} of it "
                   "in cells that did not solve", err=True)


def print_dry_run(searches: list[Search], states: list[tuple[State, dict[int, Rung]]],
                  protocol: Protocol, workers: int, rows: dict[str, Row]) -> None:
    """Per search: its ladder, the rungs trained (✓ a majority solved, ✗ not), what it
    trains next, and the worst case left in cells and time (``memorybench.costs``)."""
    left: list[Cell] = []
    extra: list[Cell] = []  # stand-ins of extensions, each as long as the steps it adds
    for search, (state, rungs) in zip(searches, states, strict=True):
        done = " ".join(f"{n}{'✓' if rungs[n].passed else '✗'}" for n in sorted(rungs))
        cells, more = search_left(search, state, rungs, protocol, rows)
        left += cells
        extra += more
        seconds = sum(cell_seconds(c) for c in cells + more)
        verdict = text.verdict(state, rungs, search.cap, search.control, search.task_cap)
        stored = 0 if state.next is None else sum(
            c.key in rows for c in search.at(state.next, rows, rungs)[0])
        under_way = f" ({stored} of its cells stored, its checks under way)" if stored else ""
        status = (f"closed: {verdict}" if state.closed
                  else f"next T={state.next}{under_way}; worst case left {len(cells)} cells "
                  f"and {len(more)} extensions, {duration(seconds)}")
        click.echo(f"{text.pair(search.task, search.model)}: ladder "
                   f"{' '.join(map(str, search.lengths))}; trained {done or 'nothing'}; "
                   f"{status}")
    click.echo(f"worst case left: {len(left)} cells and {len(extra)} extensions, at most "
               f"{duration(sweep_seconds(left + extra, workers))} with {workers} worker"
               f"{'s' * (workers > 1)} (every rung climbed and refined, every cell at its "
               "full budget, every failing rung checked: the rest of the grid, the rates "
               "past its edge, its seeds continued up to the ceiling; model: "
               "memorybench/costs.toml)")
    line = projection(searches, states, protocol, rows)
    if line:
        click.echo(line)


def projection(searches: list[Search], states: list[tuple[State, dict[int, Rung]]],
               protocol: Protocol, rows: dict[str, Row]) -> str | None:
    """What the open searches would take at the share of their worst case (from the start,
    ``search_left`` with nothing stored) that the closed searches' stored cells took: a
    projection from the run so far, not a bound. None before any search has closed."""
    spent = {True: 0.0, False: 0.0}  # closed or open -> CPU seconds stored
    worst = {True: 0.0, False: 0.0}  # the same, at their worst case from the start
    count = {True: 0, False: 0}
    for search, (state, rungs) in zip(searches, states, strict=True):
        if search.baseline:
            continue
        closed = state.closed
        count[closed] += 1
        spent[closed] += sum(rows[c.key].get("wall_time") or 0.0
                             for c in search.asked(state, rungs, rows) if c.key in rows)
        start, nothing = search.state({}, protocol.resolution)
        cells, more = search_left(search, start, nothing, protocol, {})
        worst[closed] += sum(cell_seconds(c) for c in cells + more)
    if not count[True] or not worst[True]:
        return None
    share = spent[True] / worst[True]
    left = max(0.0, share * worst[False] - spent[False])
    return (f"projection: the {count[True]} closed networks' searches took "
            f"{spent[True] / 3600:.1f} CPU-hours, {share:.0%} of their worst case from the "
            f"start; at that share the {count[False]} open ones would take about "
            f"{left / 3600:.0f} CPU-hours more ({spent[False] / 3600:.1f} spent so far), "
            "a projection from the run so far, not a bound")


def search_left(search: Search, state: State, rungs: dict[int, Rung], protocol: Protocol,
                rows: dict[str, Row]) -> tuple[list[Cell], list[Cell]]:
    """The most one search may still train: the cells of every rung left (climbed and
    refined, ``rules.worst_case``) and its probes, and stand-ins of every extension a
    failing rung may ask for (``Search.worst_extra``), each as long as the steps it adds."""
    lengths = rules.worst_case(search.lengths, state, protocol.resolution)
    cells = [c for n in lengths for c in search.cells(n, rungs)]
    cells += [c for n in search.probes for c in search.cells(n, rungs) if c.key not in rows]
    cells = list({c.key: c for c in cells}.values())  # a probe may be a rung
    return cells, [c for n in lengths for c in search.worst_extra(n, rungs)]


def worst_left(searches: list[Search], states: list[tuple[State, dict[int, Rung]]],
               protocol: Protocol, rows: dict[str, Row]) -> list[Cell]:
    """Every cell the searches may still train, at most (``search_left``), not yet stored."""
    left: list[Cell] = []
    for search, (state, rungs) in zip(searches, states, strict=True):
        cells, more = search_left(search, state, rungs, protocol, rows)
        left += [c for c in cells if c.key not in rows] + more
    return left
