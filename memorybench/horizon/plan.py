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
from memorybench.config import TRAIN_KEYS, Protocol, Request
from memorybench.errors import UserError, is_integer
from memorybench.horizon import rules
from memorybench.horizon.rules import Rung, State, Trial
from memorybench.registry import unknown_name
from memorybench.specs import check_keys
from memorybench.sweep import Sweep, build_sweep
from memorybench.tasks.base import Task

HORIZON_KEYS = {"factor", "resolution", "lrs", "lr_rungs", "multiples", "test_size", "patience",
                "control",
                "min_delta", "solved_evals", "params",
                "seeds", "tasks", "models", "ladders", "caps", "probes", "train", "task", "model"}
# the sweep's, not the protocol's: what is searched, over which ladders, at which size and
# seeds, with which training budget and task settings (over the suite's, for `horizon` only)
SWEEP_KEYS = ("params", "seeds", "tasks", "models", "ladders", "caps", "probes", "train",
              "task", "model")


def protocol_from(table: dict[str, Any], flags: dict[str, Any]) -> tuple[Protocol, dict[str, Any]]:
    """The protocol of a suite's ``[horizon]`` table with flags over it, and the rest of
    the table (``SWEEP_KEYS``: which tasks and models are searched, over which ladders, at
    which size and seeds)."""
    unknown = sorted(set(table) - HORIZON_KEYS)
    if unknown:
        raise UserError(f"[horizon]: unknown key {unknown[0]!r}; expected one of: "
                        f"{', '.join(sorted(HORIZON_KEYS))}")
    values = {**{k: v for k, v in table.items() if k not in SWEEP_KEYS},
              **{k: v for k, v in flags.items() if v is not None}}
    for name in ("lrs", "multiples"):
        if name in values:
            if not isinstance(values[name], list | tuple):
                raise UserError(f"[horizon] {name} = {values[name]!r} is invalid; expected a "
                                "list, e.g. [2, 4, 8]")
            values[name] = tuple(values[name])
    extra = {k: table[k] for k in SWEEP_KEYS if k in table}
    if "params" in extra and (not is_integer(extra["params"]) or extra["params"] < 1):
        raise UserError(f"[horizon] params = {extra['params']!r} is invalid; expected an "
                        "integer >= 1")
    if "seeds" in extra and not (isinstance(extra["seeds"], list) and extra["seeds"]
                                 and all(is_integer(s) for s in extra["seeds"])):
        raise UserError(f"[horizon] seeds = {extra['seeds']!r} is invalid; expected a list "
                        "of integers, e.g. [0, 1, 2]")
    for name in ("tasks", "models"):
        if name in extra:
            names = catalog.task_names() if name == "tasks" else catalog.model_names()
            if not (isinstance(extra[name], list) and extra[name]):
                raise UserError(f"[horizon] {name} = {extra[name]!r} is invalid; expected a "
                                f"list of names, e.g. {names[:2]!r}")
            for given in extra[name]:
                if given not in names:
                    raise UserError(f"[horizon] {name}: "
                                    f"{unknown_name(name[:-1], str(given), names)}")
    examples = {"train": "steps = 1000", "task": "copy = { symbols = 4 }",
                "model": "mamba = { layers = 2 }"}
    for name, example in examples.items():
        if not isinstance(extra.get(name, {}), dict):
            raise UserError(f"[horizon] {name} = {extra[name]!r} is invalid; expected a table, "
                            f"e.g. [horizon.{name}] {example}")
    ladders = extra.get("ladders", {})
    if not isinstance(ladders, dict) or not all(
            isinstance(v, dict) and not set(v) - {"start", "cap", "control"}
            for v in ladders.values()):
        raise UserError(f"[horizon] ladders = {ladders!r} is invalid; expected a table of "
                        "tasks, e.g. ladders = { copy = { start = 8, cap = 256 } }")
    caps = extra.get("caps", {})
    if not isinstance(caps, dict) or not all(is_integer(v) and v >= 1 for v in caps.values()):
        raise UserError(f"[horizon] caps = {caps!r} is invalid; expected a table of models "
                        "and lengths, e.g. caps = { attention = 256 }")
    per_model = [name for name, v in extra.get("model", {}).items() if isinstance(v, dict)]
    for where, names in (("caps", list(caps)), ("model", per_model)):
        for model in names:
            if model not in catalog.model_names():
                raise UserError(f"[horizon] {where}: "
                                f"{unknown_name('model', model, catalog.model_names())}")
    probes = extra.get("probes", {})
    if not isinstance(probes, dict) or not all(
            isinstance(by_model, dict) and all(
                isinstance(ns, list) and ns and all(is_integer(n) and n >= 1 for n in ns)
                for ns in by_model.values()) for by_model in probes.values()):
        raise UserError(f"[horizon] probes = {probes!r} is invalid; expected a table of tasks "
                        "and models with lists of lengths, e.g. probes = { agreement = { elman "
                        "= [10, 20, 40] } }")
    for by_model in probes.values():
        for model in by_model:
            if model not in catalog.model_names():
                raise UserError(f"[horizon] probes: "
                                f"{unknown_name('model', model, catalog.model_names())}")
    known = catalog.task_names()
    for task in [*ladders, *probes, *extra.get("task", {})]:
        if task not in known:
            raise UserError(f"[horizon]: {unknown_name('task', task, known)}")
    return Protocol(**values), extra


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

    def probe_cells(self, state: State, rungs: dict[int, Rung]) -> list[Cell]:
        """The probes' cells of a closed search (none while it is open)."""
        return [c for n in self.probes for c in self.cells(n, rungs)] if state.closed else []

    def cells(self, length: int, rungs: dict[int, Rung] | None = None) -> list[Cell]:
        """The cells of the rung at ``length``: one per (learning rate, seed), or, where the
        rate is held, one per seed at the rate the first rung chose (``rungs``; before the
        first rung is trained, the grid's first rate stands in, for counting costs)."""
        base = self.base
        if self.hold_lr and length != self.lengths[0]:
            first = (rungs or {}).get(self.lengths[0])
            lr = first.lr if first else base[0].train.lr
            base = [c for c in base if c.train.lr == lr]
        return [dataclasses.replace(c, length=length, key="") for c in base]

    def state(self, rows: dict[str, dict[str, Any]],
              resolution: float) -> tuple[State, dict[int, Rung]]:
        """Where the search stands, from the stored rows (key -> row), and its rungs."""
        rungs: dict[int, Rung] = {}
        while True:
            state = rules.advance(self.lengths, rungs, resolution, self.control)
            if state.next is None:  # closed
                return state, rungs
            cells = self.cells(state.next, rungs)
            if not all(c.key in rows for c in cells):
                return state, rungs
            trials = [trial(c, rows[c.key]) for c in cells]
            rungs[state.next] = rules.rung(state.next, trials, self.lrs)


def trial(cell: Cell, row: dict[str, Any]) -> Trial:
    return rules.trial_of(cell.train.lr, cell.seed, row, row.get("metrics"), cell.train.steps)


def search_sweep(request: Request) -> tuple[Sweep, Protocol]:
    """The sweep and protocol of ``memorybench horizon`` (and ``memorybench.horizon``): a
    suite and/or names, with the request's protocol flags over the suite's ``[horizon]``
    table, its ``[horizon.train]``, ``[horizon.task]`` and ``[horizon.model]`` over the
    suite's tables and the request's settings over those (``memorybench.config``'s table),
    and its seeds (default 0, 1, 2) and parameter budget."""
    suite, tasks, models = request.suite, request.tasks, request.models
    sweep = build_sweep(dataclasses.replace(request, lengths=None, seeds=None, params=None))
    protocol, extra = protocol_from(sweep.horizon, dict(request.protocol))
    apply_horizon_tables(sweep, extra)
    sweep.override("train", dict(request.train))  # flags win over [horizon.train]
    sweep.override("task", dict(request.task))
    sweep.override("model", dict(request.model))
    if suite and not tasks and "tasks" in extra:
        sweep.tasks = list(extra["tasks"])  # the suite's searched tasks, unless flags name some
    if suite and not models and "models" in extra:
        sweep.models = list(extra["models"])
    sweep.seeds = list(request.seeds or []) or extra.get("seeds") or (
        sweep.seeds if suite else [0, 1, 2])
    n_params = request.params if request.params is not None else extra.get("params")
    if n_params is not None:
        if not is_integer(n_params) or n_params < 1:
            raise UserError(f"--params {n_params} is invalid; expected an integer >= 1")
        if "hidden" not in request.model:
            sweep.model.pop("hidden", None)  # the budget chooses the suite's width
        sweep.params = n_params
    return sweep, protocol


def task_ladder(task: str, sweep: Sweep, protocol: Protocol, start: int | None,
                cap: int | None,
                suite_ladder: dict[str, Any] | None = None
                ) -> tuple[list[int], int, Task, int]:
    """The task's ladder: start and cap from flags, else the suite's ``[horizon] ladders``
    entry for the task, else the task spec's ``horizon`` table; lengths the task cannot
    take left out. And its control length: the ``control`` of those tables, else the
    shortest length the task takes at these parameters (never below it)."""
    spec = catalog.task_spec(task)
    table = spec.get("horizon", {})
    if not isinstance(table, dict) or set(table) - {"start", "cap", "control"}:
        raise UserError(f"task {task}: horizon = {table!r} is invalid; expected "
                        "horizon = { start = 8, cap = 1024, control = 1 }")
    table = {**table, **(suite_ladder or {})}
    cap = table.get("cap") if cap is None else cap
    if cap is None:
        raise UserError(f"task {task} has no horizon cap in its spec and none was given; pass "
                        f"--cap N or add horizon = {{ start = 8, cap = 1024 }} to {task}.toml")
    if start is None:
        start = table.get("start") or min(spec.get("lengths") or [1])
    for name, value in (("start", start), ("cap", cap), ("control", table.get("control", 1))):
        if not is_integer(value) or value < 1:
            raise UserError(f"task {task}: horizon {name} {value!r} is invalid; expected an "
                            "integer >= 1")
    built = catalog.build_task(task, {**spec.get("params", {}), **sweep.for_task("task", task)})

    def valid(length: int) -> bool:
        try:
            built.check_length(length)
        except UserError:
            return False
        return True

    lengths = [n for n in rules.ladder(start, cap, protocol.factor) if valid(n)]
    if not lengths:
        raise UserError(f"task {task}: no length from {start} to {cap} is valid for it; "
                        "raise --start")
    control = max(int(table.get("control") or 1), built.min_length)
    return lengths, cap, built, min(control, lengths[0]) if valid(control) else lengths[0]


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


def suite_caps(suite: str) -> dict[tuple[str, str], int]:
    """(task, model) -> the cap of its ladder in ``suite``'s ``[horizon]`` table: a report
    reads "≥ cap" there as solved to the cap, not as a search still open."""
    sweep, protocol = search_sweep(Request(suite))
    return {(s.task, s.model): s.cap for s in plan_searches(sweep, protocol)}


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
    probes = sweep.horizon.get("probes") or {}
    searches = []
    train = {"test_size": protocol.test_size, "extrapolate": list(protocol.multiples),
             "patience": protocol.patience, "min_delta": protocol.min_delta,
             "solved_evals": protocol.solved_evals}
    for task in sweep.tasks:
        ladder, task_cap, built, control = task_ladder(task, sweep, protocol, start, cap,
                                                       ladders.get(task))
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
                one.override("train", {**train, **({} if lr is None else {"lr": lr})})
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
                                   baseline, protocol.lr_rungs == "first" and len(lrs) > 1,
                                   tuple(probes.get(task, {}).get(model, ())), first))
    return searches
