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
    censored,
    cut,
    not_learned,
    seed_brackets,
)


def verdict(state: State, rungs: dict[int, Rung], cap: int, control: int | None = None,
            task_cap: int | None = None, mark: bool = True) -> str:
    """A search's horizon as every line, table and figure writes it: its bracket
    (``rules.bracket``), '≥ 256 (censored)' where it was solved up to a cap set below the
    task's (``rules.censored``), and, with ``mark``, ' ↗' after a failure its budget cut
    that the bracket does not already call the budget's."""
    budget = cut(state, rungs)
    if censored(state, cap, task_cap):
        return f"≥ {state.lo} (censored)"
    text = bracket(state, cap, control, budget)
    return text + (" ↗" if mark and budget and "budget" not in text else "")


def describe(task: str, model: str, state: State, rungs: dict[int, Rung], cap: int,
             causal: bool = True, control: int | None = None, baseline: bool = False,
             task_cap: int | None = None) -> str:
    """One line a user reads when a search closes; a baseline's has no learning rate (it is
    fitted, not trained by steps)."""
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
        text += f"{', '.join(parts)}; horizon {verdict(state, rungs, cap, task_cap=task_cap)}"
        if c is not None and not c.passed:  # the control was the harder length for it
            text += f"; fails the control T={control} ({failures(c)}) all the same"
            rungs = {n: r for n, r in rungs.items() if n != control}
    text += "; seeds' horizons " + seed_text(rungs)
    if lo is not None:
        if not baseline:
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


def seed_text(rungs: dict[int, Rung]) -> str:
    """'0: [64, 128), 1: ≥ 128, 2: < 8': each seed's own bracket (``rules.seed_brackets``)
    in the majority's notation; ≥ where the seed solved every length trained, < where it
    failed the first, and '(solves 256)' after a seed's bracket where it solved a longer
    length all the same, as the majority did: '0: [64, 128) (solves 256)'."""
    def one(lo: int | None, hi: int | None, later: int | None) -> str:
        text = f"< {hi}" if lo is None else f"≥ {lo}" if hi is None else f"[{lo}, {hi})"
        return text + (f" (solves {later})" if later is not None else "")

    return ", ".join(f"{seed}: {one(*v)}" for seed, v in seed_brackets(rungs).items())


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
