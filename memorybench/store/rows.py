"""What a row of results holds, field by field, as a store writes it: the checks every
reader (a store, an exported file) applies before anything uses a row, so that a file
edited by hand, or made to harm, is one line naming the row instead of a crash later.

A row's JSON columns are objects, and its config has the fields of ``cells.Cell.config``
in their types (a key that is text, a length that is an integer, a ``train`` table whose
settings are those of ``config.TrainConfig``); a field a config lacks is not checked here,
as older results lack some (``identity_problem`` asks for the ones a cell always names).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from memorybench.config import TrainConfig
from memorybench.errors import expected_type, is_integer, printable


def _text(value: object) -> bool:
    return isinstance(value, str)


def _version(value: object) -> bool:
    return isinstance(value, str) or is_integer(value)


def _table(value: object) -> bool:
    return isinstance(value, dict)


# A field of ``cells.Cell.config`` -> (its test, what it must be, for the error).
CONFIG_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "key": (_text, "text"), "task": (_text, "text"), "task_type": (_text, "text"),
    "task_version": (_version, "an integer or text"), "task_params": (_table, "an object"),
    "length": (is_integer, "an integer"), "model": (_text, "text"),
    "model_type": (_text, "text"), "model_kind": (_text, "text"),
    "model_version": (_version, "an integer or text"), "model_params": (_table, "an object"),
    "train": (_table, "an object"), "seed": (is_integer, "an integer"),
}
# The fields every stored config has, whatever memorybench wrote it: they name its cell.
IDENTITY = ("key", "task", "model", "length", "seed")
TRAIN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def shown(value: object) -> str:
    """A value as an error shows it: its repr, terminal-safe and cut short."""
    text = printable(repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


def json_problem(name: str, value: Any) -> str | None:
    """What is wrong with the parsed value of JSON column ``name`` (None: nothing): every
    JSON column holds an object (or nothing), a config one of ``config_problem``'s."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return f"{name} that {'is' if name == 'config' else 'are'} not a JSON object"
    return config_problem(value) if name == "config" else None


def config_problem(config: dict[str, Any]) -> str | None:
    """What is wrong with a stored config (None: nothing): a field of the wrong type, in
    it or in its ``train`` table."""
    for name, (test, kind) in CONFIG_FIELDS.items():
        if name in config and not test(config[name]):
            return f"a config whose {name} is not {kind} ({shown(config[name])})"
    return train_problem(config.get("train") or {})


def train_problem(train: dict[str, Any]) -> str | None:
    """What is wrong with a config's ``train`` table: a known setting of the wrong type, or
    a searched cell's (it has a test set) without the learning rate its search chose."""
    for name, default in TRAIN_DEFAULTS.items():
        if name not in train:
            continue
        value = train[name]
        if name == "extrapolate":
            kind = None if isinstance(value, list) and all(map(is_integer, value)) else \
                "a list of integers"
        else:
            kind = expected_type(default, value)
        if kind is not None:
            return f"a config whose train.{name} is not {kind} ({shown(value)})"
    if train.get("test_size") and "lr" not in train:
        return "a config whose train has a test_size but no lr"
    return None


def identity_problem(config: dict[str, Any]) -> str | None:
    """What a config lacks of the fields that name its cell (None: nothing lacks)."""
    missing = [name for name in IDENTITY if name not in config]
    if missing:
        return (f"has a config without {missing[0]!r} (a stored config names its cell's "
                f"{', '.join(IDENTITY[:-1])} and {IDENTITY[-1]})")
    return None

