"""The report's two pages, ``index.html`` (figures inlined) and ``README.md`` (figures beside
it in ``figures/``), from a results store; see the package docstring.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pandas as pd

from memorybench.errors import UserError
from memorybench.report import (
    changes,
    claims,
    diagnostics,
    facts,
    figures,
    kinds,
    latest,
    references,
    search_rows,
    sizes,
    summary,
    tables,
)
from memorybench.report.output import FIGURES, add_figure, check_out, render, write_atomically
from memorybench.report.search_rows import at_chosen_rates
from memorybench.report.searches import results as search_results
from memorybench.report.searches import section as search_section
from memorybench.store import results

FORMATS = ("html", "md")
DEFAULT_OUT = Path("reports") / "latest"


def parse_formats(text: str | None) -> tuple[str, ...]:
    """'html,md' -> ('html', 'md'); an unknown name is a one-line error."""
    if text is None:
        return FORMATS
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    for name in chosen:
        if name not in FORMATS:
            raise UserError(f"--format {name!r} is not a report format; expected a comma list "
                            "of html, md (e.g. --format html,md)")
    if not chosen:
        raise UserError("--format is empty; expected a comma list of html, md")
    return tuple(dict.fromkeys(chosen))


def _searches_of(path: Path, protocols: dict | None) -> list[dict]:
    return search_results(search_rows.searched(summary.normalise(results.load(path))),
                          protocols)


def _changes(previous: tuple[Path, dict | None, str], found: list[dict]) -> dict:
    """The "since" section: the earlier run's searches against this report's."""
    path, protocols, label = previous
    return {"label": label, "source": path.name,
            "table": changes.changes_table(_searches_of(path, protocols), found, label)}


def _sizes(other: tuple[Path, dict | None, str], found: list[dict]) -> dict:
    """The "size" section: this report's searches against the same at another budget."""
    path, protocols, label = other
    return {"label": label, "source": path.name,
            "table": sizes.sizes_table(found, _searches_of(path, protocols))}


def render_report(db: str | Path, out: str | Path = DEFAULT_OUT, tasks=(), models=(),
                  formats=FORMATS, protocols: dict | None = None,
                  previous: tuple[Path, dict | None, str] | None = None,
                  sizes: tuple[Path, dict | None, str] | None = None) -> list[Path]:
    """Write the report of store ``db`` into folder ``out``; returns the files written.
    Each horizon search is read by the protocol its cells recorded (its ladder, caps and
    budget); ``protocols``, (task, model) -> protocol (``horizon.plan.suite_protocols``),
    overrides that, and reads results that recorded none. ``previous``, (results,
    protocols, label) of an earlier run of the same searches, adds a section listing every
    horizon that moved since it (``changes``); ``sizes``, the same of a run of the same
    searches at another parameter budget, a section of horizon against size (``sizes``)."""
    db, out = Path(db), Path(out)
    check_out(out)
    if not db.exists():
        raise UserError(f"--db {db}: no such database; run `memorybench run` first or pass "
                        "--db PATH")
    raw = results.load(db)  # a store, or an exported file such as committed results
    diag = diagnostics.load(db, tasks, models)
    files: dict[str, Any]
    context: dict[str, Any]
    if raw.empty and not diag.empty:  # a store of diagnostics only
        frame = None
        styles = figures.style(sorted(diag["model"].unique()))
        files, context = {}, {"cells": False, "store": db.name, "changes": None,
                              "sizes": None}
    else:
        frame, superseded = latest.newest_versions(
            summary.select(summary.normalise(raw), tuple(tasks), tuple(models)))
        # One colour per model across every figure, the diagnostics' included.
        styles = figures.style(sorted(set(frame["model"]) | set(diag.get("model", []))),
                               summary.baseline_models(frame))
        files, context = _build(frame, styles, store_name=db.name, tasks=tasks, models=models,
                                protocols=protocols)
        context["superseded"] = superseded
        found = context["found"]
        context["changes"] = _changes(previous, found) if previous and found else None
        context["sizes"] = _sizes(sizes, found) if sizes and found else None
    diag_files, context["gradient"] = diagnostics.build(diag, styles)
    files.update(diag_files)
    context["diagnostic_facts"] = facts.stored_facts(diag) if not diag.empty else None
    if frame is None:
        context["versions"] = _versions_table(context["diagnostic_facts"]["versions"])
    context["plotting"] = ", ".join(f"{k} {v}" for k, v in figures.plotting_versions().items())
    if "html" in formats:
        files["index.html"] = render("report.html.j2", context)
    if "md" in formats:
        files["README.md"] = render("report.md.j2", context)
    write_atomically(out, files)
    return [out / name for name in sorted(files)]


def _slug(name: str) -> str:
    """A file and anchor name for any task name: readable, and unique by a short hash when
    the name had to change."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if slug != name:
        slug = f"{slug or 'task'}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"
    return slug


def _versions_table(versions: dict[str, str]) -> tables.Table:
    return tables.Table(["package", "version"], [[k, v] for k, v in versions.items()])


def _build(frame: pd.DataFrame, styles: dict, store_name: str, tasks,
           models, protocols: dict | None = None) -> tuple[dict, dict]:
    """Every figure (bytes) and the template context, from normalised store rows."""
    files: dict[str, bytes] = {}
    all_models = sorted(frame["model"].unique())
    all_tasks = sorted(frame["task"].unique())
    found = search_results(frame, protocols)
    ran = frame  # the run facts count every cell trained, the grid's losing rates too
    # Scores by length read a searched cell only at the rate its rung chose
    frame = at_chosen_rates(frame) if found else frame
    scores = summary.by_length(frame)
    context_refs = references.compare(frame)
    published = {r["model"]: r["values"] for r in references.load()
                 if "values" in r and "by_attractors" == r["ours"]}
    horizon = _sweep_horizon(files, scores, frame, bool(found))

    sections = []
    for task in all_tasks:
        rows = frame[frame["task"] == task]
        task_scores = scores[scores["task"] == task]
        names = sorted({n for n in rows["metric_name"] if n})
        metric_name = " / ".join(names) or "metric"
        slug = _slug(task)
        section = {
            "name": task, "anchor": f"task-{slug}", "md_anchor": tables.anchor(f"Task {task}"),
            "metric_name": metric_name,
            "lengths": ", ".join(str(n) for n in sorted(rows["length"].unique())),
            "models": ", ".join(sorted(rows["model"].unique())),
            "seeds": ", ".join(str(s) for s in sorted(rows["seed"].unique())),
            "figure": add_figure(files, FIGURES, f"{slug}-score",
                                 figures.score_figure(task_scores, styles, task, metric_name),
                                 f"{metric_name} against sequence length for task {task}"),
            "scores": tables.score_table(task_scores, metric_name),
            "steps": tables.steps_table(task_scores),
            "attractors": None, "forecast": None,
        }
        attr = summary.attractor_frame(rows)
        if not attr.empty:
            refs = [(f"{m}, Yogatama et al. 2018 (natural text)", v)
                    for m, v in sorted(published.items())]
            section["attractors"] = {
                "table": tables.attractor_table(attr),
                "figure": add_figure(files, FIGURES, f"{slug}-attractors",
                                     figures.attractor_figure(attr, styles, task, refs),
                                     f"accuracy by number of attractors for task {task}"),
            }
        r2 = summary.extra(rows, "r2")
        if r2.notna().any():
            r2_scores = summary.by_length(rows, r2)
            section["forecast"] = {
                "table": tables.forecast_table(task_scores, r2_scores, metric_name),
                "figure": add_figure(files, FIGURES, f"{slug}-r2",
                                     figures.r2_figure(r2_scores, styles, task),
                                     f"R² against sequence length for task {task}"),
            }
        sections.append(section)

    search = search_section(found, files, add_figure, FIGURES, styles) if found \
        else None
    if search:
        search["kinds"] = [kinds.kinds_table(found, "task", notes=False),
                           kinds.kinds_table(found, "model")]

    run = facts.run_facts(ran)
    params = tables.Table(["model / task"] + all_tasks,
                          [[m] + [run["params"].get((m, t), "not run") for t in all_tasks]
                           for m in all_models])
    bad = tables.Table(["task", "model", "length", "seed", "status", "detail"],
                       [[b["task"], b["model"], str(b["length"]), str(b["seed"]), b["status"],
                         b["detail"]] for b in run["bad"]])
    context = {
        "cells": True, "store": store_name,
        "filters": {"tasks": ", ".join(tasks) or "all", "models": ", ".join(models) or "all"},
        "horizon": horizon, "search": search, "found": found, "interval": summary.INTERVAL,
        "claims": _claims(ran, scores, found),
        "sections": sections,
        "matched": context_refs[0], "context_refs": context_refs[1],
        "facts": run, "params": params, "bad": bad, "times": tables.time_table(ran),
        "versions": _versions_table(run["versions"]),
    }
    return files, context


def _sweep_horizon(files: dict, scores: pd.DataFrame, frame: pd.DataFrame,
                   searched: bool) -> dict | None:
    """The "Memory horizon" section of a length sweep (``run``): its heatmap and table. A
    horizon search's cells are left out of it, their horizons are the "Horizon search"
    section's, in its notation; a report of searches alone has no such section (None)."""
    if searched:
        frame = frame[~frame["key"].isin(set(search_rows.searched(frame)["key"]))]
        if frame.empty:
            return None
        scores = summary.by_length(frame)
    horizons = summary.horizons(scores)
    all_models, all_tasks = sorted(frame["model"].unique()), sorted(frame["task"].unique())
    share = pd.DataFrame(float("nan"), index=all_models, columns=all_tasks)
    text = pd.DataFrame("not run", index=all_models, columns=all_tasks)
    for (model, task), h in horizons.items():
        share.loc[model, task] = h.share
        text.loc[model, task] = h.text()
    return {
        "rule": summary.HORIZON_RULE,
        "table": tables.horizon_table(horizons, all_models, all_tasks),
        "figure": add_figure(files, FIGURES, "horizon", figures.horizon_figure(share, text),
                             "Heatmap of the memory horizon of each model on each task"),
    }


def _claims(frame: pd.DataFrame, scores: pd.DataFrame, found: list[dict]):
    """The claims table; a length-sweep claim reads searched cells only at the learning
    rate each rung chose (the grid's other rates are not the model's result there)."""
    if not found:
        return claims.evaluate(frame, scores)
    chosen = at_chosen_rates(frame)
    return claims.evaluate(chosen, summary.by_length(chosen), found)
