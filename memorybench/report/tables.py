"""Tables of the report: one ``Table`` renders to Markdown here and to HTML in the template.

Cells are plain text; escaping happens at the edge (``markdown`` here, Jinja2 autoescape
in HTML), so a model named ``<script>`` reads as text in both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from tabulate import tabulate

from memorybench.report import gradients
from memorybench.report.facts import clock, elapsed, error_line
from memorybench.report.gradients import LEARNED, PHASES, R2_FLOOR, SOURCES
from memorybench.report.summary import DASH, INTERVAL, Horizon, numbers

# What Markdown (GitHub's included) would read as syntax inside running text or a table
# cell: emphasis, code, links, tables, strike-through, math ($), headings' closing #.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$#])")


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """A GitHub-flavoured Markdown table; every cell escaped, every row as wide."""
        return self.text(escape=md)

    def text(self, escape=str) -> str:
        """The table as a terminal shows it: the Markdown layout, cells as written unless
        ``escape`` changes them."""
        headers = [escape(h) for h in self.headers]
        rows = [[escape(c) for c in row] for row in self.rows]
        return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def md(text) -> str:
    """Text as Markdown shows it literally: HTML characters as entities, Markdown syntax
    backslash-escaped, newlines folded (a table row is one line)."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading (as github-slugger): lower case, characters
    other than letters, digits, '_', '-' and spaces dropped, spaces made hyphens. The
    heading is the text as rendered, i.e. before ``md`` escaping."""
    text = re.sub(r"[^\w\- ]", "", " ".join(str(heading).split()).lower())
    return text.replace(" ", "-")


def number(x: float) -> str:
    """Three significant decimals for scores, scientific for tiny losses."""
    if x is None or x != x:
        return DASH
    if x != 0 and abs(x) < 0.001:
        return f"{x:.1e}"
    return f"{x:.3f}"


def mean_ci(row) -> str:
    """'0.934 [0.913, 0.955]': the mean and its ``summary.INTERVAL`` (cut to the metric's
    range, so it may sit off-centre), '0.934' for one seed."""
    if row["mean"] != row["mean"]:
        return DASH
    text = number(row["mean"])
    if row["lo"] == row["lo"]:
        text += f" [{number(row['lo'])}, {number(row['hi'])}]"
    return text


def _pivot(summary: pd.DataFrame, cell) -> tuple[list[int], list[str], dict]:
    lengths = sorted(summary["length"].unique())
    models = sorted(summary["model"].unique())
    cells = {(r["model"], r["length"]): cell(r) for _, r in summary.iterrows()}
    return lengths, models, cells


def model_by_length(summary: pd.DataFrame, cell, corner: str = "model / length") -> Table:
    """Models down, lengths across; ``cell(row)`` formats one summary row."""
    lengths, models, cells = _pivot(summary, cell)
    rows = [[m] + [cells.get((m, n), "not run") for n in lengths] for m in models]
    return Table([corner] + [str(n) for n in lengths], rows)


def score_cell(row) -> str:
    """'0.706 [0.000, 1.000] (2/3 ✓)': mean and interval, then the seeds that solved the
    length of all its seeds, ✓ where they are a majority: the verdict, which a mean below
    the threshold does not contradict when one seed failed far below it."""
    return f"{mean_ci(row)} ({solved_count(row)})"


def solved_count(row) -> str:
    """'2/3 ✓', '1/3', '2/4 ✓; 3 ok' (a seed diverged or failed: left out of the mean)."""
    text = f"{row['n_solved']}/{row['seeds']}" + (" ✓" if row["solved"] else "")
    return text + (f"; {row['ok']} ok" if row["ok"] < row["seeds"] else "")


def steps_cell(row) -> str:
    if not row["solved"]:
        return DASH
    return f"{int(row['steps_to_solve']):,}" if row["steps_to_solve"] == row["steps_to_solve"] \
        else DASH


def score_table(summary: pd.DataFrame, metric_name: str) -> Table:
    table = model_by_length(summary, score_cell)
    threshold = summary["threshold"].dropna()
    at = f" {number(threshold.iloc[0])}" if len(threshold) else ""
    table.notes = [
        f"Mean {metric_name} over seeds, then in brackets the {INTERVAL} (none for a single "
        "seed; wide with few seeds: t = 4.30 for 3).",
        f"(k/n): k of the n seeds reached the solved threshold{at}; ✓ where k is a majority, "
        "the length is solved. A mean below the threshold can be solved, one seed failing far "
        "below it; '; m ok': only m seeds finished, the others diverged or failed, are left "
        "out of the mean and count as not solved.",
    ]
    return table


def steps_table(summary: pd.DataFrame) -> Table:
    table = model_by_length(summary, steps_cell)
    table.notes = ["Median training steps to first reach the solved threshold, over the seeds "
                   "that reached it; — where the length is not solved."]
    return table


def horizon_table(horizons: dict[tuple[str, str], Horizon], models, tasks) -> Table:
    rows = [[m] + [horizons[m, t].text() if (m, t) in horizons else "not run" for t in tasks]
            for m in models]
    return Table(["model / task"] + list(tasks), rows)


def time_table(frame: pd.DataFrame) -> Table:
    """Training time per model and task, with totals: each cell trains on one core (one
    worker, one torch thread), so its time is also its CPU time. The wall clock of a model
    or a task counts the time any of its cells was training once (cells side by side
    overlap)."""
    seconds = frame.assign(t=np.nan_to_num(numbers(frame["wall_time"])))
    by = seconds.pivot_table(index="model", columns="task", values="t", aggfunc="sum")
    tasks = sorted(by.columns)

    def wall(rows: pd.DataFrame) -> str:
        span = elapsed(rows)
        return clock(span[0]) if span else DASH

    def total(m: str, t: str) -> str:
        seconds = cast(float, by.at[m, t])  # NaN where none of its cells ran
        return clock(seconds) if seconds == seconds else "not run"

    rows = [[m] + [total(m, t) for t in tasks]
            + [clock(by.loc[m].sum()), wall(frame[frame["model"] == m])]
            for m in sorted(by.index)]
    rows.append(["all models"] + [clock(by[t].sum()) for t in tasks]
                + [clock(float(seconds["t"].sum())), wall(frame)])
    rows.append(["wall clock"] + [wall(frame[frame["task"] == t]) for t in tasks]
                + [wall(frame), ""])
    return Table(["model / task"] + tasks + ["all tasks", "wall clock"], rows)


def attractor_table(attr: pd.DataFrame) -> Table:
    """(model, length) down, number of attractors across: mean accuracy over seeds, and
    the held-out examples behind it (summed over seeds) where the task stored them."""
    counts = sorted(attr["attractors"].unique())
    grouped = attr.groupby(["model", "length", "attractors"])
    means = grouped["accuracy"].mean()
    examples = grouped["examples"].sum(min_count=1)  # NaN unless some seed stored a count
    known = attr["examples"].notna()
    rows = []
    for model, length in sorted({(m, n) for m, n, _ in means.index}):
        row = [model, str(length)]
        for k in counts:
            text = number(means.get((model, length, k), math.nan))
            n = examples.get((model, length, k), math.nan)
            if text != DASH and n == n:
                text += f" (n={int(n):,})"
            row.append(text)
        rows.append(row)
    note = "Mean accuracy over seeds, by the number of attractors (intervening nouns whose " \
           "number differs from the subject's)"
    if known.all():
        note += "; n: held-out examples with that many attractors, summed over seeds."
    elif known.any():
        note += "; n: held-out examples with that many attractors, summed over the seeds " \
                "that stored it (not every result stored the count)."
    else:
        note += ". The number of examples behind each bucket was not stored with these " \
                "results: a bucket with few examples (many attractors) is a noisy estimate."
    return Table(["model", "length"] + [f"{k} attr." for k in counts], rows, [note])


def forecast_table(score: pd.DataFrame, r2: pd.DataFrame, metric_name: str) -> Table:
    """(model, length) down; the task's metric and R² side by side, both mean ± CI."""
    r2 = r2.set_index(["model", "length"])
    rows = []
    for _, row in score.iterrows():
        other = r2.loc[(row["model"], row["length"])]
        rows.append([row["model"], str(row["length"]), mean_ci(row), mean_ci(other)])
    return Table(["model", "length", metric_name, "R²"], rows,
                 [f"Both mean over seeds, then in brackets the {INTERVAL} (none for a "
                  "single seed; R² is at most 1). R² = 1 - MSE / variance of the target: 0 is "
                  "no better than predicting the mean."])


def _factor(rho) -> str:
    """'0.9621 (halves in 18 steps)': the factor, and the steps for the norm to halve."""
    if rho is None or rho != rho:
        return DASH
    if not 0 < rho < 1:
        return f"{rho:.4f}"
    steps = math.log(0.5) / math.log(rho)
    return f"{rho:.4f} (halves in {steps:,.0f} steps)" if steps >= 10 else \
        f"{rho:.4f} (halves in {steps:.1f} steps)"


def _mean(values) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def factor_table(group: pd.DataFrame) -> Table:
    """Diagnostics: per line, the fitted per-step factor at initialization and trained,
    beside the trained metric, chance and the learning state."""
    rows, first = [], group["result"].iloc[0]
    budget = int(group["steps"].iloc[0])
    chance, solved = first.get("chance"), first.get("solved_threshold")
    for label, _, _, g in gradients.lines(group):
        res = list(g["result"])
        factors = {p: _mean([r[p]["gradient"]["factor"] for r in res]) for p, _ in PHASES}
        metric = float(np.mean([r["trained"]["metric"] for r in res]))
        steps = float(np.mean([r["trained"].get("steps", budget) for r in res]))
        rows.append([label, str(len(res)), _factor(factors["init"]),
                     _factor(factors["trained"]), f"{steps:,.0f}", number(metric),
                     DASH if chance is None else number(chance),
                     gradients.learning_state(metric, chance, solved)])
    name = first["metric_name"]
    notes = [f"Per-step factor ρ: the gradient norm falls (ρ < 1) or grows (ρ > 1) by ρ per "
             "step back, from a least-squares line through log ‖dLoss/dh_t‖ against distance "
             f"(mean over seeds; {SOURCES}); in brackets, the steps for the norm to halve, "
             "ln 0.5 / ln ρ.",
             f"Steps trained: the cell's own protocol for at most {budget:,} steps, stopping "
             f"early once solved; {name} trained: held out, after those steps (mean over "
             "seeds); chance: the memoryless level."
             + ("" if solved is None else
                f" State: solved at {number(solved)} or above; 'at chance' when less than "
                f"{LEARNED:.0%} of the way from chance to solved: such a model has not learned "
                "the task, and its 'trained' factor is that of a barely trained network "
                "(train longer with --steps, or diagnose a shorter --length).")]
    return Table(["model", "seeds", "factor at init", "factor trained", "steps trained",
                  f"{name} trained", "chance", "state"], rows, notes)


def probe_table(group: pd.DataFrame) -> Table:
    """Diagnostics: per line, the trained probe's R² at each probed distance."""
    distances = group["result"].iloc[0]["probe_distances"]
    rows = [[label] + [number(v) for v in gradients.probe_means(g, "trained")]
            for label, _, _, g in gradients.lines(group)]
    return Table(["model / distance"] + [str(d) for d in distances], rows,
                 ["Held-out R² of a linear read-out (ridge, penalty chosen by cross-validation"
                  ") of the task-relevant input at each distance from the last step, read "
                  "from the final state after training, mean over seeds. For adding: the "
                  "marked value, its marker placed at that distance; for other tasks: the "
                  "input at that step, probed only where inputs vary (copy: its symbols, T+10 "
                  "to T+19 steps back; — where a target did not vary). 0: no "
                  "better than predicting the mean; below 0: worse (the figure marks values "
                  f"below {R2_FLOOR} on its lower edge)."])


def problem_table(frame: pd.DataFrame) -> Table:
    """Diagnostics that failed, as the report lists cells that failed."""
    rows = []
    r: Any  # a row of itertuples: pandas types each field as any scalar
    for r in frame[frame["status"].isin(["failed", "diverged"])].itertuples():
        rows.append([r.task, str(r.length), str(r.steps), r.settings, r.model, str(r.seed),
                     error_line(r.error)])
    return Table(["task", "length", "steps", "settings", "model", "seed", "error"], rows)
