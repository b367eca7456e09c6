"""Stored diagnostics as the numbers of the "Gradient flow" section: ``summary`` for cells,
this module for what ``memorybench diagnose`` stores.

Reads the store's ``diagnostics`` table (pandas and sqlite, never torch). Rows whose configs
differ in anything but the seed belong to different *variants* and are never averaged
together; within a group of rows, each (model, variant) is one line of a figure or table.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from memorybench.report.summary import DASH, chosen, parse_json
from memorybench.store import Store
from memorybench.store.results import FILE_FORMATS

PHASES = (("init", "at initialization"), ("trained", "after training"))
SOURCES = ("Hochreiter 1991; Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013")
# A trained metric less than this share of the way from chance to the solved threshold
# counts as "at chance": the model has not learned the task, so its "trained" gradient is
# that of a model that barely moved from its initialization.
LEARNED = 0.1
R2_FLOOR = -0.25  # the probe figure's lower edge; values below it are marked, not hidden
NOT_APPLICABLE = "not applicable"  # the status ``diagnose`` stores for such a model
NOT_APPLICABLE_TEXT = ("no per-step recurrent state: nothing is carried from step to step, "
                       "so there is no h_t to differentiate or probe")


def load(db: str | Path, tasks=(), models=()) -> pd.DataFrame:
    """Every stored diagnostic (ok, failed and not applicable), ``result`` and ``config``
    parsed, with ``settings`` (what ``--set`` changed, as text) and ``variant`` (a hash of
    the config without its seed: rows of one variant are seeds of one measurement); empty
    for an exported results file or a store without diagnostics."""
    db = Path(db)
    if db.suffix in FILE_FORMATS or not db.exists():
        return pd.DataFrame()
    with Store(db, readonly=True) as store:
        frame = store.diagnostics()
    frame = chosen(frame, tasks, models).copy()
    for name in ("result", "config", "versions"):
        parsed = [parse_json(text) for text in frame[name]]
        frame[name] = parsed  # type: ignore[assignment]  # pandas-stubs: a column of dicts
    frame["settings"] = [settings_text(c) for c in frame["config"]]
    frame["variant"] = [variant(c) for c in frame["config"]]
    return frame.reset_index(drop=True)


def settings_text(config: dict) -> str:
    """'model.hidden=16, train.lr=100000000.0'; 'spec settings' when nothing was changed."""
    diag = config.get("diagnostics", {})
    if "settings" not in diag:
        return f"settings not recorded (diagnostics v{diag.get('version', '?')})"
    return ", ".join(f"{k}={_value(v)}" for k, v in sorted(diag["settings"].items())) or \
        "spec settings"


def _value(value) -> str:
    """A setting as a user types it: 1e+08 rather than 100000000.0."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def variant(config: dict) -> str:
    """A short hash of everything in ``config`` but the seed (and the key derived from it)."""
    rest = {k: v for k, v in config.items() if k not in ("seed", "key")}
    return hashlib.sha1(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:8]


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if key in ("seed", "key"):
            continue
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def line_labels(group: pd.DataFrame) -> dict[str, str]:
    """Variant -> its line's label: the model's name, and where one model has several
    variants in a group, the config values that tell them apart."""
    labels: dict[str, str] = {}
    for model, rows in group.groupby("model", sort=True):
        configs = {v: _flat(c) for v, c in zip(rows["variant"], rows["config"], strict=True)}
        if len(configs) == 1:
            labels[next(iter(configs))] = str(model)
            continue
        keys = sorted({k for c in configs.values() for k in c
                       if len({json.dumps(o.get(k)) for o in configs.values()}) > 1})
        for v, c in sorted(configs.items()):
            differ = ", ".join(f"{k.removeprefix('model_params.').removeprefix('train.')}="
                               f"{_value(c.get(k, DASH))}" for k in keys)
            labels[v] = f"{model} ({differ})"
    return labels


def lines(group: pd.DataFrame):
    """Per line (model, variant) of a group: its label, model, the variant's index within
    the model (0 for its first) and its rows (one per seed)."""
    labels = line_labels(group)
    for model, by_model in group.groupby("model", sort=True):
        for i, (v, rows) in enumerate(by_model.groupby("variant", sort=True)):
            yield labels[str(v)], model, i, rows


def learning_state(metric, chance, solved) -> str:
    """'solved', 'learning' or 'at chance' (see ``LEARNED``); — when chance is unknown."""
    if metric is None or chance is None or solved is None or metric != metric:
        return DASH
    if metric >= solved:
        return "solved"
    return "at chance" if metric - chance < LEARNED * (solved - chance) else "learning"


def sequence_steps(group: pd.DataFrame) -> int:
    """Steps per input sequence (N): the task's length T, T + 20 for copy."""
    first = group["result"].iloc[0]
    return int(first.get("sequence_steps", len(first["distances"])))


def curves(rows: pd.DataFrame, phase: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over seeds: the geometric mean of the per-seed geometric means, and the widest
    percentile band; each (N,)."""
    grads = [r[phase]["gradient"] for r in rows["result"]]
    with np.errstate(divide="ignore"):
        logs = np.log([g["mean"] for g in grads])
    mean = np.exp(logs.mean(0))
    return mean, np.min([g["lo"] for g in grads], 0), np.max([g["hi"] for g in grads], 0)


def probe_means(rows: pd.DataFrame, phase: str) -> np.ndarray:
    """Mean R² over seeds per probed distance; NaN where the target never varies."""
    values = [[math.nan if v is None else v for v in r[phase]["probe"]] for r in rows["result"]]
    return np.asarray(values, dtype=float).mean(0)

