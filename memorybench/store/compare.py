"""Compare two sets of results cell by cell: what got worse, what improved, what is missing.

Cells pair by (task, model, length, seed) within one *setting*: the rest of the cell's
config (the training settings, the model's parameters and code version, ...). Where both
sides hold a setting, its cells pair with each other; where, for a (task, model, length),
one setting is left on each side (a new model version, a changed default), those two pair,
and the row says what differs; any other cell has no counterpart and is listed missing or
extra. Per (task, model, length, setting), the difference of the metric is averaged over
the paired seeds; the group is *worse* only when the mean dropped by
more than ``margin`` and a paired bootstrap 95% interval of the difference lies below zero
(with few seeds the margin does most of the work), and *improved* symmetrically. A cell that
diverged or failed scores its task's memoryless (chance) level: it remembers nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from memorybench.errors import printable

GROUP = ["task", "model", "length"]
CELL = [*GROUP, "seed"]
N_BOOT = 2000  # resamples of the paired bootstrap


@dataclass
class Comparison:
    margin: float
    # rows: one per (task, model, length) in both; missing: cells of the baseline not in the
    # new; extra: cells of the new not in the baseline
    rows: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)

    def verdicts(self, verdict: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["verdict"] == verdict]

    @property
    def failed(self) -> bool:
        return bool(self.verdicts("worse") or self.missing)

    def to_dict(self) -> dict[str, Any]:
        return {"margin": self.margin, "failed": self.failed,
                **{v: self.verdicts(v) for v in ("worse", "improved", "unchanged")},
                "missing": self.missing, "extra": self.extra}


def effective_metric(frame: pd.DataFrame) -> pd.Series:
    """The metric, with diverged/failed cells at the chance level (0 when unknown)."""
    ok = frame["status"] == "ok"
    fallback = frame["chance"].astype("float64").fillna(0.0)
    return frame["metric"].astype("float64").where(ok, fallback).fillna(fallback)


def paired_interval(diffs: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean paired difference (seeds resampled)."""
    if len(diffs) == 1:
        return float(diffs[0]), float(diffs[0])
    idx = rng.integers(0, len(diffs), size=(N_BOOT, len(diffs)))
    lo, hi = np.percentile(diffs[idx].mean(axis=1), [2.5, 97.5])
    return float(lo), float(hi)


IDENTITY = {"key", "seed", "task", "model", "length"}  # fields that are not the setting


def _settings(frame: pd.DataFrame) -> pd.Series:
    """Each row's setting: its config without what names the cell, as sorted JSON ("" for
    a row without a config)."""
    def one(text: object) -> str:
        if not isinstance(text, str):
            return ""
        try:
            config = json.loads(text)
        except ValueError:
            return text
        if not isinstance(config, dict):
            return text
        return json.dumps({k: v for k, v in config.items() if k not in IDENTITY},
                          sort_keys=True)
    column = frame["config"] if "config" in frame.columns else pd.Series("", index=frame.index)
    return column.map(one)


def _flat(setting: str) -> dict[str, object]:
    """A setting's fields, nested tables flattened to dotted names (``train.lr``)."""
    try:
        value = json.loads(setting) if setting else {}
    except ValueError:
        return {"config": setting}
    out: dict[str, object] = {}

    def walk(prefix: str, item: object) -> None:
        if isinstance(item, dict):
            for k, v in item.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = item
    walk("", value)
    return out


def _differing(a: dict[str, object], b: dict[str, object]) -> list[str]:
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def differences(old: str, new: str) -> str:
    """What differs between two settings, e.g. ``model_version 1 -> 2; train.lr 0.01 ->
    1e-06`` ("" when they are the same)."""
    a, b = _flat(old), _flat(new)
    return "; ".join(f"{k} {a.get(k, '(none)')} -> {b.get(k, '(none)')}"
                     for k in _differing(a, b))


def label(setting: str, settings: set[str]) -> str:
    """The fields that tell ``setting`` apart from the other settings of its (task, model,
    length), e.g. ``train.lr=1e-06`` ("" when it is the only one)."""
    others = sorted(settings - {setting})
    if not others:
        return ""
    mine, other = _flat(setting), _flat(others[0])
    return ", ".join(f"{k}={mine.get(k, '(none)')}" for k in _differing(mine, other))


def compare(new: pd.DataFrame, old: pd.DataFrame, margin: float = 0.05) -> Comparison:
    result = Comparison(margin=margin)
    cols = [*CELL, "metric", "setting"]
    a = new.assign(metric=effective_metric(new), setting=_settings(new))[cols].astype(
        {"length": int, "seed": int})
    b = old.assign(metric=effective_metric(old), setting=_settings(old))[cols].astype(
        {"length": int, "seed": int})
    # Which new setting stands for which old one, per (task, model, length): the same
    # setting, or the one left on each side.
    pairs: dict[tuple[Any, ...], dict[str, str]] = {}
    present: dict[tuple[Any, ...], set[str]] = {}  # the new side's settings per group
    groups = set(map(tuple, a[GROUP].to_numpy().tolist())) | set(
        map(tuple, b[GROUP].to_numpy().tolist()))
    for group in groups:
        ours = set(a.loc[(a[GROUP] == list(group)).all(axis=1), "setting"])
        base = set(b.loc[(b[GROUP] == list(group)).all(axis=1), "setting"])
        present[group] = ours
        chosen = {s: s for s in ours & base}
        if len(ours - base) == 1 and len(base - ours) == 1:
            chosen[next(iter(ours - base))] = next(iter(base - ours))
        pairs[group] = chosen
    a["setting_old"] = [pairs[tuple(g)].get(s) for g, s in
                        zip(a[GROUP].to_numpy().tolist(), a["setting"], strict=True)]
    b = b.rename(columns={"setting": "setting_old"})
    both = a.merge(b, on=[*CELL, "setting_old"], how="outer", suffixes=("_new", "_old"),
                   indicator=True)
    for side, target in (("right_only", result.missing), ("left_only", result.extra)):
        for cell in both.loc[both["_merge"] == side, CELL].sort_values(CELL).to_dict("records"):
            target.append({str(k): (v.item() if hasattr(v, "item") else v)
                           for k, v in cell.items()})
    paired = both[both["_merge"] == "both"]
    for key, rows in paired.groupby([*GROUP, "setting", "setting_old"], sort=True):
        task, model, length, mine, theirs = cast(tuple[str, str, int, str, str], key)
        diffs = (rows["metric_new"] - rows["metric_old"]).to_numpy(dtype=float)
        mean = float(diffs.mean())
        lo, hi = paired_interval(diffs, np.random.default_rng(0))
        if mean < -margin and hi < 0:
            verdict = "worse"
        elif mean > margin and lo > 0:
            verdict = "improved"
        else:
            verdict = "unchanged"
        result.rows.append({"task": task, "model": model, "length": int(length),
                            "seeds": len(diffs), "old": float(rows["metric_old"].mean()),
                            "new": float(rows["metric_new"].mean()), "diff": mean,
                            "ci_low": lo, "ci_high": hi, "verdict": verdict,
                            "setting": label(mine, present[(task, model, length)]),
                            "differs": differences(theirs, mine)})
    return result


def render_text(result: Comparison) -> str:
    """The comparison as a plain-text table, worst news first."""
    lines = [f"{'verdict':<10} {'task':<12} {'model':<14} {'length':>7} {'seeds':>5} "
             f"{'old':>7} {'new':>7} {'diff':>7}  95% CI"]
    for verdict in ("worse", "improved", "unchanged"):
        for r in result.verdicts(verdict):
            note = "".join(f"  {text}" for text in (
                f"[{r['setting']}]" if r["setting"] else "",
                f"(configs differ: {r['differs']})" if r["differs"] else "") if text)
            lines.append(f"{verdict:<10} {printable(r['task']):<12} "
                         f"{printable(r['model']):<14} {r['length']:>7} "
                         f"{r['seeds']:>5} {r['old']:>7.3f} {r['new']:>7.3f} {r['diff']:>+7.3f}"
                         f"  [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]{printable(note)}")
    for name, cells in (("missing", result.missing), ("extra", result.extra)):
        for c in cells:
            lines.append(f"{name:<10} {printable(c['task']):<12} {printable(c['model']):<14} "
                         f"{c['length']:>7} "
                         f"seed {c['seed']}")
    counts = {v: len(result.verdicts(v)) for v in ("worse", "improved", "unchanged")}
    lines.append(f"{counts['worse']} worse, {counts['improved']} improved, "
                 f"{counts['unchanged']} unchanged (margin {result.margin}); "
                 f"{len(result.missing)} missing, {len(result.extra)} extra cells")
    return "\n".join(lines)
