"""What each horizon is: a measured limit, or which bound it is, and how many of each per
task and per model, so a reader sees at a glance how much of the score table is memory
and how much is budget, caps or a task a model never learned."""

from __future__ import annotations

from memorybench.report import tables
from memorybench.report.searches import budget_bound, name

# (kind, how the horizon column writes it, what it means), in the order the tables list them
KINDS = (
    ("converged", "[a, b)", "a measured limit: solved at a, failed at b on a curve that had "
     "stopped climbing"),
    ("first rung", "< s", "failed the ladder's first length, in a search without a control "
     "to tell a limit from a task not learned: scored 0"),
    ("capped", "≥ cap (capped)", "solved every length up to the task's cap, the literature's "
     "longest: scored in full, a lower bound all the same"),
    ("budget", "≥ a (budget), ↗", "failed a length still learning at its last budget: a "
     "lower bound the training ceiling cut, not scored"),
    ("censored", "≥ a (censored)", "solved up to a cap set below the task's for cost: a lower "
     "bound, not scored"),
    ("not learned", "not learned", "failed the task's control, the shortest memory distance: "
     "no horizon to read, not scored"),
    ("open", "≥ a (open)", "solved every length trained so far, short of the cap: the search "
     "has not closed, not scored"),
)
NAMES = tuple(k for k, _, _ in KINDS)


def kind(s: dict) -> str:
    """One search's kind of horizon (``KINDS``)."""
    if s.get("not_learned"):
        return "not learned"
    if s.get("open"):
        return "open"
    if s.get("censored"):
        return "censored"
    if budget_bound(s):
        return "budget"
    if s["state"].hi is None:
        return "capped"
    return "first rung" if s["state"].lo is None else "converged"


def counts(found: list[dict], by: str) -> dict[str, dict[str, int]]:
    """Task (``by="task"``) or model -> kind -> how many of the networks' searches."""
    out: dict[str, dict[str, int]] = {}
    for s in found:
        if s["baseline"]:
            continue
        key = s["task"] if by == "task" else name(s)
        row = out.setdefault(key, dict.fromkeys(NAMES, 0))
        row[kind(s)] += 1
    return out


def kinds_table(found: list[dict], by: str, notes: bool = True) -> tables.Table:
    """The count of each kind of horizon per task or per model, with a total row; only the
    kinds that occur are columns. Baselines are fitted, not trained, and are left out."""
    rows = counts(found, by)
    total = {k: sum(r[k] for r in rows.values()) for k in NAMES}
    shown = [k for k in NAMES if total[k]] or ["converged"]
    headers = [by] + [mark for k, mark, _ in KINDS if k in shown] + ["scored"]

    def line(label: str, row: dict[str, int]) -> list[str]:
        n = sum(row.values())
        return [label] + [str(row[k]) for k in shown] + [
            f"{row['converged'] + row['first rung'] + row['capped']} of {n}"]

    body = [line(key, rows[key]) for key in sorted(rows)] + [line("all", total)]
    said = [f"{mark}: {k}, {meaning}." for k, mark, meaning in KINDS if k in shown]
    return tables.Table(headers, body, notes=said if notes else [])
