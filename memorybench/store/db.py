"""The results store: one SQLite file, one row per finished cell.

Rows are committed as each cell finishes (WAL mode), so a crash loses at most the cells in
flight. The file is marked with an application id and a schema version; a file that is not
ours, or is damaged, is refused with one clear line and left exactly as it was.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from memorybench.cells import COLUMNS, JSON_COLUMNS
from memorybench.errors import UserError, printable
from memorybench.store.file import (
    APPLICATION_ID,
    DEFAULT_DB,
    check_existing,
    check_writable,
    connect_readonly,
)
from memorybench.store.schema import (
    CREATE_DIAGNOSTICS,
    CREATE_LEASES,
    DIAGNOSTIC_COLUMNS,
    DIAGNOSTIC_JSON,
    MIGRATIONS,
    SCHEMA_VERSION,
    alive,
    typed,
)

# The cells table has one column per field of ``memorybench.cells.Result`` (COLUMNS: name
# -> SQL type); JSON columns hold nested data (config, metrics, versions).
# One row per diagnosed (task, model, length, seed, budget): memorybench.diagnostics. The
# key is a hash of the diagnostic config, as a cell's is of its config.


class Store:
    """A results database. ``readonly`` opens an existing file (or nothing) without writing.
    ``label`` names the file in errors where it is an input of the command (its path);
    by default it is the command's ``--db``."""

    def __init__(self, path: str | Path = DEFAULT_DB, readonly: bool = False,
                 label: str | None = None):
        self.path = Path(path)
        self.label = label or f"--db {self.path}"
        check_existing(self.path, label)
        self.con: sqlite3.Connection | None = None
        if readonly:
            if self.path.exists() and self.path.stat().st_size > 0:
                self.con = connect_readonly(self.path)
            return
        if self.path.exists():
            check_writable(self.path)
            if self.path.stat().st_size > 0:  # every row readable, before any work
                self.con = connect_readonly(self.path)
                try:
                    if self.con.execute("SELECT 1 FROM sqlite_master WHERE name = 'cells'"
                                        ).fetchone():  # not a store being created now
                        self.frame()
                finally:
                    self.close()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(self.path, timeout=60)
            self._retry_locked(self._create)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise UserError(f"--db {self.path} cannot be written ({exc}); expected a writable "
                            "file path") from None

    @property
    def _db(self) -> sqlite3.Connection:
        """The open connection, for the methods that need one: a closed store, or a
        read-only one whose file does not exist, has none."""
        if self.con is None:
            raise RuntimeError(f"the store {self.path} is not open")
        return self.con

    def _retry_locked(self, step: Callable[[], None], seconds: float = 60.0) -> None:
        """Run ``step``, waiting while another process holds the lock SQLite needs for it
        (switching the journal mode does not wait by itself)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                step()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _create(self) -> None:
        con = self._db
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode=WAL")
        with con:  # one transaction: a new store is created whole or not at all
            con.execute("BEGIN IMMEDIATE")
            if con.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                cols = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
                con.execute(f"CREATE TABLE cells ({cols})")
                con.execute(CREATE_DIAGNOSTICS)
                con.execute(CREATE_LEASES)
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older store forward, one version at a time, keeping every row."""
        con = self._db
        while True:
            with con:
                con.execute("BEGIN IMMEDIATE")
                # Read inside the write lock: another process may have migrated meanwhile.
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    return
                for statement in MIGRATIONS[version]:
                    if callable(statement):
                        statement(con)
                    else:
                        con.execute(statement)
                con.execute(f"PRAGMA user_version = {version + 1}")

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def statuses(self) -> dict[str, str]:
        """Key -> status of every stored cell."""
        if self.con is None:
            return {}
        return dict(self.con.execute("SELECT key, status FROM cells"))

    def claim(self, keys: list[str]) -> dict[str, int]:
        """Claim the cells ``keys`` for this process; returns those another live run holds
        (key -> its process id), which this run must not train."""
        import socket

        me, host, now = os.getpid(), socket.gethostname(), time.time()
        held = {}
        con = self._db
        with con:
            con.execute("BEGIN IMMEDIATE")
            leases = {k: (pid, h, t) for k, pid, h, t in
                      con.execute("SELECT key, pid, host, taken FROM leases")}
            for key in keys:
                lease = leases.get(key)
                if lease is not None and lease[0] != me and alive(*lease, host, now):
                    held[key] = lease[0]
                else:
                    con.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)",
                                (key, me, host, now))
        return held

    def release(self, keys: list[str]) -> None:
        """Give up this process's claims on ``keys``."""
        with self._db as con:
            con.executemany("DELETE FROM leases WHERE key = ? AND pid = ?",
                            [(k, os.getpid()) for k in keys])

    def put(self, row: dict[str, Any], replace: bool = False) -> None:
        """Store one finished cell and commit. A cell is stored once: a new result replaces
        an existing row only when that row is a failure (a retry), or with ``replace``
        (``run --rerun``)."""
        self._upsert("cells", COLUMNS, JSON_COLUMNS,
                     {**row, "solved": int(bool(row.get("solved")))}, replace)

    def _upsert(self, table: str, columns: dict[str, str], json_columns: tuple[str, ...],
                row: dict[str, Any], replace: bool = False) -> None:
        values = {name: row.get(name) for name in columns}
        for name in json_columns:
            values[name] = json.dumps(values[name], sort_keys=True)
        names = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in values if name != "key")
        with self._db as con:
            con.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) "
                        f"ON CONFLICT(key) DO UPDATE SET {updates} "
                        + ("" if replace else f"WHERE {table}.status = 'failed'"), values)

    def merge(self, rows: list[dict[str, Any]]
              ) -> tuple[int, int, list[tuple[dict[str, Any], list[str]]]]:
        """Add results made elsewhere (rows with JSON columns as objects), in one
        transaction, and overwrite nothing: a row whose key is stored with the same content
        is a duplicate, with other content a conflict. Returns (added, duplicates,
        conflicts), each conflict the incoming row and the columns in which it differs."""
        added, duplicates = 0, 0
        conflicts: list[tuple[dict[str, Any], list[str]]] = []
        names = list(COLUMNS)
        with self._db as con:
            con.execute("BEGIN IMMEDIATE")  # no other writer between look and insert
            for row in rows:
                stored = con.execute(f"SELECT {', '.join(names)} FROM cells WHERE key = ?",
                                          (row["key"],)).fetchone()
                if stored is None:
                    values = {name: row.get(name) for name in names}
                    values["solved"] = int(bool(values["solved"]))
                    for name in JSON_COLUMNS:
                        values[name] = json.dumps(values[name], sort_keys=True)
                    con.execute(f"INSERT INTO cells ({', '.join(names)}) VALUES "
                                f"({', '.join('?' * len(names))})", list(values.values()))
                    added += 1
                    continue
                old = _canonical(dict(zip(names, stored, strict=True)), parsed=False)
                new = _canonical(row, parsed=True)
                differ = [name for name in names if old[name] != new[name]]
                if differ:
                    conflicts.append((row, differ))
                else:
                    duplicates += 1
        return added, duplicates, conflicts

    def frame(self) -> pd.DataFrame:
        """Every stored cell as a DataFrame; JSON columns are left as JSON text."""
        if self.con is None:
            return pd.DataFrame(columns=list(COLUMNS))
        try:
            frame = pd.read_sql_query("SELECT * FROM cells ORDER BY task, model, length, seed, "
                                      "key", self.con)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            raise UserError(f"{self.label} is a damaged database ({exc}); expected a "
                            "memorybench store") from None
        frame = frame.reindex(columns=list(COLUMNS))  # an older store read as it is: NA columns
        return typed(frame, lambda row, what: UserError(
            f"{self.label}: the stored cell {printable(frame['key'].iloc[row])} has {what}; "
            "expected a store written by `memorybench run`"))

    # --- diagnostics (memorybench.diagnostics) ----------------------------------------------
    def _has_diagnostics(self) -> bool:
        return self.con is not None and self.con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'diagnostics'"
        ).fetchone() is not None

    def diagnostic_keys(self) -> set[str]:
        """Keys of the stored diagnostics that finished ok (a failed one is run again)."""
        if not self._has_diagnostics():
            return set()
        return {k for (k,) in self._db.execute(
            "SELECT key FROM diagnostics WHERE status = 'ok'")}

    def put_diagnostic(self, row: dict[str, Any]) -> None:
        """Store one diagnostic and commit; like ``put``, only a failure is ever replaced."""
        self._upsert("diagnostics", DIAGNOSTIC_COLUMNS, DIAGNOSTIC_JSON, row)

    def diagnostics(self) -> pd.DataFrame:
        """Every stored diagnostic; JSON columns left as JSON text. Empty for a store that
        has none (or predates them)."""
        if not self._has_diagnostics():
            return pd.DataFrame({n: pd.Series(dtype="object") for n in DIAGNOSTIC_COLUMNS})
        return pd.read_sql_query("SELECT * FROM diagnostics ORDER BY task, length, steps, "
                                 "model, seed, key", self._db)


def _canonical(row: dict[str, Any], parsed: bool) -> dict[str, Any]:
    """A cell's values in one form whatever held them (a store row, an exported file's):
    JSON columns as objects, NaN as None, solved as a bool, so that equal content compares
    equal."""
    out: dict[str, Any] = {}
    for name in COLUMNS:
        value = row.get(name)
        if name in JSON_COLUMNS and not parsed and isinstance(value, str):
            value = json.loads(value)
        if name == "solved":
            value = bool(value)
        out[name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """NaN -> None, recursively (an exported file writes NaN as null)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value
