"""From names, specs, suites and flags to a list of fully resolved cells.

A cell is one (task, length, model, seed) with every parameter spelled out; its key is a
hash of that config, so a stored result is found again whatever order or command produced
it, and any change to the protocol (a parameter, a budget, a generator version) makes a
new cell instead of silently reusing an old result.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field

from memorybench.baselines import BASELINES, Baseline
from memorybench.errors import UserError, expected_type, is_integer
from memorybench.models import MODELS
from memorybench.models.base import Core
from memorybench.registry import unknown_name
from memorybench.specs import check_keys, load_spec, read_toml, spec_dir, spec_names
from memorybench.tasks import TASKS
from memorybench.tasks.base import Task


@dataclass(frozen=True)
class TrainConfig:
    """How one cell is trained. Task and model specs set these; flags override them."""

    steps: int = 2000  # budget of optimizer steps, each on a fresh batch
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | rmsprop
    clip: float = 1.0  # max gradient norm
    eval_every: int = 250  # steps between evaluations on the held-out set
    eval_size: int = 1000  # held-out examples (drawn from a different seed)
    early_stop: bool = True  # stop as soon as the held-out metric reaches `solved`

    def __post_init__(self):
        positive_ints = ("steps", "batch_size", "eval_every", "eval_size")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"train.{name}={value!r} is invalid; expected an integer >= 1")
        for name in ("lr", "clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise UserError(f"train.{name}={value!r} is invalid; expected a number > 0")
        if self.optimizer not in ("adam", "rmsprop"):
            raise UserError(f"train.optimizer={self.optimizer!r} is invalid; "
                            "expected 'adam' or 'rmsprop'")
        if not isinstance(self.early_stop, bool):
            raise UserError(f"train.early_stop={self.early_stop!r}; expected true or false")


TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}
SPEC_KEYS = {"type", "description", "lengths", "params", "train"}


# --- the catalog: registered classes plus the variants their specs define -------------------
def task_names() -> list[str]:
    return sorted(set(TASKS.names()) | set(spec_names("tasks")))


def model_names() -> list[str]:
    cores, baselines = set(MODELS.names()), set(BASELINES.names())
    variants = {n for n in spec_names("models")
                if (load_spec("models", n) or {}).get("type", n) != n}
    for name in sorted((cores & baselines) | (variants & (cores | baselines))):
        kinds = [kind for kind, names in (("model", cores), ("baseline", baselines),
                                          ("spec variant in models/", variants))
                 if name in names]
        raise UserError(f"name {name!r} is registered twice, as a {' and as a '.join(kinds)}; "
                        "expected each model and baseline name once (rename the plugin)")
    return sorted(cores | set(spec_names("models")) | baselines)


def _spec(kind: str, name: str, known: list[str]) -> dict:
    if name not in known:
        raise unknown_name(kind[:-1], name, known)
    spec = load_spec(kind, name) or {}
    where = f"{spec_dir(kind) / name}.toml"
    check_keys(where, spec, SPEC_KEYS)
    check_keys(f"{where} [train]", spec.get("train", {}), TRAIN_KEYS)
    return spec


def task_spec(name: str) -> dict:
    return _spec("tasks", name, task_names())


def model_spec(name: str) -> dict:
    return _spec("models", name, model_names())


def task_class(name: str) -> type[Task]:
    return TASKS.get(task_spec(name).get("type", name))


def model_class(name: str) -> type[Core] | type[Baseline]:
    if name in BASELINES.names():
        return BASELINES.get(name)
    return MODELS.get(model_spec(name).get("type", name))


def describe(kind: str, name: str) -> str:
    spec = task_spec(name) if kind == "task" else model_spec(name)
    cls = task_class(name) if kind == "task" else model_class(name)
    return spec.get("description") or cls.description


def build_task(name: str, params: dict) -> Task:
    cls = task_class(name)
    known = cls.parameters()
    for key in params:
        if key not in known:
            raise UserError(f"task {name}: unknown parameter {key!r}; expected one of: "
                            f"{', '.join(sorted(known))}")
    return cls(**params)


# --- sweeps --------------------------------------------------------------------------------
SUITE_KEYS = {"description", "tasks", "models", "lengths", "seeds", "train", "task", "model",
              "params"}


@dataclass
class Sweep:
    """What to run: tasks x models x lengths x seeds, with overrides of the specs."""

    tasks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    lengths: list[int] | dict[str, list[int]] | None = None  # None: each task's spec lengths
    seeds: list[int] = field(default_factory=lambda: [0])
    # Overrides of TrainConfig fields and of task parameters. A value that is a table,
    # keyed by a task's name (``[train.copy]`` in a suite), applies to that task only.
    train: dict = field(default_factory=dict)
    task: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)  # overrides of model parameters
    params: int | None = None  # size every model's `hidden` to about this many parameters

    def override(self, section: str, values: dict) -> None:
        """Set ``values`` for every task, also where a per-task table set them: flags
        win over a suite."""
        table = getattr(self, section)
        for sub in table.values():
            if isinstance(sub, dict):
                for key in values:
                    sub.pop(key, None)
        table.update(values)

    def for_task(self, section: str, task: str) -> dict:
        """The overrides of ``section`` ('train' or 'task') that apply to ``task``."""
        table = getattr(self, section)
        flat = {k: v for k, v in table.items() if not isinstance(v, dict)}
        return {**flat, **table.get(task, {})}

    def check_per_task(self) -> None:
        known = task_names()
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
        spec_lengths = task_spec(task).get("lengths")
        if not spec_lengths:
            raise UserError(f"task {task}: no lengths given and its spec has none; "
                            "pass --lengths like 10,50,100")
        return list(spec_lengths)

    def cells(self) -> list[dict]:
        """Every cell of the sweep, fully resolved and validated, in a stable order."""
        if not self.tasks or not self.models:
            raise UserError("empty sweep: give at least one --task and one --model, "
                            "or a --suite")
        if not self.seeds:
            raise UserError("empty sweep: no seeds; pass --seeds like 0,1,2")
        for seed in self.seeds:
            if not is_integer(seed) or not 0 <= seed < 2 ** 63:
                raise UserError(f"seed {seed!r} is invalid; expected an integer from 0 to "
                                "2**63 - 1")
        self.check_per_task()
        cells = []
        for task_name in self.tasks:
            tspec = task_spec(task_name)
            task = build_task(task_name, {**tspec.get("params", {}),
                                          **self.for_task("task", task_name)})
            lengths = self.lengths_for(task_name)
            if not lengths:
                raise UserError(f"empty sweep: no lengths for task {task_name}")
            for length in lengths:
                task.check_length(length)
            for model_name in self.models:
                mspec = model_spec(model_name)
                mcls = model_class(model_name)
                if issubclass(mcls, Baseline):
                    cells += self.baseline_cells(task_name, task, lengths, model_name, mcls)
                    continue
                params = {**mcls.parameters_of(), **mspec.get("params", {}), **self.model}
                check_keys(f"model {model_name} parameters", params,
                           {"embed", *mcls.parameters_of()})
                check_model_params(model_name, mcls, params)
                if self.params is not None:
                    params = self.sized(task, model_name, mcls, params)
                model_build_error(task, mcls, params)  # any other error: a failed cell
                train = TrainConfig(**{**tspec.get("train", {}), **mspec.get("train", {}),
                                       **self.for_task("train", task_name)})
                for length in lengths:
                    for seed in self.seeds:
                        cells.append(make_cell(task_name, task, length, model_name, mcls,
                                               params, train, seed))
        if not cells:
            raise UserError(f"empty sweep: none of the baselines {', '.join(self.models)} "
                            f"applies to the tasks {', '.join(self.tasks)}; add a --model "
                            "(see `memorybench list`)")
        return cells

    def baseline_cells(self, task_name: str, task: Task, lengths: list[int], name: str,
                       bcls: type[Baseline]) -> list[dict]:
        """A baseline's cells, or none where it does not apply to the task. Model
        overrides set only the baseline's own parameters (e.g. ``model.window``)."""
        own = bcls.parameters_of()
        params = {**own, **{k: v for k, v in self.model.items() if k in own}}
        if not bcls(**params).applies_to(task):
            return []
        train = TrainConfig(**{**task_spec(task_name).get("train", {}),
                               **self.for_task("train", task_name)})
        return [make_cell(task_name, task, length, name, bcls, params, train, seed)
                for length in lengths for seed in self.seeds]

    def sized(self, task: Task, model_name: str, mcls: type[Core], params: dict) -> dict:
        """``params`` with the width (and, for a core that needs it, its ``sizing_knob``)
        that gives about ``self.params`` trainable parameters on ``task``; the chosen
        values and the target are kept in the parameters, so they are part of the cell key.
        Parameters the user set (``--set model.mlp=4``) are not changed."""
        from memorybench.models.sizing import size_for

        target = self.params
        if isinstance(target, bool) or not isinstance(target, int) or target < 1:
            raise UserError(f"--params {target!r} is invalid; expected an integer >= 1")
        if "hidden" in self.model:
            raise UserError("--params chooses each model's hidden width; do not also set "
                            "model.hidden")
        chosen, _ = size_for(task.io, mcls, params, target, model_name, fixed=set(self.model))
        return {**params, **chosen, "target_params": target}


def check_model_params(name: str, mcls: type[Core], params: dict) -> None:
    """Each parameter has the type of its default (an int where the default is an int, a
    number where it is a float, ...): a wrong type is a one-line error before training."""
    defaults = {"embed": 1, **mcls.parameters_of()}
    for key, value in params.items():
        expected = None if value is None else expected_type(defaults.get(key), value)
        if expected:
            raise UserError(f"model {name}: parameter {key}={value!r} is invalid; expected "
                            f"{expected} (default {defaults[key]!r})")


@functools.cache
def _builds(io, mcls: type[Core], params_json: str) -> None:
    from memorybench.models.base import SequenceModel

    SequenceModel(io, mcls, **json.loads(params_json))


def model_build_error(task: Task, mcls: type[Core], params: dict) -> Exception | None:
    """Build the model once for the task (once per process for the same parameters), so
    out-of-range parameters (a width of 0, a width that is not a multiple of the heads) are
    caught before any cell trains: the model's own checks raise their one-line errors. Any
    other exception is returned, for the caller to decide: `run` leaves it to training,
    which stores the cell as failed; `diagnose` refuses the model."""
    try:
        _builds(task.io, mcls, json.dumps(params, sort_keys=True))
    except UserError:
        raise
    except Exception as exc:
        return exc
    return None


def make_cell(task_name: str, task: Task, length: int, model: str,
              mcls: type[Core] | type[Baseline], model_params: dict, train: TrainConfig,
              seed: int) -> dict:
    cell = {
        "task": task_name,
        "task_type": task.name,
        "task_version": task.version,
        "task_params": dataclasses.asdict(task),
        "length": length,
        "model": model,
        "model_type": mcls.name,
        "model_kind": "baseline" if issubclass(mcls, Baseline) else "network",
        "model_params": model_params,
        "train": dataclasses.asdict(train),
        "seed": seed,
    }
    cell["key"] = cell_key(cell)
    return cell


def cell_key(cell: dict) -> str:
    """A short, stable hash of everything that determines a cell's result."""
    body = {k: v for k, v in cell.items() if k != "key"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _int_list(value) -> bool:
    return isinstance(value, list) and all(is_integer(v) for v in value)


SUITE_TYPES = {  # key -> (check, the expected form, for the error)
    "description": (lambda v: isinstance(v, str), 'a string'),
    "tasks": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v),
              'a list of task names, e.g. ["adding", "copy"]'),
    "models": (lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v),
               'a list of model names, e.g. ["elman", "lstm"]'),
    "lengths": (lambda v: _int_list(v) or (isinstance(v, dict) and all(
        _int_list(x) for x in v.values())),
        "a list of integers, e.g. [10, 50], or a table of them per task, e.g. "
        "{ adding = [10, 50] }"),
    "seeds": (_int_list, "a list of integers, e.g. [0, 1, 2]"),
    "train": (lambda v: isinstance(v, dict), "a table, e.g. [train] steps = 500"),
    "task": (lambda v: isinstance(v, dict), "a table of task parameters"),
    "model": (lambda v: isinstance(v, dict), "a table of model parameters"),
    "params": (is_integer, "an integer number of trainable parameters"),
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
    if name.endswith(".toml"):
        path = name
        data = read_toml(path)
    else:
        if name not in suite_names():
            raise unknown_name("suite", name, suite_names())
        path = spec_dir("suites") / f"{name}.toml"
        data = read_toml(path)
    check_keys(str(path), data, SUITE_KEYS)
    check_suite_types(str(path), data)
    flat_train = {k for k, v in data.get("train", {}).items() if not isinstance(v, dict)}
    check_keys(f"{path} [train]", dict.fromkeys(flat_train), TRAIN_KEYS)
    sweep = Sweep(tasks=list(data.get("tasks", [])), models=list(data.get("models", [])),
                  lengths=data.get("lengths"), seeds=list(data.get("seeds", [0])),
                  train=dict(data.get("train", {})), task=dict(data.get("task", {})),
                  model=dict(data.get("model", {})), params=data.get("params"))
    return sweep, data.get("description", "")
