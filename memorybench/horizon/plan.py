"""Plan horizon searches: from a suite's ``[horizon]`` table and flags to a protocol, a
sweep and one ``Search`` per (task, model) with its ladder of lengths and its cells.

``run`` trains what this plans; ``rules`` decides each verdict, pure functions over results.
Which setting wins where several layers give it is ``memorybench.config``'s table.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from memorybench import catalog
from memorybench.cells import Cell
from memorybench.config import (
    TRAIN_KEYS,
    Protocol,
    Request,
    check_seeds,
)
from memorybench.errors import UserError, is_integer
from memorybench.horizon import checks, failure, rules
from memorybench.horizon.ladders import checked_probes, task_ladder
from memorybench.horizon.protocol import protocol_from
from memorybench.horizon.rules import Rung, State, Trial
from memorybench.settings import check_settings
from memorybench.specs import check_keys
from memorybench.sweep import Sweep, build_sweep


@dataclass
class Search:
    """One (task, model) search: its ladder, and its cells at the ladder's first length,
    one per (learning rate, seed), from which every rung's cells are made."""

    task: str
    model: str
    lengths: list[int]
    cap: int
    lrs: tuple[float, ...]
    base: list[Cell]
    causal: bool
    baseline: bool
    hold_lr: bool = False  # the grid at the first rung only, its chosen rate held above it
    probes: tuple[int, ...] = ()  # lengths trained once the search has closed, at its
    # rate, whatever the bracket: the metric at distances a claim quotes
    control: int | None = None  # the first rung, where the protocol trains a control: the
    # task's shortest memory distance (``Protocol.control``)
    # The checks of a failure (``Protocol``): the grid again at a failing held rung, rates
    # past the grid's edge, and budgets doubled up to ``ceiling`` x the base
    grid_again: bool = False
    lr_beyond: int = 0
    ceiling: int = 1
    multiple: float = 0.0  # k: a failure needs k x the steps the control took
    task_cap: int = 0  # the task's cap, where a model's own (``cap``) ends below it
    suite: str | None = None  # the suite that planned it, if one did
    ceiling_tokens: int = 0  # above the control, a failing rung's seeds train at most this
    # many tokens each (``steps_ceiling``); 0: the ceiling alone

    def record(self, protocol: Protocol) -> dict[str, Any]:
        """The protocol of this search as each of its stored cells records it
        (``Metrics.search``), non-key data the report reads back: its ladder, caps, grid,
        budget and task settings, whatever flags the command that trained it was given."""
        first = self.base[0]
        return {"suite": self.suite, "ladder": list(self.lengths), "cap": self.cap,
                "task_cap": self.task_cap or self.cap, "control": self.control,
                "factor": protocol.factor, "resolution": protocol.resolution,
                "lrs": list(self.lrs), "ceiling": self.ceiling,
                "ceiling_tokens": self.ceiling_tokens,
                "steps": first.train.steps, "batch_size": first.train.batch_size,
                "task": dict(first.task_params)}

    def steps_ceiling(self, length: int) -> int:
        """The ceiling of a failing rung at ``length``, as a multiple of the base budget
        (``checks.rung_ceiling``): at the control, where a failure reads "not learned",
        ``ceiling``; above it, lowered to keep each seed within ``ceiling_tokens``."""
        first = self.base[0]
        return checks.rung_ceiling(self.ceiling, first.train.steps, first.train.batch_size,
                                   length, self.ceiling_tokens if length != self.control
                                   else 0)

    def probe_cells(self, state: State, rungs: dict[int, Rung]) -> list[Cell]:
        """The probes' cells of a closed search (none while it is open)."""
        return [c for n in self.probes for c in self.cells(n, rungs)] if state.closed else []

    def cells(self, length: int, rungs: dict[int, Rung] | None = None) -> list[Cell]:
        """The first cells of the rung at ``length``: one per (learning rate, seed), or,
        where the rate is held, one per seed at the rate the first rung chose (``rungs``;
        before the first rung is trained, the grid's first rate stands in, for counting
        costs). A rate the first rung chose past the grid's edge is held as one of the
        grid's would be. A failing rung asks for more (``at``)."""
        base = self.base
        if self.hold_lr and length != self.lengths[0]:
            first = (rungs or {}).get(self.lengths[0])
            lr = first.lr if first else base[0].train.lr
            base = ([c for c in base if c.train.lr == lr]
                    or [c.with_train(lr=lr) for c in base if c.train.lr == base[0].train.lr])
        return [dataclasses.replace(c, length=length, key="") for c in base]

    def at(self, length: int, rows: dict[str, dict[str, Any]],
           rungs: dict[int, Rung]) -> tuple[list[Cell], Rung | None]:
        """Every cell the rung at ``length`` asked for so far, and its rung once it asks
        for no more (None while cells it asked for are not stored): its first cells, then
        while it fails the checks of a failure (``more``)."""
        cells = self.cells(length, rungs)
        while True:
            if not all(c.key in rows for c in cells):
                return cells, None
            trials = [trial(c, rows[c.key]) for c in cells]
            r = failure.decided(length, trials, self.lrs)
            extra = self.more(r, cells, rungs, failure.halving(trials), trials)
            if not extra:
                return cells, r
            cells = cells + extra

    def more(self, r: Rung, cells: list[Cell], rungs: dict[int, Rung],
             keep: tuple[float, ...] = (), trials: list[Trial] | None = None
             ) -> list[Cell]:
        """What a failed rung trains before it counts as failed, one check at a time: the
        whole grid where its rate was held (``grid_again``); the rate one step past the
        grid's edge where the best rate is the edge (up to ``lr_beyond`` per side); then
        the seeds of the rates in ``keep`` (``failure.halving``) continued at twice their
        budget while the seeds of any of them are ``failure.extendable``
        (``failure.any_extendable``), up to ``ceiling`` x the base budget and
        ``ceiling_tokens`` (``steps_ceiling``); at the control, while they trained their
        whole budget, flat or not."""
        if r.passed or self.baseline:
            return []
        base = min(c.train.steps for c in cells)
        tried = sorted({c.train.lr for c in cells if c.train.steps == base})
        seeds = [c for c in cells if c.train.lr == tried[0] and c.train.steps == base]
        if self.grid_again and set(self.lrs) - set(tried):
            return [c.with_train(lr=lr) for lr in self.lrs if lr not in tried for c in seeds]
        if self.lr_beyond and len(tried) > 1 and r.lr in (tried[0], tried[-1]):
            up = r.lr == tried[-1]
            past = [x for x in tried if (x > max(self.lrs) if up else x < min(self.lrs))]
            if len(past) < self.lr_beyond:
                lr = checks.beyond(r.lr, self.lrs, up)
                return [c.with_train(lr=lr) for c in seeds]
        budget = checks.next_budget(r.budget, base, self.steps_ceiling(r.length))
        need = failure.steps_needed(rungs, r.length, self.control, self.multiple)
        keep = keep or (r.lr,)
        if budget is None or not (failure.any_extendable(r.length, trials, keep, need)
                                  if trials else failure.extendable(r, need)):
            return []
        return [c.with_train(steps=budget) for c in cells
                if c.train.lr in keep and c.train.steps == r.budget]

    def state(self, rows: dict[str, dict[str, Any]],
              resolution: float) -> tuple[State, dict[int, Rung]]:
        """Where the search stands, from the stored rows (key -> row), and its rungs."""
        rungs: dict[int, Rung] = {}
        while True:
            state = rules.advance(self.lengths, rungs, resolution, self.control)
            if state.next is None:  # closed
                return state, rungs
            _, r = self.at(state.next, rows, rungs)
            if r is None:
                return state, rungs
            rungs[state.next] = r

    def todo(self, state: State, rungs: dict[int, Rung],
             rows: dict[str, dict[str, Any]]) -> list[Cell]:
        """The cells to train next: the open rung's (or a closed search's probes) not
        stored yet."""
        cells = (self.probe_cells(state, rungs) if state.next is None
                 else self.at(state.next, rows, rungs)[0])
        return [c for c in cells if c.key not in rows]

    def trained(self, state: State, rungs: dict[int, Rung],
                rows: dict[str, dict[str, Any]]) -> list[Cell]:
        """Every cell of the rungs trained so far (stored, or asked for and not yet)."""
        return [c for n in state.trained for c in self.at(n, rows, rungs)[0]]

    def asked(self, state: State, rungs: dict[int, Rung],
              rows: dict[str, dict[str, Any]]) -> list[Cell]:
        """Every cell the search has asked for so far, stored or not: its decided rungs',
        then its open rung's (a closed search's probes)."""
        now = (self.probe_cells(state, rungs) if state.next is None
               else self.at(state.next, rows, rungs)[0])
        return self.trained(state, rungs, rows) + now

    def worst_extra(self, length: int, rungs: dict[int, Rung]) -> list[Cell]:
        """Stand-ins for the most a failing rung at ``length`` trains beyond its first
        cells, each as long as the steps it adds: the rest of the grid, the rates past one
        edge, and every doubling of the seeds' budget up to the ceiling (a continued cell
        trains only its new steps, the better half of the rates each time)."""
        if self.baseline:
            return []
        first = self.cells(length, rungs)
        seeds = [c for c in first if c.train.lr == first[0].train.lr]
        extra = [c.with_train(lr=lr) for lr in self.lrs if self.grid_again
                 and lr not in {c.train.lr for c in first} for c in seeds]
        if len(self.lrs) > 1:  # past one edge: the rate stands in for its cost only
            extra += [c.with_train(lr=max(self.lrs) * 10 ** (i + 1))
                      for i in range(self.lr_beyond) for c in seeds]
        rates = len(self.lrs) + (self.lr_beyond if len(self.lrs) > 1 else 0)
        budget = base = seeds[0].train.steps if seeds else 0
        while (nxt := checks.next_budget(budget, base, self.steps_ceiling(length))) is not None:
            rates = -(-rates // 2)  # the better half of the rates trains on
            extra += [c.with_train(steps=nxt - budget) for _ in range(rates) for c in seeds]
            budget = nxt
        return extra


def trial(cell: Cell, row: dict[str, Any]) -> Trial:
    """A stored cell as its rung reads it; a baseline, fitted, has no budget of steps."""
    budget = 0 if cell.is_baseline else cell.train.steps
    return rules.trial_of(cell.train.lr, cell.seed, row, row.get("metrics"), budget)


def search_sweep(request: Request) -> tuple[Sweep, Protocol]:
    """The sweep and protocol of ``memorybench horizon`` (and ``memorybench.horizon``): a
    suite and/or names, with the request's protocol flags over the suite's ``[horizon]``
    table, its ``[horizon.train]``, ``[horizon.task]`` and ``[horizon.model]`` over the
    suite's tables and the request's settings over those (``memorybench.config``'s table),
    and its seeds (default 0, 1, 2) and parameter budget."""
    suite, tasks, models = request.suite, request.tasks, request.models
    sweep = build_sweep(dataclasses.replace(request, lengths=None, seeds=None, params=None))
    protocol, extra = protocol_from(sweep.horizon, dict(request.protocol))
    if "ceilings" not in extra:  # --ceiling is every task's
        sweep.horizon = {k: v for k, v in sweep.horizon.items() if k != "ceilings"}
    apply_horizon_tables(sweep, extra)
    sweep.override("train", dict(request.train))  # flags win over [horizon.train]
    sweep.override("task", dict(request.task))
    sweep.override("model", dict(request.model))
    if suite and not tasks and "tasks" in extra:
        sweep.tasks = list(extra["tasks"])  # the suite's searched tasks, unless flags name some
    if suite and not models and "models" in extra:
        sweep.models = list(extra["models"])
    # the settings again, against what is searched: a scope naming a model the suite runs
    # but does not search would otherwise be checked, then silently left out
    check_settings({"train": request.train, "task": request.task, "model": request.model},
                   sweep.tasks, sweep.models)
    sweep.seeds = list(request.seeds or []) or extra.get("seeds") or (
        sweep.seeds if suite else [0, 1, 2])
    check_seeds(sweep.seeds, "seeds" if request.seeds else f"suite {suite}: seeds")
    n_params = request.params if request.params is not None else extra.get("params")
    if n_params is not None:
        if not is_integer(n_params) or n_params < 1:
            raise UserError(f"--params {n_params} is invalid; expected an integer >= 1")
        if "hidden" not in request.model:
            sweep.model.pop("hidden", None)  # the budget chooses the suite's width
        sweep.params = n_params
    return sweep, protocol


def apply_horizon_tables(sweep: Sweep, extra: dict[str, Any]) -> None:
    """A suite's ``[horizon.train]``, ``[horizon.task]`` and ``[horizon.model]`` over its
    ``[train]``, ``[task]`` and ``[model]``: the search's budget, task settings and model
    parameters, which ``run`` of the suite does not use. A flat key applies to every task
    (model); a table keyed by task (model) to that one."""
    check_keys("[horizon.train]", {k: v for k, v in extra.get("train", {}).items()
                                   if not isinstance(v, dict)}, TRAIN_KEYS)
    for section in ("train", "task", "model"):
        table = getattr(sweep, section)
        for key, value in extra.get(section, {}).items():
            if isinstance(value, dict):
                table[key] = {**table.get(key, {}), **value}
            else:
                sweep.override(section, {key: value})


def suite_protocols(suite: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(task, model) -> the protocol each search of ``suite``'s ``[horizon]`` table records
    (``Search.record``): what a report reads a store's searches by when told the suite,
    over what their cells recorded, and for cells that recorded none (results of an
    earlier memorybench, such as the committed leaderboard's)."""
    sweep, protocol = search_sweep(Request(suite))
    return {(s.task, s.model): s.record(protocol) for s in plan_searches(sweep, protocol)}


def plan_searches(sweep: Sweep, protocol: Protocol, start: int | None = None,
                  cap: int | None = None, lrs_given: bool = False) -> list[Search]:
    """One search per (task, model) of ``sweep`` (a baseline that does not apply to a
    task has none). Each network trains at the protocol's learning-rate grid, or at its
    model spec's (``horizon = { lrs = [...] }``) unless the grid was given as a flag."""
    if not sweep.tasks or not sweep.models:
        raise UserError("nothing to search: give at least one --task and one --model, or a "
                        "--suite")
    ladders = sweep.horizon.get("ladders") or {}  # the suite's, checked by protocol_from
    model_caps = sweep.horizon.get("caps") or {}  # a model's cap over every task's
    ceilings = sweep.horizon.get("ceilings") or {}  # a task's ceiling over the protocol's
    probes = sweep.horizon.get("probes") or {}
    searches = []
    train = {"test_size": protocol.test_size, "extrapolate": list(protocol.multiples),
             "patience": protocol.patience, "min_delta": protocol.min_delta,
             "solved_evals": protocol.solved_evals, "stop_margin": protocol.stop_margin}
    for task in sweep.tasks:
        ladder, task_cap, built, control = task_ladder(task, sweep, protocol, start, cap,
                                                       ladders.get(task))
        task_probes = checked_probes(task, built, probes.get(task, {}))
        for model in sweep.models:
            baseline = catalog.is_baseline(model)
            if baseline and not sweep.model_cells(task, built, ladder[:1], model):
                continue  # a baseline that does not apply to this task
            # a network's search starts at the control; a baseline learns nothing to control
            first = control if protocol.control and not baseline else None
            lengths = ([first] if first is not None and first < ladder[0] else []) + ladder
            lrs = protocol.lrs
            spec_lrs = catalog.model_spec(model).get("horizon", {}).get("lrs")
            if spec_lrs and not lrs_given:
                lrs = Protocol(lrs=tuple(spec_lrs)).lrs
            base: list[Cell] = []
            for lr in ([None] if baseline else lrs):
                one = dataclasses.replace(sweep, tasks=[task], models=[model],
                                          lengths=[lengths[0]], train=copy.deepcopy(sweep.train))
                recipe = {"optimizer": "adam"} if protocol.recipe == "common" else {}
                one.override("train", {**train, **({} if lr is None else {"lr": lr, **recipe})})
                base += one.cells()
            mcls = catalog.model_class(model)
            causal = bool(getattr(mcls, "causal", True)) and base[0].model_params.get(
                "causal", True) is not False
            own, own_cap = lengths, task_cap
            if cap is None and model_caps.get(model, task_cap) < task_cap:
                own = [n for n in lengths if n <= model_caps[model]] or lengths[:1]
                own_cap = own[-1]
            searches.append(Search(task, model, own, own_cap,
                                   (base[0].train.lr,) if baseline else lrs, base, causal,
                                   baseline, protocol.lr_rungs != "every" and len(lrs) > 1,
                                   task_probes.get(model, ()), first,
                                   protocol.lr_rungs == "first", protocol.lr_beyond,
                                   ceilings.get(task, protocol.ceiling),
                                   protocol.control_multiple, task_cap,
                                   sweep.suite, protocol.ceiling_tokens))
    return searches
