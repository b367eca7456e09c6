"""The words of a verdict: the line a search prints when it closes, each seed's horizon
and the extrapolation at the horizon, as the CLI and the report write them. What they say
is decided in ``rules``."""

from __future__ import annotations

from memorybench.errors import printable
from memorybench.horizon.rules import (
    NOT_LEARNED,
    Rung,
    State,
    bracket,
    cut,
    not_learned,
    seed_horizons,
)


def describe(task: str, model: str, state: State, rungs: dict[int, Rung], cap: int,
             causal: bool = True, control: int | None = None) -> str:
    """One line a user reads when a search closes."""
    parts = []
    lo = None if state.lo is None else rungs.get(state.lo)
    hi = None if state.hi is None else rungs.get(state.hi)
    if lo is not None:
        parts.append(f"solves T={lo.length} ({lo.n_solved}/{len(lo.seeds)} seeds)")
    if hi is not None:
        parts.append(f"fails T={hi.length} ({failures(hi)})")
    text = f"{pair(task, model)}{'' if causal else ' (non-causal)'}: "
    c = rungs.get(control) if control is not None else None
    if not_learned(state, control) and c is not None:
        text += f"{NOT_LEARNED}: fails the control T={control} ({failures(c)})"
        text += "".join(f" and T={n} ({failures(r)})" for n, r in sorted(rungs.items())
                        if n > c.length)
    else:
        text += f"{', '.join(parts)}; horizon {bracket(state, cap, cut=cut(state, rungs))}"
        if c is not None and not c.passed:  # the control was the harder length for it
            text += f"; fails the control T={control} ({failures(c)}) all the same"
            rungs = {n: r for n, r in rungs.items() if n != control}
    text += "; seeds' horizons " + seed_text(seed_horizons(rungs), rungs)
    if lo is not None:
        edge = " (grid edge)" if lo.lr_at_edge else ""
        text += f"; lr {lo.lr:g}{edge}"
        text += extrapolation_text(lo)
    if hi is not None and hi.budget_bound:
        text += (f"; at T={hi.length} {sum(hi.rising.values())}/{len(hi.seeds)} seeds were "
                 "still learning when their budget ran out (↗: more steps may move it)")

    return text


def pair(task: str, model: str) -> str:
    """'copy × lstm', safe to print: a name given through the API (a ``(name, model)``
    pair) or read from a store may hold an escape sequence, shown and not obeyed."""
    return f"{printable(task)} × {printable(model)}"


def failures(r: Rung) -> str:
    """'2/3 seeds at 4,000 steps': how many of a rung's seeds failed it, and their budget."""
    steps = f" at {r.budget:,} steps" if r.budget else ""
    return f"{len(r.seeds) - r.n_solved}/{len(r.seeds)} seeds{steps}"


def seed_text(seeds: dict[int, int | None], rungs: dict[int, Rung]) -> str:
    """'0: 64, 1: ≥ 128, 2: < 8': each seed's own horizon (``seed_horizons``); ≥ where the
    seed solved every length trained (the longest is a lower bound), < where it failed the
    first."""
    longest, first = max(rungs), min(rungs)
    return ", ".join(f"{seed}: " + (f"< {first}" if v is None else
                                     f"≥ {v}" if v == longest else str(v))
                     for seed, v in seeds.items())


def extrapolation_text(r: Rung) -> str:
    """'; at T=256 it solves 2×, fails 4×' (a majority of seeds each), or n/a."""
    if not r.extrapolation:
        return ""
    solves: list[str] = []
    fails: list[str] = []
    na: list[str] = []
    for k in sorted(r.extrapolation, key=int):
        value = r.extrapolation[k]
        if value is None:
            na.append(f"{k}×")
        else:
            (solves if 2 * value[0] > value[1] else fails).append(f"{k}×")
    words = [f"solves {', '.join(solves)}" if solves else "",
             f"fails {', '.join(fails)}" if fails else "", f"n/a {', '.join(na)}" if na else ""]
    return f"; at T={r.length} it " + ", ".join(w for w in words if w)
