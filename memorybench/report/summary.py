"""From stored cells to the numbers a report shows: means, intervals, horizons, run facts.

Everything here is pandas and numpy on the store's DataFrame; nothing imports torch.
Every aggregate is sorted and every random draw is seeded, so one store gives one answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from memorybench.errors import UserError

DASH = "—"  # a value that does not exist (not a zero, not "not run")
# What every band and bracketed interval of the report is. A percentile bootstrap over 2 or 3
# seeds is only the range of the seeds (each seed drawn every time has a chance above 2.5%);
# the t interval covers the mean 95% of the time when seeds vary normally, and needs no draws.
# Its ends are cut to the metric's range (``RANGES``): the mean of an accuracy lies in [0, 1],
# so the cut drops no value the mean could take and the interval covers it as often as before,
# where "0.706 ± 1.166" (two seeds solved, one far below) claimed accuracies up to 1.87.
INTERVAL = ("Student-t 95% confidence interval of the mean over seeds, cut to the range of "
            "the metric, 0 to 1 for an accuracy")
# The values a score can take, by metric name (a stored metric, ``extra``'s key, a column).
RANGES = {"accuracy": (0.0, 1.0), "r2": (-math.inf, 1.0), "loss": (0.0, math.inf)}
UNBOUNDED = (-math.inf, math.inf)
HORIZON_RULE = (
    "A (model, task, length) is solved when the majority of its seeds reach the task's "
    "solved threshold. The memory horizon is the longest swept length such that it and every "
    "shorter swept length are solved; \"none\" when even the shortest length fails, "
    "\"≥ L\" when every swept length is solved (the true horizon may lie further out), and "
    "\"failed\" when no cell of the model on the task finished (every seed failed or "
    "diverged: a broken run, not a measured memory).")
NUMERIC = ["length", "seed", "metric", "chance", "solved_threshold", "loss", "steps",
           "steps_to_solve", "diverged_step", "wall_time", "params", "state_size"]
TEXT = ["key", "task", "model", "status", "metric_name", "device", "error", "finished_at"]


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain dtypes (float, object with None) whatever nullable dtypes the store returns, and
    the JSON columns parsed into Python objects."""
    out = pd.DataFrame(index=range(len(frame)))
    for name in NUMERIC:  # state_size: absent from frames made before it was stored
        out[name] = numbers(frame[name]) if name in frame else np.nan
    for name in TEXT:
        values = frame[name].astype(object).to_numpy()
        out[name] = [None if v is None or v is pd.NA or v != v else str(v) for v in values]
    out["solved"] = frame["solved"].fillna(False).astype(bool).to_numpy()
    for name in ("metrics", "versions", "config"):
        parsed = [parse_json(v) for v in frame[name].astype(object).to_numpy()]
        out[name] = parsed  # type: ignore[assignment]  # pandas-stubs: a column of dicts
    out["length"] = out["length"].astype(int)
    out["seed"] = out["seed"].astype(int)
    return out.sort_values(["task", "model", "length", "seed", "key"]).reset_index(drop=True)


def numbers(column) -> np.ndarray:
    """A stored column as floats, NaN for anything missing or not a number."""
    return pd.to_numeric(column, errors="coerce").astype(float).to_numpy()


def parse_json(text) -> dict:
    """A stored JSON column's text as a dict; {} for anything else."""
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def select(frame: pd.DataFrame, tasks=(), models=()) -> pd.DataFrame:
    """Rows of the chosen tasks and models; a choice that matches nothing is a user error."""
    if frame.empty:
        raise UserError("the store holds no results; run `memorybench run` first "
                        "(e.g. memorybench run --suite smoke)")
    for option, column, wanted in (("--task", "task", tasks), ("--model", "model", models)):
        stored = sorted(frame[column].unique())
        missing = [name for name in wanted if name not in stored]
        if missing:
            raise UserError(f"{option} {', '.join(missing)} matches no stored result; stored "
                            f"{column}s: {', '.join(stored)}")
    frame = chosen(frame, tasks, models)
    if frame.empty:
        raise UserError(f"no stored result has task {' or '.join(tasks)} and model "
                        f"{' or '.join(models)}; expected a task and model run together")
    for task, rows in frame.groupby("task", sort=True):
        lengths = sorted(rows["length"].unique())
        searched = all((c.get("train") or {}).get("test_size") for c in rows["config"])
        if len(lengths) < 2 and not searched:  # a search may close at its first rung
            raise UserError(f"task {task} has results at one length only ({lengths[0]}); a "
                            "report plots memory against length: run at least two lengths "
                            f"(memorybench run --task {task} --lengths {lengths[0]},"
                            f"{2 * lengths[0]}) or leave it out with --task")
    return frame.reset_index(drop=True)


def chosen(frame: pd.DataFrame, tasks=(), models=()) -> pd.DataFrame:
    """Rows of the given tasks and models; every task (model) when none is given."""
    if tasks:
        frame = frame[frame["task"].isin(tasks)]
    if models:
        frame = frame[frame["model"].isin(models)]
    return frame


def mean_interval(values, bounds: tuple[float, float] = UNBOUNDED
                  ) -> tuple[float, float, float]:
    """Mean and its Student-t 95% confidence interval over seeds (``INTERVAL``): mean ± t(0.975,
    n-1) x s / sqrt(n), its ends cut to ``bounds``, the values the metric can take; no
    interval for fewer than two values. NaN (a failed cell) is left out.

    >>> [round(x, 3) for x in mean_interval([0.5, 0.7, 0.9])]  # t(0.975, 2) = 4.303
    [0.7, 0.203, 1.197]
    >>> [round(x, 3) for x in mean_interval([0.5, 0.7, 0.9], RANGES["accuracy"])]
    [0.7, 0.203, 1.0]
    """
    v = np.asarray([x for x in values if x == x], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    half = float(stdtrit(len(v) - 1, 0.975) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])


def extra(frame: pd.DataFrame, key: str) -> pd.Series:
    """One numeric score from the metrics JSON (NaN where absent), e.g. ``r2``."""
    def get(m):
        value = m.get(key)
        return float(value) if isinstance(value, int | float) else math.nan
    return frame["metrics"].map(get).astype(float).rename(key)  # the name sets its range


def by_length(frame: pd.DataFrame, value: str | pd.Series = "metric") -> pd.DataFrame:
    """One row per (task, model, length): mean, lo, hi (``INTERVAL``, cut to the range of
    ``value``: ``metric_range``) of ``value`` over ok seeds and each ok seed's value
    (``values``, by seed), seed counts, majority-solved, median steps-to-solve, chance and
    threshold."""
    values = frame[value] if isinstance(value, str) else value
    frame = frame.assign(_v=values.where(frame["status"] == "ok"))
    rows = []
    for key, g in frame.groupby(["task", "model", "length"], sort=True):
        task, model, length = cast(tuple[str, str, int], key)  # pandas types keys Hashable
        mean, lo, hi = mean_interval(g["_v"], metric_range(value, g["metric_name"]))
        solved_steps = g.loc[g["solved"], "steps_to_solve"].dropna()
        rows.append({
            "task": task, "model": model, "length": int(length), "mean": mean, "lo": lo,
            "hi": hi, "values": tuple(float(v) for v in g["_v"].dropna()), "seeds": len(g),
            "ok": int((g["status"] == "ok").sum()),
            "n_solved": int(g["solved"].sum()), "solved": bool(g["solved"].sum() * 2 > len(g)),
            "steps_to_solve": float(solved_steps.median()) if len(solved_steps) else math.nan,
            "chance": float(g["chance"].dropna().iloc[0]) if g["chance"].notna().any()
            else math.nan,
            "threshold": float(g["solved_threshold"].dropna().iloc[0])
            if g["solved_threshold"].notna().any() else math.nan,
        })
    return pd.DataFrame(rows, columns=["task", "model", "length", "mean", "lo", "hi", "values",
                                       "seeds", "ok", "n_solved", "solved", "steps_to_solve",
                                       "chance", "threshold"])


def metric_range(value: str | pd.Series, metric_names) -> tuple[float, float]:
    """The values ``value`` can take (``RANGES``): the stored metric's by its name where one
    name covers the rows, another column's or score's by its own name; unbounded otherwise."""
    if isinstance(value, str) and value == "metric":
        names = {n for n in metric_names if n}
        return RANGES.get(names.pop(), UNBOUNDED) if len(names) == 1 else UNBOUNDED
    return RANGES.get(str(value if isinstance(value, str) else value.name), UNBOUNDED)


@dataclass(frozen=True)
class Horizon:
    length: int | None  # longest length within the horizon; None: even the shortest fails
    all_solved: bool  # every swept length solved: the true horizon may be longer
    share: float  # fraction of swept lengths inside the horizon (colours the heatmap)
    failed: bool = False  # no cell finished ok: nothing was measured

    def text(self) -> str:
        if self.failed:
            return "failed"
        if self.length is None:
            return "none"
        return f"≥ {self.length}" if self.all_solved else str(self.length)


def horizons(summary: pd.DataFrame) -> dict[tuple[str, str], Horizon]:
    """(model, task) -> memory horizon, by the rule in ``HORIZON_RULE``."""
    out: dict[tuple[str, str], Horizon] = {}
    for key, g in summary.groupby(["task", "model"], sort=True):
        task, model = cast(tuple[str, str], key)
        g = g.sort_values("length")
        inside = 0
        for solved in g["solved"]:
            if not solved:
                break
            inside += 1
        length = int(g["length"].iloc[inside - 1]) if inside else None
        if not g["ok"].any():
            out[model, task] = Horizon(None, False, math.nan, failed=True)
        else:
            out[model, task] = Horizon(length, inside == len(g), inside / len(g))
    return out


def baseline_models(frame: pd.DataFrame) -> frozenset[str]:
    """Models of a normalised frame that are classical baselines, not networks."""
    if frame.empty:
        return frozenset()
    return frozenset(frame.loc[[c.get("model_kind") == "baseline" for c in frame["config"]],
                               "model"])


def _number(value) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value
    return float(value) if ok else math.nan


def attractor_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Long table (task, model, length, seed, attractors, accuracy, examples) from the
    metrics' ``by_attractors``; ``examples`` (held-out examples in the bucket) is NaN where
    the task did not store it."""
    rows = []
    r: Any  # a row of itertuples: pandas types each field as any scalar
    for r in frame[frame["status"] == "ok"].itertuples():
        scores = r.metrics.get("by_attractors")
        if not isinstance(scores, dict):
            continue
        counts = r.metrics.get("by_attractors_n")  # absent from results of agreement v1
        counts = counts if isinstance(counts, dict) else {}
        for k, value in scores.items():
            n, acc = _number(counts.get(k)), _number(value)
            if str(k).isdigit() and acc == acc:
                rows.append({"task": r.task, "model": r.model, "length": r.length,
                             "seed": r.seed, "attractors": int(k), "accuracy": acc,
                             "examples": n})
    return pd.DataFrame(rows, columns=["task", "model", "length", "seed", "attractors",
                                       "accuracy", "examples"])
