"""Published results beside ours: ``references.toml`` holds the numbers, one citation each.

A reference is *matched* when its setting follows our task definition (``matches = true``),
its model is one we ran, and we ran a length it covers: then our mean over seeds stands in the
same row. Every other reference of a reported task is listed as context, with its setting.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources

import pandas as pd

from memorybench.report.tables import Table, number

MEMORYLESS = "memoryless"


def load() -> list[dict]:
    """Every reference row of the packaged data file, in file order."""
    text = resources.files("memorybench.report").joinpath("references.toml").read_text("utf-8")
    return tomllib.loads(text)["ref"]


def _covered(ref: dict, lengths) -> list[list[int]]:
    """Our lengths a reference speaks about, grouped: one group per listed length, or one
    group for a length range or when the reference names no length."""
    lengths = sorted(set(int(n) for n in lengths))
    if "length_range" in ref:
        lo, hi = ref["length_range"]
        inside = [n for n in lengths if lo <= n <= hi]
        return [inside] if inside else []
    if "lengths" in ref:
        return [[n] for n in lengths if n in ref["lengths"]]
    return [lengths]


def _where(ref: dict) -> str:
    if "length_range" in ref:
        lo, hi = ref["length_range"]
        return f"{lo}+" if math.isinf(hi) else f"{lo}–{hi}"
    if "lengths" in ref:
        return ", ".join(str(n) for n in ref["lengths"])
    return "any"


def _published(ref: dict) -> str:
    parts = []
    if "value" in ref:
        parts.append(number(ref["value"]))
    if "values" in ref:
        parts.append(" ".join(number(v) for v in ref["values"]))
    if "outcome" in ref:
        parts.append(ref["outcome"])
    return "; ".join(parts)


def _source(frame: pd.DataFrame, key: str) -> pd.Series:
    """Our number named by a reference's ``ours`` (or ``baseline``) field, NaN where absent."""
    if key in ("metric", "chance"):
        return frame[key].astype(float)
    return frame["metrics"].map(
        lambda m: float(m[key]) if isinstance(m.get(key), int | float) else math.nan)


def _ours(ref: dict, rows: pd.DataFrame) -> str | None:
    """Our comparable number for one group of cells, or None when we have none."""
    values = _source(rows, ref["ours"]).dropna()
    if values.empty:
        return None
    if ref["model"] == MEMORYLESS:  # a property of the task: the same for every model
        return " / ".join(number(v) for v in sorted(set(round(v, 6) for v in values)))
    text = f"{number(values.mean())} (mean of {len(values)})"
    if "baseline" in ref:
        base = _source(rows, ref["baseline"]).dropna()
        if not base.empty:
            b = base.mean()
            beats = values.mean() < b if ref.get("lower") else values.mean() > b
            text += f"; {'beats' if beats else 'does not beat'} memoryless {number(b)}"
    return text


def compare(frame: pd.DataFrame) -> tuple[Table, Table]:
    """(matched, context) tables for the tasks in ``frame`` (normalised store rows)."""
    matched, context = [], []
    ok = frame[frame["status"] == "ok"]
    for ref in load():
        task, model = ref["task"], ref["model"]
        if task not in set(frame["task"]):
            continue
        cite = ref["citation"]
        rows = ok[ok["task"] == task]
        if model != MEMORYLESS:
            rows = rows[rows["model"] == model]
        found = []
        if ref.get("matches") and not rows.empty:
            for group in _covered(ref, rows["length"]):
                ours = _ours(ref, rows[rows["length"].isin(group)])
                if ours is not None:
                    where = (str(group[0]) if len(group) == 1 and "lengths" in ref else
                             f"{_where(ref)} (ours: {', '.join(map(str, group))})")
                    found.append([task, model, where, ref["metric"], _published(ref), ours,
                                  cite])
        if found:
            matched.extend(found)
        else:
            context.append([task, model, _where(ref), ref["metric"], _published(ref),
                            ref["setting"], cite])
    return (Table(["task", "model", "length", "measure", "published", "ours", "source"],
                  matched),
            Table(["task", "model", "length", "measure", "published", "setting", "source"],
                  context))
