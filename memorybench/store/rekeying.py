"""Results files of an older memorybench brought to the current keys (``memorybench rekey``):
each cell's config upgraded and its key recomputed, nothing retrained, every other field
written back as read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from memorybench.cells import upgrade_config
from memorybench.errors import UserError, printable
from memorybench.store.results import check_cells, file_format, json_lines, read, require_parquet


def rekey(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Results of an older memorybench with each cell's config brought to the current form
    and its key recomputed from it (``cells.upgrade_config``), as a store is on open; and
    how many keys changed. Nothing is retrained: the results stay as measured. A config of
    the current form is left as it is (``check_cells`` then checks its key)."""
    frame = frame.copy()
    changed = 0
    for i, text in frame["config"].items():
        if not isinstance(text, str):
            continue
        config = json.loads(text)
        new = upgrade_config(config)
        if new is config:
            continue
        changed += frame.at[i, "key"] != new["key"]
        frame.at[i, "key"] = new["key"]
        frame.at[i, "config"] = json.dumps(new, sort_keys=True)
    return frame, int(changed)


def rekey_file(path: Path) -> tuple[int, int]:
    """Rekey an exported results file in place (``rekey``): (keys changed, rows). Only each
    row's ``key`` and ``config`` change; every other field, a column the store does not
    know included, is written back as read, in the file's order. A file none of whose keys
    change is left untouched; one with a row that is not a cell as ``run`` stores it
    (``check_cells``), or where two rows would end with one key, is refused, the file
    unchanged."""
    path = Path(path)
    fmt = file_format(path, "rekey")
    old = read(path)
    frame, changed = rekey(old)
    check_cells(path, frame, "the file is left unchanged")
    check_unshared(path, frame)
    if changed:
        updates = {k: (key, config) for k, key, config in
                   zip(old["key"], frame["key"], frame["config"], strict=True)}
        rewrite(path, fmt, updates)
    return changed, len(frame)


def check_unshared(path: Path, frame: pd.DataFrame) -> None:
    """Refuse rows that would end with one key: one cell stored twice."""
    repeated = frame["key"].duplicated(keep=False)
    if repeated.any():
        key = frame["key"][repeated].iloc[0]
        rows = frame[frame["key"] == key]
        names = ", ".join(f"{r.task} x {r.model} T={r.length} seed {r.seed}"
                          for r in rows.itertuples())
        raise UserError(printable(
            f"{path}: {len(rows)} cells would share key {key} once rekeyed ({names}): they "
            "are one cell stored twice; expected one row per cell (the file is left "
            "unchanged)"))


def rewrite(path: Path, fmt: str, updates: dict[str, tuple[str, str]]) -> None:
    """Write ``path`` back with each row's key and config replaced (old key -> (key,
    config text)), every other field as read."""
    if fmt in ("json", "jsonl"):
        text = path.read_text(encoding="utf-8")
        rows = json_lines(text) if fmt == "jsonl" else json.loads(text)
        for row in rows:
            key, config = updates[row["key"]]
            row["key"] = key
            nested = not isinstance(row.get("config"), str)
            row["config"] = json.loads(config) if nested else config
        out = ("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows) if fmt == "jsonl"
               else json.dumps(rows, indent=1) + "\n")
        _replace(path, lambda tmp: tmp.write_text(out, encoding="utf-8"))
        return
    if fmt == "parquet":
        require_parquet()
        raw = pd.read_parquet(path)
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["config"] = [updates[k][1] for k in raw["key"]]
    raw["key"] = [updates[k][0] for k in raw["key"]]
    _replace(path, lambda tmp: raw.to_csv(tmp, index=False) if fmt == "csv"
             else raw.to_parquet(tmp, index=False))


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
