"""Results as one table, from a store or from an exported file, and back to a file.

Committed results (the leaderboard, the CI baseline) are JSON lines: one cell per line,
sorted, nested config and metrics, so a change diffs line by line. Any of the export formats
reads back into the same table a store gives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from memorybench.cells import COLUMNS, JSON_COLUMNS, upgrade_config
from memorybench.errors import UserError
from memorybench.store.db import Store
from memorybench.store.schema import typed

FILE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
REQUIRED = ["key", "task", "model", "length", "seed", "status", "metric"]
ORDER = ["task", "model", "length", "seed", "key"]


def _jsonable(value: Any) -> Any:
    """NaN and NA -> null, numpy scalars -> Python, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is pd.NA or value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts, JSON columns parsed into nested objects."""
    out = []
    for record in frame.to_dict(orient="records"):
        for name in JSON_COLUMNS:
            text = record.get(name)
            record[name] = json.loads(text) if isinstance(text, str) else None
        out.append(_jsonable(record))
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
    if path.is_dir():
        raise UserError(f"{path} is a directory; expected a file path to write")
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


def load(path: str | Path) -> pd.DataFrame:
    """A results table from a store (.db) or an exported file; malformed input is one line."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such results file or store; expected a .db store or an "
                        "exported .csv/.json/.jsonl/.parquet file")
    if path.is_dir():
        raise UserError(f"{path} is a directory; expected a .db store or an exported "
                        ".csv/.json/.jsonl/.parquet file")
    fmt = FILE_FORMATS.get(path.suffix)
    if fmt is None:
        with Store(path, readonly=True) as store:
            return store.frame()
    try:
        if fmt == "csv":
            frame = pd.read_csv(path)
        elif fmt == "parquet":
            require_parquet()
            frame = pd.read_parquet(path)
        else:
            text = path.read_text(encoding="utf-8")
            rows = ([json.loads(line) for line in text.splitlines() if line.strip()]
                    if fmt == "jsonl" else json.loads(text))
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ValueError("expected one JSON object per cell")
            for row in rows:
                for name in JSON_COLUMNS:
                    if not isinstance(row.get(name), str | type(None)):
                        row[name] = json.dumps(row[name], sort_keys=True)
            frame = pd.DataFrame(rows)
    except UserError:
        raise
    except Exception as exc:  # any parser's complaint: the file is not a results table
        raise UserError(f"{path}: malformed {fmt} results file ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); expected a file "
                        "written by `memorybench export`") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: not a results table (no column {missing[0]!r}); expected a "
                        "file written by `memorybench export`")
    raw = frame
    frame = typed(frame.reindex(columns=list(COLUMNS)), lambda row, what: UserError(
        f"{path}: row {row + 1} has {what}; expected a file written by `memorybench export`"))
    check_table(path, frame, raw)
    return frame.sort_values(ORDER, kind="stable").reset_index(drop=True)


def check_table(path: Path, frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    """The checks a results file must pass to be compared: every cell named, once, with
    finite numbers; anything else is a one-line error naming the first bad row."""
    def bad(row: int, what: str) -> UserError:
        return UserError(f"{path}: row {row + 1} {what}; expected a file written by "
                         "`memorybench export`")

    for name in ("key", "task", "model", "length", "seed", "status"):
        missing = frame[name].isna()
        if missing.any():
            raise bad(int(missing.to_numpy().argmax()), f"has no {name}")
    for name in ("task", "model", "status", "key"):  # required: every file has them
        wrong = ~raw[name].map(lambda v: isinstance(v, str))
        if wrong.any():
            raise bad(int(wrong.to_numpy().argmax()), f"has a {name} that is not text")
    for name in ("metric", "chance", "loss"):
        infinite = frame[name].abs() == float("inf")
        if name == "loss":  # a diverged cell's last loss is its record: it went to inf
            infinite &= frame["status"] != "diverged"
        if infinite.any():
            raise bad(int(infinite.to_numpy().argmax()), f"has an infinite {name}")
    repeated = frame["key"].duplicated()
    if repeated.any():
        raise bad(int(repeated.to_numpy().argmax()),
                  f"repeats cell {frame['key'][repeated].iloc[0]}")


def rekey(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Results of an older memorybench with each cell's config brought to the current form
    and its key recomputed from it (``cells.upgrade_config``), as a store is on open; and
    how many keys changed. Nothing is retrained: the results stay as measured."""
    frame = frame.copy()
    changed = 0
    for i, text in frame["config"].items():
        if not isinstance(text, str):
            continue
        new = upgrade_config(json.loads(text))
        changed += frame.at[i, "key"] != new["key"]
        frame.at[i, "key"] = new["key"]
        frame.at[i, "config"] = json.dumps(new, sort_keys=True)
    return frame, int(changed)


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
