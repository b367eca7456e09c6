"""The results store: one SQLite file, one row per finished cell.

Rows are committed as each cell finishes (WAL mode), so a crash loses at most the cells in
flight. The file is marked with an application id and a schema version; a file that is not
ours, or is damaged, is refused with one clear line and left exactly as it was.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd

from memorybench.errors import UserError

APPLICATION_ID = 0x4D424E43  # "MBNC": marks a SQLite file as a memorybench store
SCHEMA_VERSION = 3
SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_DB = Path("results") / "memorybench.db"

# Column name -> SQL type. JSON columns hold nested data (config, metrics, versions).
COLUMNS = {
    "key": "TEXT PRIMARY KEY", "task": "TEXT NOT NULL", "model": "TEXT NOT NULL",
    "length": "INTEGER NOT NULL", "seed": "INTEGER NOT NULL", "status": "TEXT NOT NULL",
    "metric_name": "TEXT", "metric": "REAL", "chance": "REAL", "solved_threshold": "REAL",
    "solved": "INTEGER", "loss": "REAL", "steps": "INTEGER", "steps_to_solve": "INTEGER",
    "diverged_step": "INTEGER", "wall_time": "REAL", "params": "INTEGER", "device": "TEXT",
    "error": "TEXT", "finished_at": "TEXT", "metrics": "TEXT", "versions": "TEXT",
    "config": "TEXT", "host": "TEXT",
}
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
# Schema version -> statements that bring a store from that version to the next. Each step
# runs in one transaction with its version bump, so a store is never left half-migrated.
MIGRATIONS = {
    1: ["ALTER TABLE cells ADD COLUMN host TEXT"],  # v2: which machine trained the cell
    2: [CREATE_DIAGNOSTICS],  # v3: gradient flow and memory probes
}
JSON_COLUMNS = ("metrics", "versions", "config")


def _check_existing(path: Path) -> None:
    """Refuse a file that is not a memorybench store, without writing to it."""
    if path.is_dir():
        raise UserError(f"--db {path} is a directory; expected a database file path such as "
                        f"{DEFAULT_DB}")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise UserError(f"--db {path} cannot be read ({exc.strerror})") from None
    if header != SQLITE_HEADER:
        raise UserError(f"--db {path} is not a memorybench database (not an SQLite file); "
                        "expected a file written by `memorybench run` or a new path")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            version = con.execute("PRAGMA user_version").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise UserError(f"--db {path} is a damaged database ({exc}); expected a memorybench "
                        "store") from None
    if app_id != APPLICATION_ID:
        raise UserError(f"--db {path} is an SQLite database of another program, not a "
                        "memorybench store; choose another path")
    if version > SCHEMA_VERSION:
        raise UserError(f"--db {path} has schema version {version}, newer than this "
                        f"memorybench's {SCHEMA_VERSION}; upgrade memorybench to read it")


class Store:
    """A results database. ``readonly`` opens an existing file (or nothing) without writing."""

    def __init__(self, path: str | Path = DEFAULT_DB, readonly: bool = False):
        self.path = Path(path)
        _check_existing(self.path)
        self.con: sqlite3.Connection | None = None
        if readonly:
            if self.path.exists() and self.path.stat().st_size > 0:
                self.con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(self.path, timeout=60)
            self.con.execute("PRAGMA journal_mode=WAL")
            self._create()
        except (OSError, sqlite3.DatabaseError) as exc:
            raise UserError(f"--db {self.path} cannot be written ({exc}); expected a writable "
                            "file path") from None

    def _create(self) -> None:
        with self.con:  # one transaction: a new store is created whole or not at all
            self.con.execute("BEGIN IMMEDIATE")
            if self.con.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                cols = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
                self.con.execute(f"CREATE TABLE cells ({cols})")
                self.con.execute(CREATE_DIAGNOSTICS)
                self.con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self.con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older store forward, one version at a time, keeping every row."""
        version = self.con.execute("PRAGMA user_version").fetchone()[0]
        while version < SCHEMA_VERSION:
            with self.con:
                self.con.execute("BEGIN IMMEDIATE")
                for statement in MIGRATIONS[version]:
                    self.con.execute(statement)
                version += 1
                self.con.execute(f"PRAGMA user_version = {version}")

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def statuses(self) -> dict[str, str]:
        """Key -> status of every stored cell."""
        if self.con is None:
            return {}
        return dict(self.con.execute("SELECT key, status FROM cells"))

    def put(self, row: dict) -> None:
        """Store one finished cell and commit. A cell is stored once: a new result replaces
        an existing row only when that row is a failure (a retry)."""
        self._upsert("cells", COLUMNS, JSON_COLUMNS,
                     {**row, "solved": int(bool(row.get("solved")))})

    def _upsert(self, table: str, columns: dict, json_columns: tuple, row: dict) -> None:
        values = {name: row.get(name) for name in columns}
        for name in json_columns:
            values[name] = json.dumps(values[name], sort_keys=True)
        names = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in values if name != "key")
        with self.con:
            self.con.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) "
                             f"ON CONFLICT(key) DO UPDATE SET {updates} "
                             f"WHERE {table}.status = 'failed'", values)

    def frame(self) -> pd.DataFrame:
        """Every stored cell as a DataFrame; JSON columns are left as JSON text."""
        if self.con is None:
            return pd.DataFrame(columns=list(COLUMNS))
        frame = pd.read_sql_query("SELECT * FROM cells ORDER BY task, model, length, seed, key",
                                  self.con)
        frame = frame.reindex(columns=list(COLUMNS))  # an older store read as it is: NA columns
        for name, kind in COLUMNS.items():  # fixed dtypes, whatever the rows hold
            if kind.startswith("INTEGER"):
                frame[name] = frame[name].astype("Int64")
            elif kind.startswith("REAL"):
                frame[name] = frame[name].astype("float64")
            else:
                frame[name] = frame[name].astype("string")
        frame["solved"] = frame["solved"].fillna(0).astype(bool)
        return frame

    # --- diagnostics (memorybench.diagnostics) ----------------------------------------------
    def _has_diagnostics(self) -> bool:
        return self.con is not None and self.con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'diagnostics'"
        ).fetchone() is not None

    def diagnostic_keys(self) -> set[str]:
        """Keys of the stored diagnostics that finished ok (a failed one is run again)."""
        if not self._has_diagnostics():
            return set()
        return {k for (k,) in self.con.execute(
            "SELECT key FROM diagnostics WHERE status = 'ok'")}

    def put_diagnostic(self, row: dict) -> None:
        """Store one diagnostic and commit; like ``put``, only a failure is ever replaced."""
        self._upsert("diagnostics", DIAGNOSTIC_COLUMNS, DIAGNOSTIC_JSON, row)

    def diagnostics(self) -> pd.DataFrame:
        """Every stored diagnostic; JSON columns left as JSON text. Empty for a store that
        has none (or predates them)."""
        if not self._has_diagnostics():
            return pd.DataFrame({n: pd.Series(dtype="object") for n in DIAGNOSTIC_COLUMNS})
        return pd.read_sql_query("SELECT * FROM diagnostics ORDER BY task, length, steps, "
                                 "model, seed, key", self.con)
