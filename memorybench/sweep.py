"""From suites and flags to a list of fully resolved cells (``memorybench.cells.Cell``).

A sweep is tasks x models x lengths x seeds with overrides of the specs; a suite is a sweep
in a TOML file (``suites/NAME.toml``). ``tasks = "all"`` and ``models = "all"`` name every
registered one, and a task's spec may carry the lengths each suite runs it at
(``suites = { smoke = [4, 8] }``), so a new task or model joins the suites without an edit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from memorybench import catalog
from memorybench.baselines import Baseline
from memorybench.cells import Cell
from memorybench.config import TRAIN_KEYS, Request, TrainConfig, check_seeds, merged
from memorybench.errors import UserError, is_integer
from memorybench.models.base import Core
from memorybench.models.checks import check_fits, check_model_params, model_build_error
from memorybench.models.sizing import size_for
from memorybench.registry import unknown_name
from memorybench.settings import check_settings, searched, takes
from memorybench.specs import check_keys, read_toml, spec_dir, spec_names
from memorybench.store import results
from memorybench.tasks.base import Task

SUITE_KEYS = {"description", "tasks", "models", "lengths", "seeds", "train", "task", "model",
              "params", "horizon"}


@dataclass
class Sweep:
    """What to run: tasks x models x lengths x seeds, with overrides of the specs."""

    tasks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    lengths: list[int] | dict[str, list[int]] | None = None  # None: each task's spec lengths
    seeds: list[int] = field(default_factory=lambda: [0])
    # Overrides of TrainConfig fields and of task parameters. A flat value applies to every
    # task that takes it; a table keyed by a task's name (``[train.copy]`` in a suite,
    # ``--set task.copy.symbols=4``) to that task only, over the flat values.
    train: dict = field(default_factory=dict)
    task: dict = field(default_factory=dict)
    # Overrides of model parameters, the same way: a flat value for every model that takes
    # it, a table keyed by a model's name (``[model.mamba]``) for that model only.
    model: dict = field(default_factory=dict)
    params: int | None = None  # size every model's width (`Core.width_arg`) to about this
    # many parameters
    suite: str | None = None  # the suite's name: picks a task spec's `suites` lengths
    horizon: dict = field(default_factory=dict)  # the suite's horizon protocol
    # (memorybench.horizon.plan.protocol_from); `run` ignores it

    def override(self, section: str, values: dict) -> None:
        """Lay ``values``, a later layer of ``memorybench.config``'s table, over the
        sweep's: a flat value replaces the flat one and the per-name tables' (flags win
        over a suite), then a per-name table (``{"copy": {"symbols": 4}}``) is merged into
        that name's table, over all of them (scoped beats unscoped)."""
        table = getattr(self, section)
        flat = {k: v for k, v in values.items() if not isinstance(v, dict)}
        for sub in table.values():
            if isinstance(sub, dict):
                for key in flat:
                    sub.pop(key, None)
        table.update(flat)
        for name, sub in values.items():
            if isinstance(sub, dict):
                old = table.get(name)
                table[name] = {**(old if isinstance(old, dict) else {}), **sub}

    def for_task(self, section: str, task: str) -> dict:
        """The overrides of ``section`` ('train' or 'task') that apply to ``task``; of
        'model', those that apply to the model named ``task``: the flat values it takes
        (every train setting; the task's or model's own parameters), and the table of
        that name over them."""
        table = getattr(self, section)
        own = takes(section, task)
        flat = {k: v for k, v in table.items() if not isinstance(v, dict)
                and (own is None or k in own)}
        return {**flat, **table.get(task, {})}

    def for_model(self, model: str) -> dict:
        """The model-parameter overrides that apply to ``model``."""
        return self.for_task("model", model)

    def check_per_model(self) -> None:
        """A per-model table names a model of the catalog: a typo is an error, not a table
        silently ignored."""
        known = catalog.model_names()
        for name, sub in self.model.items():
            if isinstance(sub, dict) and name not in known:
                raise UserError(f"[model.{name}]: {unknown_name('model', name, known)}")

    def check_per_task(self) -> None:
        known = catalog.task_names()
        for section in ("train", "task"):
            for name, sub in getattr(self, section).items():
                if not isinstance(sub, dict):
                    continue
                if name not in known:
                    raise UserError(f"[{section}.{name}]: {unknown_name('task', name, known)}")
                if section == "train":
                    check_keys(f"[train.{name}]", sub, TRAIN_KEYS)
            flat = {k for k, v in getattr(self, section).items() if not isinstance(v, dict)}
            if section == "train":
                check_keys("train settings", dict.fromkeys(flat), TRAIN_KEYS)

    def lengths_for(self, task: str) -> list[int]:
        if isinstance(self.lengths, dict):
            if task in self.lengths:
                return list(self.lengths[task])
        elif self.lengths is not None:
            return list(self.lengths)
        spec = catalog.task_spec(task)
        spec_lengths = spec.get("suites", {}).get(self.suite) or spec.get("lengths")
        if not spec_lengths:
            raise UserError(f"task {task}: no lengths given and its spec has none; "
                            "pass --lengths like 10,50,100")
        return list(spec_lengths)

    def cells(self) -> list[Cell]:
        """Every cell of the sweep, fully resolved and validated, in a stable order."""
        if not self.tasks or not self.models:
            raise UserError("empty sweep: give at least one --task and one --model, "
                            "or a --suite")
        if not self.seeds:
            raise UserError("empty sweep: no seeds; pass --seeds like 0,1,2")
        check_seeds(self.seeds, "seeds")
        self.check_per_task()
        self.check_per_model()
        cells = []
        for task_name in self.tasks:
            tspec = catalog.task_spec(task_name)
            task = catalog.build_task(task_name, merged(tspec.get("params", {}),
                                                        self.for_task("task", task_name)))
            lengths = self.lengths_for(task_name)
            if not lengths:
                raise UserError(f"empty sweep: no lengths for task {task_name}")
            for length in lengths:
                task.check_length(length)
            for model_name in self.models:
                cells += self.model_cells(task_name, task, lengths, model_name)
        if not cells:
            raise UserError(f"empty sweep: none of the baselines {', '.join(self.models)} "
                            f"applies to the tasks {', '.join(self.tasks)}; add a --model "
                            "(see `memorybench list`)")
        return cells

    def model_cells(self, task_name: str, task: Task, lengths: list[int],
                    model_name: str) -> list[Cell]:
        mspec = catalog.model_spec(model_name)
        mcls = catalog.model_class(model_name)
        if issubclass(mcls, Baseline):
            return self.baseline_cells(task_name, task, lengths, model_name, mcls)
        # layers 1, 3 and 4-7 of memorybench.config's table
        params = merged(mcls.parameters_of(), mspec.get("params", {}), self.for_model(model_name))
        check_keys(f"model {model_name} parameters", params, {"embed", *mcls.parameters_of()})
        check_model_params(model_name, mcls, params)
        if self.params is not None:
            params = self.sized(task, model_name, mcls, params)
        train = TrainConfig(**merged(catalog.task_spec(task_name).get("train", {}),
                                     mspec.get("train", {}), self.for_task("train", task_name)))
        for length in lengths:  # a cell no machine here can hold is refused, not trained
            check_fits(model_name, task.io, mcls, params,
                       max(train.batch_size, min(train.eval_size, 500)), length,
                       task.sequence_steps(length))
        model_build_error(task.io, mcls, params)  # any other error: a failed cell
        return [make_cell(task_name, task, length, model_name, mcls, params, train, seed)
                for length in lengths for seed in self.seeds]

    def baseline_cells(self, task_name: str, task: Task, lengths: list[int], name: str,
                       bcls: type[Baseline]) -> list[Cell]:
        """A baseline's cells, or none where it does not apply to the task. Model
        overrides set only the baseline's own parameters (e.g. ``model.window``)."""
        own = bcls.parameters_of()
        scoped = self.model.get(name)
        check_keys(f"model {name} parameters", scoped if isinstance(scoped, dict) else {},
                   set(own))
        params = {**own, **self.for_model(name)}
        if not bcls(**params).applies_to(task):
            return []
        train = TrainConfig(**merged(catalog.task_spec(task_name).get("train", {}),
                                     self.for_task("train", task_name)))
        return [make_cell(task_name, task, length, name, bcls, params, train, seed)
                for length in lengths for seed in self.seeds]

    def sized(self, task: Task, model_name: str, mcls: type[Core], params: dict) -> dict:
        """``params`` with the width (and, for a core that needs it, its ``sizing_knob``)
        that gives about ``self.params`` trainable parameters on ``task``; the chosen
        values and the target are kept in the parameters, so they are part of the cell key.
        Parameters the user set (``--set model.mlp=4``) are not changed."""
        target = self.params
        if isinstance(target, bool) or not isinstance(target, int) or target < 1:
            raise UserError(f"--params {target!r} is invalid; expected an integer >= 1")
        given = self.for_model(model_name)
        if mcls.width_arg in given:
            raise UserError(f"--params chooses each model's width ({model_name}: "
                            f"{mcls.width_arg}); do not also set model.{mcls.width_arg}")
        chosen, _ = size_for(task.io, mcls, params, target, model_name, fixed=set(given))
        return {**params, **chosen, "target_params": target}


def make_cell(task_name: str, task: Task, length: int, model: str,
              mcls: type[Core] | type[Baseline], model_params: dict, train: TrainConfig,
              seed: int) -> Cell:
    task_version = catalog.fingerprint(type(task))  # type: ignore[arg-type]  # python/mypy#11470
    model_version = catalog.fingerprint(mcls)  # type: ignore[arg-type]  # python/mypy#11470
    return Cell(task=task_name, task_type=task.name, task_version=task_version,
                task_params=dataclasses.asdict(task), length=length, model=model,
                model_type=mcls.name,
                model_kind="baseline" if issubclass(mcls, Baseline) else "network",
                model_version=model_version, model_params=model_params, train=train, seed=seed)


# --- suites --------------------------------------------------------------------------------
def _int_list(value) -> bool:
    return isinstance(value, list) and all(is_integer(v) for v in value)


def _names(kind: str):
    return lambda v: v == "all" or (isinstance(v, list) and all(isinstance(t, str) for t in v))


SUITE_TYPES = {  # key -> (check, the expected form, for the error)
    "description": (lambda v: isinstance(v, str), 'a string'),
    "tasks": (_names("task"), '"all" or a list of task names, e.g. ["adding", "copy"]'),
    "models": (_names("model"), '"all" or a list of model names, e.g. ["elman", "lstm"]'),
    "lengths": (lambda v: _int_list(v) or (isinstance(v, dict) and all(
        _int_list(x) for x in v.values())),
        "a list of integers, e.g. [10, 50], or a table of them per task, e.g. "
        "{ adding = [10, 50] }"),
    "seeds": (_int_list, "a list of integers, e.g. [0, 1, 2]"),
    "train": (lambda v: isinstance(v, dict), "a table, e.g. [train] steps = 500"),
    "task": (lambda v: isinstance(v, dict), "a table of task parameters"),
    "model": (lambda v: isinstance(v, dict), "a table of model parameters"),
    "params": (is_integer, "an integer number of trainable parameters"),
    "horizon": (lambda v: isinstance(v, dict), "a table, e.g. [horizon] factor = 2"),
}


def check_suite_types(where: str, data: dict) -> None:
    """Each suite key holds the kind of value it must, or a one-line error."""
    for key, value in data.items():
        ok, expected = SUITE_TYPES[key]
        if not ok(value):
            raise UserError(f"{where}: {key} = {value!r} is invalid; expected {expected}")


def suite_names() -> list[str]:
    return list(spec_names("suites"))


def load_suite(name: str) -> tuple[Sweep, str]:
    """A suite by name (``suites/NAME.toml``) or by path to a TOML file."""
    path: str | Path
    if name.endswith(".toml"):
        path = name
    else:
        if name not in suite_names():
            raise unknown_name("suite", name, suite_names())
        path = spec_dir("suites") / f"{name}.toml"
    data = read_toml(path)
    check_keys(str(path), data, SUITE_KEYS)
    check_suite_types(str(path), data)
    flat_train = {k for k, v in data.get("train", {}).items() if not isinstance(v, dict)}
    check_keys(f"{path} [train]", dict.fromkeys(flat_train), TRAIN_KEYS)
    tasks, models = data.get("tasks", []), data.get("models", [])
    sweep = Sweep(tasks=catalog.task_names() if tasks == "all" else list(tasks),
                  models=catalog.model_names() if models == "all" else list(models),
                  lengths=data.get("lengths"), seeds=list(data.get("seeds", [0])),
                  train=dict(data.get("train", {})), task=dict(data.get("task", {})),
                  model=dict(data.get("model", {})), params=data.get("params"),
                  suite=None if name.endswith(".toml") else name,
                  horizon=dict(data.get("horizon", {})))
    check_tables_name_tasks(str(path), data, sweep.tasks)
    tables = {"": (sweep.task, sweep.model),
              " [horizon]": (sweep.horizon.get("task"), sweep.horizon.get("model"))}
    for where, (task, model) in tables.items():  # a table not a table: protocol_from's error
        flat = {name: values for name, values in (("task", task), ("model", model))
                if isinstance(values, dict)}
        try:
            check_settings(flat, *searched(sweep), scopes=False)
        except UserError as exc:
            raise UserError(f"{path}{where}: {exc}") from None
    return sweep, data.get("description", "")


def check_tables_name_tasks(where: str, data: dict, tasks: list[str]) -> None:
    """Every table keyed by task in a suite (``lengths``, ``[train.X]``, ``[task.X]``)
    names a task of the suite: a typo is an error, not a table silently ignored."""
    lengths = data.get("lengths")
    tables = {"lengths": lengths if isinstance(lengths, dict) else {},
              "train": {k: v for k, v in data.get("train", {}).items() if isinstance(v, dict)},
              "task": {k: v for k, v in data.get("task", {}).items() if isinstance(v, dict)}}
    for section, table in tables.items():
        for name in table:
            if name not in tasks:
                label = f"lengths.{name}" if section == "lengths" else f"[{section}.{name}]"
                error = unknown_name("task of this suite", name, tasks)
                raise UserError(f"{where}: {label}: {error}")


def suite_rows(db, suite: str):
    """The stored rows of every cell of ``suite`` in the store or results file ``db``, and
    how many stored rows are not the suite's; a cell not stored yet is an error."""
    frame = results.load(db)
    keys = {c.key for c in load_suite(suite)[0].cells()}
    missing = keys - set(frame["key"])
    if missing:
        raise UserError(f"{db} lacks {len(missing)} of the {len(keys)} cells of suite {suite}; "
                        f"train them first: memorybench run --suite {suite} --db {db}")
    keep = frame["key"].isin(keys)
    return frame[keep], int((~keep).sum())


def build_sweep(request: Request) -> Sweep:
    """The sweep a command or an API call asks for: its suite, if any, with the request's
    names, lengths, seeds, budget and settings over it (layer 7 of
    ``memorybench.config``'s table). With tasks but no models every model runs, and the
    other way round."""
    for length in request.lengths or ():
        if not is_integer(length) or length < 1:
            raise UserError(f"length {length!r} is invalid; expected integers >= 1 like "
                            "10,50,100")
    suite = request.suite
    sweep = load_suite(suite)[0] if suite else Sweep()
    if request.tasks or request.models:
        sweep.tasks = list(request.tasks) or (sweep.tasks if suite else catalog.task_names())
        sweep.models = list(request.models) or (sweep.models if suite
                                                else catalog.model_names())
    sweep.lengths = list(request.lengths or []) or sweep.lengths
    sweep.seeds = list(request.seeds or []) or sweep.seeds
    # what the request's settings may name: the tasks and models it selects, or, where it
    # names none, those its suite runs or searches (``memorybench horizon`` cuts to those)
    if sweep.tasks and sweep.models:  # else an empty sweep, refused by ``cells``
        check_settings({"train": request.train, "task": request.task,
                        "model": request.model}, list(request.tasks) or searched(sweep)[0],
                       list(request.models) or searched(sweep)[1])
    sweep.override("train", dict(request.train))
    sweep.override("task", dict(request.task))
    sweep.override("model", dict(request.model))
    if request.params:
        if "hidden" not in request.model:
            sweep.model.pop("hidden", None)  # the flag wins over a suite's width
        sweep.params = request.params
    return sweep
