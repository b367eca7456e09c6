"""What a store holds, version by version: the schema checked on open, the migrations that
bring an older store forward, and the typed reading of stored rows. Also the leases with
which concurrent runs on one store divide its cells."""

from __future__ import annotations

import json
import numbers
import os
import sqlite3
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from memorybench.cells import COLUMNS, JSON_COLUMNS, upgrade_config
from memorybench.errors import UserError
from memorybench.store.rows import config_problem, json_problem, shown

SCHEMA_VERSION = 4
# One row per diagnosed (task, model, length, seed, budget): memorybench.diagnostics. The
# key is a hash of the diagnostic config, as a cell's is of its config.
DIAGNOSTIC_COLUMNS = {
    "key": "TEXT PRIMARY KEY", "task": "TEXT NOT NULL", "model": "TEXT NOT NULL",
    "length": "INTEGER NOT NULL", "seed": "INTEGER NOT NULL", "steps": "INTEGER NOT NULL",
    "status": "TEXT NOT NULL", "error": "TEXT", "wall_time": "REAL", "finished_at": "TEXT",
    "result": "TEXT", "versions": "TEXT", "config": "TEXT",
}
DIAGNOSTIC_JSON = ("result", "versions", "config")
CREATE_DIAGNOSTICS = ("CREATE TABLE diagnostics ("
                      + ", ".join(f"{n} {k}" for n, k in DIAGNOSTIC_COLUMNS.items()) + ")")
# A run claims the cells it is about to train (process, machine, time), so a second run on
# the same store skips them instead of training them twice; a claim whose process is gone,
# or older than LEASE_SECONDS on another machine, is taken over.
CREATE_LEASES = ("CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, pid INTEGER, "
                 "host TEXT, taken REAL)")
LEASE_SECONDS = 24 * 3600


def rekey(con: sqlite3.Connection) -> None:
    """v4: a cell's key also hashes its model's code version (``cells.upgrade_config``);
    every stored row is re-keyed from its stored config, nothing is retrained."""
    rows = con.execute("SELECT key, config FROM cells").fetchall()
    for key, text in rows:
        try:
            config = json.loads(text)
        except (TypeError, ValueError):
            continue  # a row without a readable config keeps its key
        if not isinstance(config, dict) or config_problem(config):
            continue  # nor does one whose config is malformed: reading it says so
        new = upgrade_config(config)
        if new is not config and new["key"] != key:  # else of the current form already
            con.execute("UPDATE cells SET key = ?, config = ? WHERE key = ?",
                        (new["key"], json.dumps(new, sort_keys=True), key))


# Schema version -> statements that bring a store from that version to the next. Each step
# runs in one transaction with its version bump, so a store is never left half-migrated.
MIGRATIONS: dict[int, list[str | Callable[[sqlite3.Connection], None]]] = {
    1: ["ALTER TABLE cells ADD COLUMN host TEXT"],  # v2: which machine trained the cell
    2: [CREATE_DIAGNOSTICS],  # v3: gradient flow and memory probes
    3: ["ALTER TABLE cells ADD COLUMN state_size INTEGER", rekey,  # v4: code versions,
        CREATE_LEASES],  # and leases
}


# Columns every version of the cells table has, and those a version added.
BASE_COLUMNS = [c for c in COLUMNS if c not in ("host", "state_size")]
ADDED_COLUMNS = {2: ["host"], 4: ["state_size"]}


def check_schema(con: sqlite3.Connection, name: str, version: int) -> None:
    """The tables a store of ``version`` must have, with their columns; anything else is a
    damaged store, refused before any work. ``name``: the store as errors name it."""
    def damaged(what: str) -> UserError:
        return UserError(f"{name} is a damaged memorybench store ({what}); expected a "
                         "store written by `memorybench run`")

    if version > SCHEMA_VERSION:
        return  # a newer memorybench's store: refused by the caller, with that reason
    if version < 1:
        raise damaged(f"schema version {version}, expected 1 to {SCHEMA_VERSION}")
    kind = con.execute("SELECT type FROM sqlite_master WHERE name = 'cells'").fetchone()
    if kind is None or kind[0] != "table":
        raise damaged("no cells table" if kind is None else f"its cells table is a {kind[0]}")
    have = {row[1] for row in con.execute("PRAGMA table_info(cells)")}
    needed = BASE_COLUMNS + [c for v, cs in ADDED_COLUMNS.items() if version >= v for c in cs]
    missing = [c for c in needed if c not in have]
    if missing:
        raise damaged(f"its cells table lacks the column {missing[0]!r}")


def typed(frame: pd.DataFrame, bad: Callable[[int, str], Exception]) -> pd.DataFrame:
    """``frame`` with each column of COLUMNS in its fixed dtype, whatever the rows hold:
    a value that is not of its column's kind (a metric that is text, a seed of 1.5, a task
    that is a list, JSON that does not parse or is not an object, a config field of the
    wrong type: ``rows``) is ``bad(row, what)``, raised."""
    for name, kind in COLUMNS.items():
        column = frame[name]
        if name in JSON_COLUMNS:
            check_json(name, column, bad)
            frame[name] = column.astype("string")
        elif kind.startswith(("INTEGER", "REAL")):
            frame[name] = _numbers(name, kind, column, bad)
        else:
            wrong = ~column.map(lambda v: isinstance(v, str) or _missing(v))
            if wrong.any():
                raise bad(int(wrong.to_numpy().argmax()),
                          f"a {name} that is not text ({shown(column[wrong].iloc[0])})")
            frame[name] = column.astype("string")
    frame["solved"] = frame["solved"].fillna(0).astype(bool)
    return frame


def _numbers(name: str, kind: str, column: pd.Series,
             bad: Callable[[int, str], Exception]) -> pd.Series:
    """A numeric column in its dtype (Int64 or float64), or ``bad`` for its first value that
    is not a number (an integer, for an INTEGER column)."""
    if name == "solved":  # true/false in exported files, 0/1 in the store
        column = column.map(lambda v: int(v) if isinstance(v, bool | np.bool_) else v)
    values = pd.to_numeric(column.where(column.map(_numeric_or_na), None), errors="coerce")
    wrong = column.notna() & values.isna()
    if kind.startswith("INTEGER"):
        finite = values.abs() < 2 ** 63
        wrong |= values.notna() & (~finite | (values != values.round()))
        values = values.where(finite | values.isna(), None)
    if wrong.any():
        raise bad(int(wrong.to_numpy().argmax()),
                  f"a {name} that is not {'an integer' if kind[0] == 'I' else 'a number'}"
                  f" ({shown(column[wrong].iloc[0])})")
    return values.astype("Int64" if kind.startswith("INTEGER") else "float64")


def check_json(name: str, column: pd.Series, bad: Callable[[int, str], Exception]) -> None:
    """Every value of JSON column ``name`` is JSON text of an object as ``rows`` wants it
    (or missing); else ``bad`` for the first that is not."""
    for row, text in enumerate(column):
        if _missing(text):
            continue
        if not isinstance(text, str):
            raise bad(row, f"{name} that is not JSON text ({shown(text)})")
        try:
            value = json.loads(text)
        except ValueError:
            raise bad(row, f"{name} that is not valid JSON") from None
        problem = json_problem(name, value)
        if problem:
            raise bad(row, problem)


def _missing(value: Any) -> bool:
    """None, NA or NaN: a value a row does not have (not a list, whose isna is a list)."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _numeric_or_na(value: Any) -> bool:
    """A number (not a bool, not text that looks like one) or a missing value."""
    if isinstance(value, str | bool | np.bool_):
        return False
    return isinstance(value, numbers.Number) or _missing(value)


def alive(pid: int, host: str, taken: float, here: str, now: float) -> bool:
    """Whether a lease still holds: its process runs (on this machine), or it is recent
    (on another, whose processes cannot be seen from here)."""
    if host != here:
        return now - taken < LEASE_SECONDS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


