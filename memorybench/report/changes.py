"""What changed since an earlier leaderboard: every (task, model) whose horizon reads
otherwise, from what to what, and why, read off both runs' cells: the kind of horizon
each is (``kinds``), and the first length one run solved and the other failed, with the
seeds, rate and steps behind each."""

from __future__ import annotations

from memorybench.horizon import text
from memorybench.report import tables
from memorybench.report.kinds import kind
from memorybench.report.searches import marked, name

WHY = {
    "not learned": "fails the control T={control} ({failures}), which the earlier protocol "
                   "did not train: its horizon was no memory limit",
    "from budget": "the earlier failure was still learning when its budget ran out",
    "to budget": "still learning at the new protocol's longest budget: a lower bound",
    "open": "the search has not closed: it solved every length trained so far",
    "checking": "the search has not closed: its failure at T={length} is still being checked",
}


def _steps(r) -> str:
    return f", {r.budget:,} steps" if r.budget else ""


def _rung(r) -> str:
    """'solves (3/3, lr 0.01, 8,000 steps)' or 'fails (1/3 solve, ...)'."""
    verb = "solves" if r.passed else "fails"
    return f"{verb} ({r.n_solved}/{len(r.seeds)} solve, lr {r.lr:g}{_steps(r)})"


def first_difference(before: dict, now: dict) -> str:
    """The shortest length both runs trained where one solved and the other failed, as
    'T=8: earlier fails (0/3 solve, lr 0.01, 1,000 steps), now solves (...)'; '' where
    they agree at every length both trained."""
    for n in sorted(set(before["rungs"]) & set(now["rungs"])):
        a, b = before["rungs"][n], now["rungs"][n]
        if a.passed != b.passed:
            return f"T={n}: earlier {_rung(a)}, now {_rung(b)}"
    return ""


def why(before: dict, now: dict) -> str:
    """Why a horizon moved, from the two searches."""
    parts = []
    old, new = kind(before), kind(now)
    if new == "not learned" and now.get("control") is not None:
        control = now["rungs"][now["control"]]
        parts.append(WHY["not learned"].format(control=now["control"],
                                               failures=text.failures(control)))
    if old == "budget" and new != "budget":
        parts.append(WHY["from budget"])
    if new == "budget":
        parts.append(WHY["to budget"])
    if new == "open":
        waits = now.get("pending")
        parts.append(WHY["checking"].format(length=waits) if waits is not None
                     else WHY["open"])
    changed = settings_changed(before, now)
    if changed:
        parts.append(f"searched at another setting ({changed}): another task at each length")
    difference = first_difference(before, now)
    if difference:
        parts.append(difference)
    elif not parts:
        parts.append("the same verdict at every length both trained; the new ladder or its "
                     "refinement reads it otherwise")
    return "; ".join(parts)


def settings_changed(before: dict, now: dict) -> str:
    """The task parameters and base training steps that differ between the two searches,
    as 'pairs 2 → 4, keys 8 → 16, steps 1,500 → 3,000'; '' where none does (the solved
    threshold is the verdict's, not the task's, and is left out)."""
    a, b = before.get("task_params") or {}, now.get("task_params") or {}
    out = [f"{k} {a.get(k, '—')} → {b.get(k, '—')}" for k in sorted(set(a) | set(b))
           if k != "solved" and a.get(k) != b.get(k)]
    if before.get("steps") and now.get("steps") and before["steps"] != now["steps"]:
        out.append(f"steps {before['steps']:,} → {now['steps']:,}")
    return ", ".join(out)


def changes_table(before: list[dict], now: list[dict], label: str) -> tables.Table:
    """One row per (task, model) searched in both whose horizon reads otherwise now
    (``marked``), and a note counting those that did not move and those searched in one run
    only. ``label`` names the earlier run ('v2')."""
    old = {(s["task"], name(s)): s for s in before}
    new = {(s["task"], name(s)): s for s in now}
    both = sorted(set(old) & set(new))
    rows, same = [], 0
    for key in both:
        a, b = old[key], new[key]
        if marked(a) == marked(b):
            same += 1
            continue
        rows.append([key[0], key[1], marked(a), marked(b), f"{kind(a)} → {kind(b)}",
                     why(a, b)])
    notes = [f"{len(rows)} of the {len(both)} (task, model) pairs searched in both runs read "
             f"otherwise than in {label}; {same} read the same."]
    only = sorted(set(old) ^ set(new))
    if only:
        notes.append(f"{len(only)} searched in one run only: " + ", ".join(
            f"{t} × {m}" for t, m in only[:8]) + (", ..." if len(only) > 8 else "") + ".")
    return tables.Table(["task", "model", label, "now", "kind", "why"], rows, notes=notes)
