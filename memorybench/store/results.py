"""Results as one table, from a store or from an exported file, and back to a file.

Committed results (the leaderboard, the CI baseline) are JSON lines: one cell per line,
sorted, nested config and metrics, so a change diffs line by line. Any of the export formats
reads back into the same table a store gives.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from memorybench.cells import COLUMNS, JSON_COLUMNS, cell_key
from memorybench.errors import UserError, printable
from memorybench.store.db import Store
from memorybench.store.file import INPUT_EXPECTED, check_regular
from memorybench.store.rows import identity_problem
from memorybench.store.schema import typed

FILE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
REQUIRED = ["key", "task", "model", "length", "seed", "status", "metric"]
ORDER = ["task", "model", "length", "seed", "key"]


def jsonable(value: Any, finite: bool = False) -> Any:
    """NaN and NA -> null, numpy scalars -> Python, recursively (JSON has no NaN); with
    ``finite``, infinities -> null too (strict JSON; an export keeps a diverged cell's
    infinite loss)."""
    if isinstance(value, dict):
        return {k: jsonable(v, finite) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, finite) for v in value]
    if value is pd.NA or value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and (value != value or finite and abs(value) == float("inf")):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts, JSON columns parsed into nested objects."""
    out = []
    for record in frame.to_dict(orient="records"):
        for name in JSON_COLUMNS:
            text = record.get(name)
            record[name] = json.loads(text) if isinstance(text, str) else None
        out.append(jsonable(record))
    return out


def to_text(frame: pd.DataFrame, fmt: str) -> str:
    """csv, json (one array) or jsonl (one cell per line) text of a results table."""
    frame = frame.sort_values(ORDER, kind="stable")
    if fmt == "csv":
        return frame.to_csv(index=False)
    rows = records(frame)
    if fmt == "jsonl":
        return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    return json.dumps(rows, indent=1) + "\n"


def write(frame: pd.DataFrame, path: Path, fmt: str,
          inputs: tuple[str | Path, ...] = ()) -> None:
    """Write ``frame`` to ``path`` whole: a temporary file renamed over the target. It may
    not be one of ``inputs`` (the files the command reads), nor a store's companion files."""
    path = Path(path)
    check_regular(path, str(path), "a file path to write")
    check_not_input(path, inputs)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if fmt == "parquet":
            require_parquet()
            frame.sort_values(ORDER, kind="stable").to_parquet(tmp, index=False)
        else:
            tmp.write_text(to_text(frame, fmt), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{path} cannot be written ({exc.strerror or exc}); expected a file "
                        "path in an existing, writable folder") from None


def is_new(path: Path) -> bool:
    """Whether ``path`` holds no results yet (it is missing or empty: a first baseline);
    one that is not a regular file is refused before anything opens it."""
    check_regular(path, str(path), "a results file path")
    return not path.exists() or path.stat().st_size == 0


def check_not_input(path: Path, inputs: tuple[str | Path, ...]) -> None:
    """Refuse to write over a file the command reads (or a store's -wal/-shm beside it):
    ``export --db t.db --out t.db`` would otherwise replace the store with its export."""
    target = Path(path).resolve()
    for source in inputs:
        source = Path(source).resolve()
        if target in (source, Path(f"{source}-wal"), Path(f"{source}-shm"),
                      Path(f"{source}-journal")):
            raise UserError(f"{path} is the input {source.name} (or a file of its store); "
                            "expected an output path that is not an input")


def require_parquet() -> None:
    """Parquet needs pyarrow, an optional dependency: a one-line error names the extra."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UserError("Parquet files need pyarrow; install the extra with "
                        "pip install 'memorybench[parquet]'") from None


def empty() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in COLUMNS})


def load(path: str | Path, db_option: bool = False) -> pd.DataFrame:
    """A results table from a store (.db) or an exported file, sorted by cell; malformed
    input is one line. ``db_option``: the path is the command's ``--db``, and errors name
    it so (else they name it as the input file it is)."""
    return read(path, db_option).sort_values(ORDER, kind="stable").reset_index(drop=True)


def read(path: str | Path, db_option: bool = False) -> pd.DataFrame:
    """``load``'s table in the order of its file, so that an error can name a row by its
    place in it (a store's rows come by task, model, length, seed)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such results file or store; expected {INPUT_EXPECTED}")
    check_regular(path, f"--db {path}" if db_option else str(path), INPUT_EXPECTED)
    fmt = FILE_FORMATS.get(path.suffix)
    if fmt is None:
        with Store(path, readonly=True, label=None if db_option else str(path)) as store:
            return store.frame()
    raw = parse(path, fmt)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise UserError(f"{path}: not a results table (no column {missing[0]!r}); expected a "
                        "file written by `memorybench export`")
    frame = typed(raw.reindex(columns=list(COLUMNS)), lambda row, what: UserError(
        f"{path}: row {row + 1} has {what}; expected a file written by `memorybench export`"))
    check_table(path, frame)
    return frame


def parse(path: Path, fmt: str) -> pd.DataFrame:
    """The rows of an exported file as written, JSON columns as JSON text; a file no
    parser reads is one line naming where it broke."""
    try:
        if fmt == "csv":  # text columns as text (a task named 123), "" as missing
            return pd.read_csv(path, dtype=CSV_TEXT, keep_default_na=False, na_values=[""])
        if fmt == "parquet":
            require_parquet()
            return pd.read_parquet(path)
        text = path.read_text(encoding="utf-8")
        rows = json_lines(text) if fmt == "jsonl" else json.loads(text)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("expected one JSON object per cell")
    except UserError:
        raise
    except Exception as exc:  # any parser's complaint: the file is not a results table
        raise UserError(f"{path}: malformed {fmt} results file ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); expected a file "
                        "written by `memorybench export`") from None
    for row in rows:
        for name in JSON_COLUMNS:
            if not isinstance(row.get(name), str | type(None)):
                row[name] = json.dumps(row[name], sort_keys=True)
    return pd.DataFrame(rows)


# The columns a csv file holds as text: whatever they look like, they are not numbers.
CSV_TEXT = {name: str for name, kind in COLUMNS.items() if kind.startswith("TEXT")}


def json_lines(text: str) -> list[Any]:
    """The objects of JSON-lines text, one a line (blank lines skipped); one that does not
    parse is named by its line in the file and its column in that line."""
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number} column {exc.colno}: {exc.msg}") from None
        if not isinstance(row, dict):
            raise ValueError(f"line {number} is not a JSON object")
        rows.append(row)
    return rows


def check_table(path: Path, frame: pd.DataFrame) -> None:
    """The checks a results file must pass to be compared: every cell named, once, with
    finite numbers; anything else is a one-line error naming the first bad row."""
    def bad(row: int, what: str) -> UserError:
        return UserError(f"{path}: row {row + 1} {what}; expected a file written by "
                         "`memorybench export`")

    for name in ("key", "task", "model", "length", "seed", "status"):
        missing = frame[name].isna()
        if missing.any():
            raise bad(int(missing.to_numpy().argmax()), f"has no {name}")
    for name in ("metric", "chance", "loss"):
        infinite = frame[name].abs() == float("inf")
        if name == "loss":  # a diverged cell's last loss is its record: it went to inf
            infinite &= frame["status"] != "diverged"
        if infinite.any():
            raise bad(int(infinite.to_numpy().argmax()), f"has an infinite {name}")
    repeated = frame["key"].duplicated()
    if repeated.any():
        raise bad(int(repeated.to_numpy().argmax()),
                  f"repeats cell {printable(frame['key'][repeated].iloc[0])}")


STATUSES = ("ok", "diverged", "failed")


def check_cells(path: Path, frame: pd.DataFrame, left: str = "nothing was imported"
                ) -> None:
    """The checks a results table must pass to be imported into a store (or rekeyed): on
    top of ``check_table``'s, every row is a cell as ``run`` stores it (``cell_problem``).
    The first bad row is one line naming it (by its place in a file, by its key in a
    store) and what was ``left`` undone."""
    in_file = Path(path).suffix in FILE_FORMATS
    for i, row in enumerate(frame.to_dict("records")):
        problem = cell_problem(row)
        if problem:
            where = f"row {i + 1}" if in_file else f"the stored cell {printable(row['key'])}"
            raise UserError(f"{path}: {where} {problem}; expected a cell as `memorybench "
                            f"run` stores it ({left})")


def cell_problem(row: Mapping[Hashable, Any]) -> str | None:
    """What makes a row no cell ``run`` could store (None: nothing): a status a cell cannot
    have, a length or seed out of range, an ``ok`` accuracy or chance that is not a number
    from 0 to 1, or a config that is missing, lacks what names its cell, names another
    cell, or does not hash to the row's key (it was changed after the cell ran)."""
    length, seed = row["length"], row["seed"]
    if row["status"] not in STATUSES:
        return printable(f"has status {row['status']!r}, not one of {', '.join(STATUSES)}")
    if int(length) < 1 or int(seed) < 0:
        return (f"has length {length} and seed {seed}; a cell has a length >= 1 and a seed "
                ">= 0")
    for name in ("metric", "chance") if row["status"] == "ok" else ():
        value = row[name]
        if pd.isna(value) or not (row["metric_name"] != "accuracy" or 0 <= value <= 1):
            return f"is ok with a {name} of {value!r}; expected an accuracy from 0 to 1"
    config = json.loads(row["config"]) if isinstance(row["config"], str) else None
    if not isinstance(config, dict):
        return "has no config; every stored cell records the config it ran"
    return identity_problem(config) or named_problem(row, config)


def named_problem(row: Mapping[Hashable, Any], config: dict[str, Any]) -> str | None:
    """A config that names another cell than its row, or does not hash to its key."""
    if config["key"] != row["key"] or cell_key(config) != row["key"]:
        return (f"has key {printable(row['key'])!r}, which is not the hash of its config "
                "(the row was changed after it ran)")
    named = {"task": row["task"], "model": row["model"], "length": row["length"],
             "seed": row["seed"]}
    said = {k: config[k] for k in named}
    if said != named:
        return printable(f"is {named['task']} x {named['model']} T={named['length']} seed "
                         f"{named['seed']}, but its config says {said['task']} x "
                         f"{said['model']} T={said['length']} seed {said['seed']}")
    return None


def select(frame: pd.DataFrame, tasks: Sequence[str] = (), models: Sequence[str] = ()
           ) -> pd.DataFrame:
    """The rows of these tasks and models (all where none are named); a name that matches
    no stored row is a one-line error."""
    for column, names in (("task", tasks), ("model", models)):
        stored = sorted(set(frame[column]))
        for name in names:
            if name not in stored:
                raise UserError(f"--{column} {name} matches no stored result; stored "
                                f"{column}s: {', '.join(stored) or 'none'}")
        if names:
            frame = frame[frame[column].isin(names)]
    return frame


def file_format(path: Path, option: str) -> str:
    """The export format a results file's suffix names, or a one-line error."""
    fmt = FILE_FORMATS.get(Path(path).suffix)
    if fmt is None:
        raise UserError(f"{option}: {path} is not an exported results file; expected a "
                        ".jsonl, .json, .csv or .parquet path")
    return fmt
