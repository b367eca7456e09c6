"""Results as one table, from a store or from an exported file, and back to a file.

Committed results (the leaderboard, the CI baseline) are JSON lines: one cell per line,
sorted, nested config and metrics, so a change diffs line by line. Any of the export formats
reads back into the same table a store gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from memorybench.cells import COLUMNS, JSON_COLUMNS, cell_key, upgrade_config
from memorybench.errors import UserError, printable
from memorybench.store.db import Store
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


STATUSES = ("ok", "diverged", "failed")


def check_cells(path: Path, frame: pd.DataFrame) -> None:
    """The checks a results file must pass to be imported into a store: on top of
    ``check_table``'s, every row is a cell as ``run`` stores it. Its key is the hash of its
    config (a row whose config was changed does not match), its config
    names the row's own task, model, length and seed, its status is one a cell can have,
    its length and seed are in range, and an ``ok`` cell's accuracy and chance are finite
    numbers from 0 to 1; ``metrics`` is a JSON object. The first bad row is one line."""
    def bad(i: int, what: str) -> UserError:
        return UserError(f"{path}: the row of cell {printable(str(frame['key'].iloc[i]))} "
                         f"{what}; expected a cell as `memorybench run` stores it (nothing "
                         "was imported)")

    for i, row in enumerate(frame.to_dict("records")):
        task, model, length, seed = row["task"], row["model"], row["length"], row["seed"]
        if row["status"] not in STATUSES:
            raise bad(i, printable(f"has status {row['status']!r}, not one of "
                                   f"{', '.join(STATUSES)}"))
        if int(length) < 1 or int(seed) < 0:
            raise bad(i, f"has length {length} and seed {seed}; a cell has a length >= 1 and "
                      "a seed >= 0")
        text = row["metrics"]
        if isinstance(text, str) and not isinstance(json.loads(text), dict):
            raise bad(i, "has metrics that are not a JSON object")
        if row["status"] == "ok":
            for name in ("metric", "chance"):
                value = row[name]
                if pd.isna(value) or not (row["metric_name"] != "accuracy" or 0 <= value <= 1):
                    raise bad(i, f"is ok with a {name} of {value!r}; expected an accuracy "
                              "from 0 to 1")
        config = json.loads(row["config"]) if isinstance(row["config"], str) else None
        if not isinstance(config, dict):
            raise bad(i, "has no config; every stored cell records the config it ran")
        if config.get("key") != row["key"] or cell_key(config) != row["key"]:
            raise bad(i, f"has key {printable(row['key'])!r}, which is not the hash of its "
                      "config (the row was changed after it ran)")
        named = {"task": task, "model": model, "length": length, "seed": seed}
        said = {k: config.get(k) for k in named}
        if any(v is not None and v != named[k] for k, v in said.items()):
            raise bad(i, printable(f"is {task} x {model} T={length} seed {seed}, but its "
                                   f"config says {said['task']} x {said['model']} "
                                   f"T={said['length']} seed {said['seed']}"))


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


def rekey_file(path: Path) -> tuple[int, int]:
    """Rekey an exported results file in place (``rekey``): (keys changed, rows). Only each
    row's ``key`` and ``config`` change; every other field, a column the store does not
    know included, is written back as read, in the file's order. A file none of whose keys
    change is left untouched; one where two rows would end with one key is refused, the
    file unchanged."""
    path = Path(path)
    fmt = file_format(path, "rekey")
    old = load(path)
    frame, changed = rekey(old)
    repeated = frame["key"].duplicated(keep=False)
    if repeated.any():
        key = frame["key"][repeated].iloc[0]
        rows = frame[frame["key"] == key]
        names = ", ".join(f"{r.task} x {r.model} T={r.length} seed {r.seed}"
                          for r in rows.itertuples())
        raise UserError(f"{path}: {len(rows)} cells would share key {key} once rekeyed "
                        f"({names}): they are one cell stored twice; expected one row per "
                        "cell (the file is left unchanged)")
    if not changed:
        return 0, len(frame)
    updates = {k: (key, config) for k, key, config in
               zip(old["key"], frame["key"], frame["config"], strict=True)}
    if fmt == "parquet":
        require_parquet()
        raw = pd.read_parquet(path)
    elif fmt == "csv":
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    else:
        text = path.read_text(encoding="utf-8")
        rows = ([json.loads(line) for line in text.splitlines() if line.strip()]
                if fmt == "jsonl" else json.loads(text))
        for row in rows:
            key, config = updates[row["key"]]
            row["key"] = key
            nested = not isinstance(row.get("config"), str)
            row["config"] = json.loads(config) if nested else config
        out = ("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows) if fmt == "jsonl"
               else json.dumps(rows, indent=1) + "\n")
        _replace(path, lambda tmp: tmp.write_text(out, encoding="utf-8"))
        return changed, len(frame)
    raw["config"] = [updates[k][1] for k in raw["key"]]
    raw["key"] = [updates[k][0] for k in raw["key"]]
    _replace(path, lambda tmp: raw.to_csv(tmp, index=False) if fmt == "csv"
             else raw.to_parquet(tmp, index=False))
    return changed, len(frame)


def _replace(path: Path, write_to: Callable[[Path], object]) -> None:
    """Write ``path`` whole through ``write_to(tmp)`` and a rename over it."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write_to(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{path} cannot be written ({exc.strerror or exc}); expected a "
                        "writable file") from None


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
