"""The "Gradient flow" part of a report, from the diagnostics stored by ``memorybench diagnose``.

Per (task, length, training budget, settings the user changed with ``--set``): the gradient
norm ||dLoss/dh_t|| against the distance from the last step on a log scale, at
initialization and after training; the fitted per-step factor of each model beside its
trained metric and the task's chance level; and the memory probe's R² against distance.
Diagnostics whose configs differ in anything but the seed are never averaged together.
Failed diagnostics and models without a per-step state are listed. The numbers come from
``gradients``, the figures from ``figures``, the tables from ``tables``; the files go to
``diagnostics/`` of a report folder, written the same by ``diagnose`` and by ``report``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import cast

import pandas as pd

from memorybench.report import figures, gradients, summary, tables
from memorybench.report.gradients import learning_state, load
from memorybench.report.output import DIAGNOSTICS as FOLDER
from memorybench.report.output import add_figure, check_out, render, write_atomically
from memorybench.store import results

__all__ = ["FOLDER", "build", "learning_state", "load", "report_styles", "write"]
CSV_COLUMNS = ["task", "length", "steps", "settings", "model", "variant", "seed",
               "factor_init", "factor_trained", "steps_trained", "metric_name",
               "metric_trained", "chance"]


def build(frame: pd.DataFrame, styles: dict | None = None) -> tuple[dict[str, bytes],
                                                                     dict | None]:
    """The figures and ``diagnostics/README.md`` and ``factors.csv`` (files) and the report's
    template context (None without diagnostics). ``styles``: the report's colour of each
    model (``figures.style``), so a model looks the same in every figure."""
    if frame.empty:
        return {}, None
    files: dict[str, bytes] = {}
    styles = styles or figures.style(sorted(frame["model"].unique()))
    ok = frame[frame["status"] == "ok"]
    groups, csv_rows = [], []
    for key, group in ok.groupby(["task", "length", "steps", "settings"], sort=True):
        task, length, steps, settings = cast(tuple[str, int, int, str], key)  # pandas: Hashable
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{task}-T{length}-steps{steps}")
        if re.sub(r"[^A-Za-z0-9]+", "-", task) != task:  # names that slug alike stay apart
            slug += "-" + hashlib.sha1(task.encode()).hexdigest()[:6]
        if settings != "spec settings":
            slug += "-" + hashlib.sha1(settings.encode()).hexdigest()[:6]
        n = gradients.sequence_steps(group)
        base = (f"{task}, T={length}" + (f" ({n} steps per sequence)" if n != length else "")
                + f", at most {steps} training steps")
        title = f"{base}, {settings}"
        labels = gradients.line_labels(group)
        groups.append({
            "title": title, "anchor": f"diagnostics-{slug}",
            "models": ", ".join(labels[v] for v in sorted(labels, key=lambda v: labels[v])),
            "seeds": ", ".join(str(s) for s in sorted(group["seed"].unique())),
            "flow": add_figure(files, FOLDER, f"{slug}-gradient-flow",
                               figures.flow_figure(group, styles,
                                                   f"{base}: gradient reaching h_t\n{settings}"),
                               f"Gradient norm against distance from the last step, {title}"),
            "factors": tables.factor_table(group),
            "probe": add_figure(files, FOLDER, f"{slug}-memory-probe",
                                figures.probe_figure(group, styles,
                                                     f"{base}: memory probe\n{settings}"),
                                f"Memory probe R² against distance, {title}"),
            "probe_table": tables.probe_table(group),
        })
        csv_rows += [_csv_row(row, settings) for _, row in group.iterrows()]
    skipped = sorted(frame.loc[frame["status"] == gradients.NOT_APPLICABLE, "model"].unique())
    context = {"groups": groups, "sources": gradients.SOURCES,
               "failed": tables.problem_table(frame), "not_applicable": ", ".join(skipped),
               "not_applicable_text": gradients.NOT_APPLICABLE_TEXT}
    files[f"{FOLDER}/factors.csv"] = pd.DataFrame(
        csv_rows, columns=CSV_COLUMNS).to_csv(index=False).encode()
    files[f"{FOLDER}/README.md"] = render("diagnostics.md.j2", context)
    return files, context


def _csv_row(row: pd.Series, settings: str) -> dict:
    """One diagnostic (one seed) as a row of ``factors.csv``."""
    res = row["result"]
    return {"task": row["task"], "length": row["length"], "steps": row["steps"],
            "settings": settings, "model": row["model"], "variant": row["variant"],
            "seed": row["seed"], "factor_init": res["init"]["gradient"]["factor"],
            "factor_trained": res["trained"]["gradient"]["factor"],
            "steps_trained": res["trained"].get("steps"), "metric_name": res["metric_name"],
            "metric_trained": res["trained"]["metric"], "chance": res.get("chance")}


def report_styles(db: str | Path, frame: pd.DataFrame) -> dict:
    """The colours ``memorybench report`` gives the models of store ``db`` (all of its
    cells and diagnostics), so diagnostics written on their own match the report's."""
    cells = summary.normalise(results.load(db)) if Path(db).exists() else pd.DataFrame()
    models = set(frame["model"]) if len(frame) else set()
    if len(cells):
        models |= set(cells["model"])
    return figures.style(sorted(models), summary.baseline_models(cells))


def write(db: str | Path, out: str | Path) -> list[Path]:
    """Write the diagnostics of store ``db`` into ``out/diagnostics/`` (replacing it whole,
    leaving the rest of a report folder as it is); returns the files written."""
    out = Path(out)
    check_out(out)
    frame = load(db)
    files, _ = build(frame, report_styles(db, frame))
    write_atomically(out / FOLDER, {Path(rel).name: data for rel, data in files.items()})
    return [out / rel for rel in sorted(files)]
