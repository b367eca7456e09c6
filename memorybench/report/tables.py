"""Tables of the report: one ``Table`` renders to Markdown here and to HTML in the template.

Cells are plain text; escaping happens at the edge (``markdown`` here, Jinja2 autoescape
in HTML), so a model named ``<script>`` reads as text in both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd
from tabulate import tabulate

from memorybench.report.summary import Horizon

DASH = "—"
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
        headers = [md(h) for h in self.headers]
        rows = [[md(c) for c in row] for row in self.rows]
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
    """'0.934 ± 0.021' (half the 95% bootstrap interval), '0.934' for one seed."""
    if row["mean"] != row["mean"]:
        return DASH
    text = number(row["mean"])
    if row["lo"] == row["lo"]:
        text += f" ± {(row['hi'] - row['lo']) / 2:.3f}"
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
    text = mean_ci(row)
    if row["ok"] < row["seeds"]:
        text += f" (n={row['ok']}/{row['seeds']})"
    return text + (" ✓" if row["solved"] else "")


def steps_cell(row) -> str:
    if not row["solved"]:
        return DASH
    return f"{int(row['steps_to_solve']):,}" if row["steps_to_solve"] == row["steps_to_solve"] \
        else DASH


def score_table(summary: pd.DataFrame, metric_name: str) -> Table:
    table = model_by_length(summary, score_cell)
    threshold = summary["threshold"].dropna()
    table.notes = [
        f"Mean {metric_name} over seeds ± half the 95% bootstrap interval (no interval for a "
        "single seed); (n=ok/all) when some seeds diverged or failed and are left out of the "
        "mean.",
        "✓ marks lengths solved by a majority of seeds"
        + (f" (threshold {number(threshold.iloc[0])})." if len(threshold) else "."),
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
                 ["Both mean over seeds ± half the 95% bootstrap interval. R² = 1 - MSE / "
                  "variance of the target: 0 is no better than predicting the mean."])
