"""One model, one code: a store may hold cells of several versions of a model (an edited
model file, a built-in whose version was bumped); the report shows each model's newest."""

from __future__ import annotations

import pandas as pd


def newest_versions(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Each model's cells of its newest code only, and a line per model whose earlier cells
    are left out: cells of two versions of a model (an edited model file, a bumped
    built-in) are not seeds of one model. Newest: the highest version number, or for a
    fingerprint the one whose cells finished last."""
    version = frame["config"].map(lambda c: str(c.get("model_version")))
    keep, notes = pd.Series(True, index=frame.index), []
    for model, rows in frame.groupby("model"):
        versions = version[rows.index]
        if versions.nunique() < 2:
            continue
        last = rows.groupby(versions)["finished_at"].max().fillna("")
        newest = (max(last.index, key=int) if all(v.isdigit() for v in last.index)
                  else last.sort_values().index[-1])
        keep[rows.index] = versions == newest
        old = int((versions != newest).sum())
        notes.append(f"{model}: {old} cell{'s' * (old > 1)} of earlier versions left out "
                     f"(version {newest} shown)")
    return frame[keep].reset_index(drop=True), notes
