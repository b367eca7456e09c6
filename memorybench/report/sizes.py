"""Horizon against model size: the same searches at a second parameter budget, side by
side with the report's, and whether a horizon grows with size, read off the lengths both
trained: a length one size solved and the other failed, a failure the budget did not cut."""

from __future__ import annotations

from memorybench.report import tables
from memorybench.report.kinds import kind
from memorybench.report.searches import marked, name

GROWS, SHRINKS, SAME, OPEN = "grows", "shrinks", "no length separates them", "not measured"


def separated(small: dict, large: dict) -> tuple[str, str]:
    """(verdict, evidence) for one (task, model) at two sizes: ``GROWS`` where the larger
    network solved a length the smaller failed (and never the other way round), ``SHRINKS``
    the other way, ``SAME`` where no length both trained tells them apart; ``OPEN`` where
    the only separating failure was still learning when its budget ran out."""
    up: list[int] = []
    down: list[int] = []
    cut: list[int] = []
    for n in sorted(set(small["rungs"]) & set(large["rungs"])):
        a, b = small["rungs"][n], large["rungs"][n]
        if a.passed == b.passed:
            continue
        failed = a if b.passed else b
        if failed.budget_bound:
            cut.append(n)
        else:
            (up if b.passed else down).append(n)
    if up and not down:
        return GROWS, f"solves T={up[0]}, which the smaller failed"
    if down and not up:
        return SHRINKS, f"fails T={down[0]}, which the smaller solved"
    if up and down:
        return SAME, f"solves T={up[0]} the smaller failed, fails T={down[0]} it solved"
    if cut:
        return OPEN, f"at T={cut[0]} one size failed still learning"
    return SAME, "every length both trained has one verdict"


def sizes_table(small: list[dict], large: list[dict]) -> tables.Table:
    """One row per (task, model) searched at both sizes: each horizon with its kind and
    parameter count, and whether it grows (``separated``); a note counts each verdict.
    Baselines are fitted, not sized, and are left out."""
    big = {(s["task"], name(s)): s for s in large}
    rows: list[list[str]] = []
    counts: dict[str, int] = {}
    for s in sorted(small, key=lambda s: (s["task"], name(s))):
        other = big.get((s["task"], name(s)))
        if other is None or s["baseline"]:
            continue
        verdict, evidence = separated(s, other)
        counts[verdict] = counts.get(verdict, 0) + 1
        rows.append([s["task"], name(s), f"{marked(s)} ({kind(s)})", s["params"],
                     f"{marked(other)} ({kind(other)})", other["params"], verdict, evidence])
    notes = ["; ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + "."] if rows else []
    return tables.Table(["task", "model", "horizon", "params", "horizon, larger", "params",
                         "with size", "evidence"], rows, notes=notes)
