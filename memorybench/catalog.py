"""What exists: every task, model and baseline name, its TOML spec and its class.

A name is a registered class (``memorybench.tasks``, ``memorybench.models``,
``memorybench.baselines``, or a plugin's entry point) or a spec variant of one
(``models/lstm2.toml`` says ``type = "lstm"``). A spec lives in the project's ``tasks/`` or
``models/`` folder, or, for a plugin, beside the plugin's code as ``NAME.toml``. Specs are
read once per process.
"""

from __future__ import annotations

import functools
import inspect
import platform
import subprocess
from importlib.metadata import packages_distributions, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

import memorybench
from memorybench.baselines import BASELINES, Baseline
from memorybench.cells import Cell
from memorybench.config import TRAIN_KEYS
from memorybench.errors import UserError
from memorybench.fingerprints import fingerprint as code_fingerprint
from memorybench.fingerprints import walk as walk_code
from memorybench.models import MODELS
from memorybench.models.base import Core
from memorybench.registry import Registry, unknown_name
from memorybench.specs import check_keys, read_toml, spec_dir, spec_names
from memorybench.tasks import TASKS
from memorybench.tasks.base import Task

# lengths: the default sweep; suites: lengths per suite name (smoke, ci, quick), so a
# suite that runs "all" tasks needs no edit for a new one.
# horizon: a task's ladder (start, cap) or a model's learning-rate grid (lrs) for
# `memorybench horizon` (memorybench/horizon/).
SPEC_KEYS = {"type", "description", "lengths", "params", "train", "suites", "horizon"}


def _registry(kind: str):
    return TASKS if kind == "tasks" else MODELS


def _plugin_specs(kind: str) -> dict[str, Path]:
    """Specs shipped beside a registered class's code (``NAME.toml`` next to its module),
    for classes outside this package: how a plugin brings its own protocol."""
    registries: list[Registry[Any]] = [TASKS] if kind == "tasks" else [MODELS, BASELINES]
    found = {}
    for registry in registries:
        for name in registry.names():
            cls = registry.get(name)
            if cls.__module__.split(".")[0] == "memorybench":
                continue
            try:
                path = Path(inspect.getfile(cls)).with_name(f"{name}.toml")
            except (TypeError, OSError):
                continue
            if path.is_file():
                found[name] = path
    return found


@functools.cache
def spec_files(kind: str) -> dict[str, Path]:
    """Name -> spec file of every ``kind`` ('tasks' or 'models') spec."""
    files = {n: spec_dir(kind) / f"{n}.toml" for n in spec_names(kind)}
    return {**_plugin_specs(kind), **files}


@functools.cache
def _read_spec(kind: str, name: str) -> dict:
    path = spec_files(kind).get(name)
    if path is None:
        return {}
    spec = read_toml(path)
    check_keys(str(path), spec, SPEC_KEYS)
    check_keys(f"{path} [train]", spec.get("train", {}), TRAIN_KEYS)
    return spec


def task_names() -> list[str]:
    return sorted(set(TASKS.names()) | set(spec_files("tasks")))


def model_names() -> list[str]:
    cores, baselines = set(MODELS.names()), set(BASELINES.names())
    variants = {n for n in spec_files("models")
                if _read_spec("models", n).get("type", n) != n}
    for name in sorted((cores & baselines) | (variants & (cores | baselines))):
        kinds = [kind for kind, names in (("model", cores), ("baseline", baselines),
                                          ("spec variant in models/", variants))
                 if name in names]
        raise UserError(f"name {name!r} is registered twice, as a {' and as a '.join(kinds)}; "
                        "expected each model and baseline name once (rename the plugin)")
    return sorted(cores | set(spec_files("models")) | baselines)


def is_baseline(name: str) -> bool:
    return name in BASELINES.names()


def task_spec(name: str) -> dict:
    known = task_names()
    if name not in known:
        raise UserError(TASKS.why_broken(name)) if TASKS.why_broken(name) else \
            unknown_name("task", name, known)
    return _read_spec("tasks", name)


def model_spec(name: str) -> dict:
    known = model_names()
    if name not in known:
        why = MODELS.why_broken(name) or BASELINES.why_broken(name)
        raise UserError(why) if why else unknown_name("model", name, known)
    return _read_spec("models", name)


def task_class(name: str) -> type[Task]:
    return TASKS.get(task_spec(name).get("type", name))


def model_class(name: str) -> type[Core] | type[Baseline]:
    if is_baseline(name):
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


def task_of(cell: Cell) -> Task:
    """The task object a cell trains on (its registered type, at its parameters)."""
    return TASKS.get(cell.task_type)(**cell.task_params)


def model_class_of(cell: Cell) -> type[Core] | type[Baseline]:
    """The registered class of a cell's model or baseline."""
    return baseline_class_of(cell) if cell.is_baseline else core_class_of(cell)


def core_class_of(cell: Cell) -> type[Core]:
    """The registered core of a network cell (not a baseline's)."""
    return MODELS.get(cell.model_type)


def baseline_class_of(cell: Cell) -> type[Baseline]:
    """The registered class of a baseline cell."""
    return BASELINES.get(cell.model_type)


# --- code fingerprints ----------------------------------------------------------------------
BASES = (Task, Core, Baseline)


def _ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "memorybench"


@functools.cache
def fingerprint(cls: type[Task] | type[Core] | type[Baseline]) -> int | str:
    """What identifies the code of a task, model or baseline class: the ``version`` it
    declares (memorybench's own classes; bump it when a change alters results), or, for a
    class from elsewhere that declares none in its own body (a plugin), a hash of the
    source of every module its code reaches and of their distributions' versions, with the
    version of the memorybench class it builds on (``fingerprints.walk``). A changed
    fingerprint changes every cell key that uses the class, so stored
    results of the old code are not reused."""
    if _ours(cls) or "version" in vars(cls):
        return cls.version
    return code_fingerprint(cls)


def plugin_version(cls: type) -> str | None:
    """'distribution==version' of the installed package a class comes from, when that is
    not memorybench itself; None otherwise."""
    top = cls.__module__.split(".")[0]
    if top == "memorybench":
        return None
    dists = packages_distributions().get(top)
    if not dists:
        return None
    try:
        return f"{dists[0]}=={version(dists[0])}"
    except Exception:
        return None


# --- provenance ------------------------------------------------------------------------
def versions(cell: Cell | None = None) -> dict[str, Any]:
    """The software a result was produced with, the installed package of a plugin task or
    model (``plugins``: kind -> 'distribution==version'), and the installed version of every
    distribution the code of a model from elsewhere reaches (``fingerprints.walk``)."""
    out: dict[str, Any] = {"memorybench": memorybench.__version__, "torch": torch.__version__,
           "numpy": np.__version__, "python": platform.python_version(),
           "git_commit": git_commit()}
    if cell is not None:
        try:
            plugins = {kind: plugin_version(cls) for kind, cls in
                       (("task", type(task_of(cell))), ("model", model_class_of(cell)))}
        except Exception:  # a class that cannot be found fails the cell in training
            plugins = {}
        plugins = {k: v for k, v in plugins.items() if v}
        if plugins:
            out["plugins"] = plugins
        out.update(model_packages(cell))
    return out


def model_packages(cell: Cell) -> dict[str, str]:
    """Distribution -> version of what a model from elsewhere (a plugin, a file, an object
    given in-process: ``built_from``, its factory) is built from; {} for a built-in."""
    try:
        cls = model_class_of(cell)
    except Exception:  # a class that cannot be found fails the cell in training
        return {}
    origin = getattr(cls, "built_from", cls)
    ours = (getattr(origin, "__module__", None) or "").split(".")[0] == "memorybench"
    return {} if ours else walk_code(origin).distributions


@functools.cache
def git_commit() -> str | None:
    """The commit of the source checkout this package runs from ('+dirty' if edited), or
    None for an installed package."""
    root = Path(memorybench.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], text=True,
                              capture_output=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], text=True, capture_output=True,
                               timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
