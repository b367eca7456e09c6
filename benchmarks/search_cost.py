"""Where a horizon search's training time goes: each searched cell by the role it played,
so a protocol's cost can be weighed part by part (the control, the ladder, a failing rung's
rest of the grid, the rates past its edge, its longer budgets).

    python -m benchmarks.search_cost                      # results/standard.jsonl
    python -m benchmarks.search_cost results/standard.db --by task

A cell's role, from its config and the protocol its search recorded (``metrics["search"]``):
``longer budget`` (steps past the search's base budget: a failing rung's seeds continued,
the control's included), ``past the edge`` (a rate outside the grid), ``control`` (the
search's control length, at the grid's rates and base budget),
``rest of the grid`` (a rate of the grid other than the one the first rung chose, at a
later length), ``ladder`` (every other: the rungs and refinements at the held rate, and
the first rung's grid). Cells that recorded no protocol are counted as ``unrecorded``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from memorybench.report import summary
from memorybench.report.search_rows import each_search, rungs_of
from memorybench.store import results

ROLES = ("control", "ladder", "rest of the grid", "past the edge", "longer budget",
         "unrecorded")


def role(row, first: int | None, held: float | None) -> str:
    """The part of the protocol a stored row of a search was trained for; ``first``, its
    search's first rung after the control, and ``held``, the rate that rung chose."""
    metrics, train = row.metrics or {}, row.config.get("train") or {}
    search = metrics.get("search") or {}
    if not search:
        return "unrecorded"
    if int(train.get("steps") or 0) > int(search.get("steps") or 0):
        return "longer budget"
    lr = float(train.get("lr") or 0)
    if not any(abs(lr - g) < 1e-12 for g in search.get("lrs") or [lr]):
        return "past the edge"
    if metrics.get("control"):
        return "control"
    if held is not None and row.length != first and lr != held:
        return "rest of the grid"
    return "ladder"


def breakdown(frame, by: str | None = None) -> dict:
    """(group, role) -> [cells, seconds]; group is the task or model with ``by``, else all."""
    out: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for _, _, g in each_search(summary.normalise(frame)):
        if g["config"].iloc[0].get("model_kind") != "network":
            continue
        rows = list(g.itertuples())
        rungs = rungs_of(g)
        lengths = sorted({r.length for r in rows if not (r.metrics or {}).get("control")})
        first = lengths[0] if lengths else None
        held = rungs[first].lr if first is not None else None
        for r in rows:
            cell = out[(getattr(r, by) if by else "all", role(r, first, held))]
            cell[0] += 1
            cell[1] += float(r.wall_time or 0)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results/standard.jsonl")
    parser.add_argument("--by", choices=("task", "model"), help="one row per task or model")
    args = parser.parse_args(argv)
    counts = breakdown(results.load(args.results), args.by)
    if not counts:
        raise SystemExit(f"{args.results}: no network's searched cells; nothing to count")
    total = sum(s for _, s in counts.values())
    print(f"{sum(n for n, _ in counts.values()):,} cells, {total / 3600:.2f} CPU-hours of "
          f"training, in {args.results}\n")
    groups = sorted({g for g, _ in counts})
    print(f"| {args.by or 'cells'} | " + " | ".join(ROLES) + " |")
    print("|---" * (len(ROLES) + 1) + "|")
    for g in groups:
        cells = [counts.get((g, r)) for r in ROLES]
        print(f"| {g} | " + " | ".join(f"{c[0]} cells, {c[1] / 3600:.2f} h" if c else "—"
                                        for c in cells) + " |")


if __name__ == "__main__":
    main()
