"""A suite's ``[horizon]`` table, checked: the protocol of a search (``config.Protocol``)
with flags over it, and the rest of the table (what is searched, over which ladders, at
which size and seeds: ``SWEEP_KEYS``). One clear line for every bad value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from memorybench import catalog
from memorybench.config import MAX_LENGTH, Protocol, check_seeds
from memorybench.errors import UserError, is_integer
from memorybench.registry import unknown_name

HORIZON_KEYS = {"factor", "resolution", "lrs", "lr_rungs", "multiples", "test_size", "patience",
                "control", "ceiling", "ceiling_tokens", "control_multiple", "lr_beyond", "recipe",
                "min_delta", "solved_evals", "stop_margin", "params", "seeds", "tasks",
                "models", "ladders", "caps", "ceilings", "probes", "train", "task", "model"}
# the sweep's, not the protocol's: what is searched, over which ladders, at which size and
# seeds, with which training budget and task settings (over the suite's, for `horizon` only)
SWEEP_KEYS = ("params", "seeds", "tasks", "models", "ladders", "caps", "ceilings", "probes",
              "train", "task", "model")


def is_length(value: object) -> bool:
    """An integer from 1 to ``MAX_LENGTH``."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_LENGTH


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
    check_seeds(extra.get("seeds", ()), "[horizon] seeds")
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
    if not isinstance(caps, dict) or not all(is_length(v) for v in caps.values()):
        raise UserError(f"[horizon] caps = {caps!r} is invalid; expected a table of models "
                        f"and lengths from 1 to {MAX_LENGTH:,}, e.g. caps = {{ attention = 256 }}")
    ceilings = extra.get("ceilings", {})
    if not isinstance(ceilings, dict) or not all(
            is_integer(v) and 1 <= v <= 1024 for v in ceilings.values()):
        raise UserError(f"[horizon] ceilings = {ceilings!r} is invalid; expected a table of "
                        "tasks and integers from 1 to 1024, e.g. ceilings = { copy = 32 }")
    if flags.get("ceiling") is not None:  # --ceiling is every task's, the table's included
        extra.pop("ceilings", None)
    per_model = [name for name, v in extra.get("model", {}).items() if isinstance(v, dict)]
    for where, names in (("caps", list(caps)), ("model", per_model)):
        for model in names:
            if model not in catalog.model_names():
                raise UserError(f"[horizon] {where}: "
                                f"{unknown_name('model', model, catalog.model_names())}")
    probes = extra.get("probes", {})
    if not isinstance(probes, dict) or not all(
            isinstance(by_model, dict) and all(
                isinstance(ns, list) and ns and all(is_length(n) for n in ns)
                for ns in by_model.values()) for by_model in probes.values()):
        raise UserError(f"[horizon] probes = {probes!r} is invalid; expected a table of tasks "
                        f"and models with lists of lengths from 1 to {MAX_LENGTH:,}, e.g. "
                        "probes = { agreement = { elman = [10, 20, 40] } }")
    for by_model in probes.values():
        for model in by_model:
            if model not in catalog.model_names():
                raise UserError(f"[horizon] probes: "
                                f"{unknown_name('model', model, catalog.model_names())}")
    known = catalog.task_names()
    for task in [*ladders, *probes, *ceilings, *extra.get("task", {})]:
        if task not in known:
            raise UserError(f"[horizon]: {unknown_name('task', task, known)}")
    return Protocol(**values), extra


def refuse_lr(train: Mapping[str, Any]) -> None:
    """A search trains each network at every rate of its grid (``--lrs``; layer 8 of
    ``memorybench.config``'s table), so one rate asked for (``--lr``, ``train.lr``) would
    be replaced without a word: it is refused, pointing at the grid."""
    tables = [train, *(v for v in train.values() if isinstance(v, Mapping))]
    if any("lr" in table for table in tables):
        raise UserError("--lr / train.lr: horizon searches a grid of learning rates and "
                        "keeps the best per length; give the grid instead, e.g. --lrs 1e-3 "
                        "for one rate (lrs=[1e-3] from Python)")
