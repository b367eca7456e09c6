"""Which settings fit which tasks and models: a ``--set`` key (or a suite's, or an API
call's) must be taken by at least one selected task or model, and a table scoped to one
(``--set model.NAME.KEY=V``) must name one that runs; a typo is an error, never a setting
silently dropped."""

from __future__ import annotations

import difflib
from typing import Any

from memorybench import catalog
from memorybench.baselines import Baseline
from memorybench.errors import UserError


def takes(section: str, name: str) -> set[str] | None:
    """The keys task or model ``name`` takes in ``section`` ('task': its parameters;
    'model': a network's parameters and ``embed``, a baseline's own); None for 'train',
    whose settings every task takes."""
    if section == "task":
        return set(catalog.task_class(name).parameters())
    if section == "model":
        mcls = catalog.model_class(name)
        return set(mcls.parameters_of()) | (set() if issubclass(mcls, Baseline) else {"embed"})
    return None


def check_settings(settings: dict, tasks: list[str], models: list[str],
                   scopes: bool = True) -> None:
    """The settings of one layer (``{"train": ..., "task": ..., "model": ...}``) fit the
    tasks and models they apply to: a flat task (model) key is taken by at least one of
    them, and, with ``scopes``, a table names one of them (a train or task table a task,
    a model table a model). A key or a name that fits none is a typo, not a setting
    silently dropped; the keys a table sets are checked where its cells are made."""
    for section in ("train", "task", "model"):
        names = models if section == "model" else tasks
        values = settings.get(section) or {}
        for key, value in values.items():
            if isinstance(value, dict):
                if scopes and key not in names:
                    raise UserError(not_selected(section, key, names))
                continue
            if section == "train":
                continue  # TRAIN_KEYS, checked with the sweep's cells
            registered = catalog.model_names() if section == "model" else catalog.task_names()
            owned = [takes(section, n) for n in names if n in registered]  # unknown: refused
            if owned and not any(key in o for o in owned if o):  # with the sweep's cells
                known = sorted(set().union(*[o for o in owned if o]))
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise UserError(f"{section}.{key}: unknown key {key!r}{hint}: no "
                                f"{section} of {', '.join(names)} takes it; expected one "
                                f"of: {', '.join(known)}")


def not_selected(section: str, name: str, names: list[str]) -> str:
    """The error for a table (``--set model.NAME.KEY=...``) naming no selected one."""
    kind = "model" if section == "model" else "task"
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (f"{section}.{name}: {name!r} is not a selected {kind}; {hint}selected: "
            f"{', '.join(names)} (a setting for one {kind} must name one that runs)")



def searched(sweep: Any) -> tuple[list[str], list[str]]:
    """The tasks and models a sweep (``sweep.Sweep``) of a suite runs, and those its
    ``[horizon]`` table searches: what the suite's flat settings may apply to."""
    def listed(key: str) -> list[str]:  # a list that is none: protocol_from's error
        value = sweep.horizon.get(key)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    tasks = [*sweep.tasks, *listed("tasks")]
    models = [*sweep.models, *listed("models")]
    return list(dict.fromkeys(tasks)), list(dict.fromkeys(models))
