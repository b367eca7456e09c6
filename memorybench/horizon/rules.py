"""Where a horizon is decided: the rules of a verdict, pure functions over stored results
(no training, no store, no torch), by which the search plans and runs and the report
reads brackets back; none of them is written anywhere else (their arithmetic, the plateau
test, the budgets and the rates past a grid, is ``checks``').

- the ladder (``ladder``): the lengths a search climbs, x factor per rung up to the cap;
- a rung (``rung``): one length, one cell per (learning rate, seed); the rate is the one
  with the best mean *validation* metric over the seeds, and the seeds are judged by their
  *test* metric;
- a majority of seeds (``Rung.passed``): a rung passes when more than half of its seeds
  solve it (a tie is not a majority);
- the bracket (``advance``, ``closed_state``, ``bracket``): the search stops at the first
  failed rung and refines between the last solved and the first failed length by geometric
  midpoints until their ratio is at most ``resolution``: [solved, failed);
- still learning (``checks.still_learning``, ``Rung.budget_bound``): a failed length whose
  seeds were still improving when their budget ran out is the budget's, marked ↗;
- a failure checked (``failure``: ``extendable``, ``decided``, ``halving``): before a
  length counts as failed, a best rate at the grid's edge has the rate beyond it tried,
  and its seeds train on (each cell continued, its budget doubled, the better half of the
  rates each time) while they were still learning or had trained fewer than k x the steps
  the control took, up to a ceiling.
  A length still learning at the ceiling bounds the horizon from below: "≥ a (budget)";
- not learned (``not_learned``): a failed control is no horizon at all.

    ladder 8, 16, 32, 64, 128        solved: 8 16 32, failed: 64
    refine  45 (= sqrt(32 x 64))     solved -> bracket [45, 64): 64 / 45 = 1.42 <= 1.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from memorybench.cells import Metrics
from memorybench.config import MAX_LENGTH, MAX_RUNGS
from memorybench.errors import UserError
from memorybench.horizon.checks import still_learning


def ladder(start: int, cap: int, factor: float) -> list[int]:
    """start, start x factor, ... (rounded, strictly increasing), ending exactly at cap;
    a ladder of more than ``MAX_RUNGS`` lengths is refused as it is climbed, never built."""
    if start > cap:
        raise UserError(f"horizon start {start} is above the cap {cap}; expected start <= cap")
    out, x = [start], float(start)
    while True:
        x *= factor  # a factor of 1e300 makes x infinite, which no round() takes
        if x >= cap or (nxt := max(round(x), out[-1] + 1)) >= cap:
            break
        out.append(nxt)
        if len(out) >= MAX_RUNGS:  # the cap is one more
            raise UserError(f"a ladder from {start} to {cap} at factor {factor} has more "
                            f"than {MAX_RUNGS} lengths; expected a larger --factor (x2 "
                            f"climbs from 1 to {MAX_LENGTH:,} in 21)")
    if out[-1] != cap:
        out.append(cap)
    return out


@dataclass(frozen=True)
class Trial:
    """One stored cell of a rung, as the search reads it."""

    lr: float
    seed: int
    ok: bool  # status ok (a diverged or failed cell is a failed seed)
    solved: bool  # judged on the test set
    validation: float  # the metric on the validation set (NaN if none)
    threshold: float = math.nan
    extrapolation: dict[str, Any] = field(default_factory=dict)  # "k" -> metric or None
    steps: float = math.nan  # steps trained (an early stop's: when it stopped)
    rising: bool = False  # its budget cut a rising learning curve (``still_learning``)
    budget: int = 0  # the cell's budget of steps (``train.steps``); 0: not known

    @property
    def ran_out(self) -> bool:
        """It trained every step of its budget: no early stop, solved or no progress."""
        return self.budget > 0 and self.steps >= self.budget


def trial_of(lr: float, seed: int, row: dict[str, Any],
             metrics: Metrics | dict[str, Any] | str | None, budget: int = 0) -> Trial:
    """A stored row (status, solved, metric_name, solved_threshold) and its metrics as a
    trial: judged on the validation set (the held-out set that chose the rate); ``budget``,
    the cell's training steps, tells whether its budget cut a rising curve."""
    metrics = Metrics.read(metrics)
    validation = metrics.validation.get(row.get("metric_name") or "")
    threshold = row.get("solved_threshold")
    number = isinstance(validation, int | float) and not isinstance(validation, bool)
    stored_steps: Any = row.get("steps")  # whatever the row holds: float() may refuse it
    try:
        steps = float(stored_steps)
    except (TypeError, ValueError):
        steps = math.nan
    return Trial(lr=lr, seed=seed, ok=row.get("status") == "ok", steps=steps, budget=budget,
                 rising=row.get("status") == "ok" and budget > 0
                 and still_learning(metrics.curve, budget, losses=metrics.losses),
                 solved=bool(row.get("solved")),
                 validation=float(validation) if number and validation is not None
                 else math.nan,
                 threshold=math.nan if threshold is None or threshold != threshold
                 else float(threshold),
                 extrapolation=metrics.extrapolation)


@dataclass(frozen=True)
class Rung:
    """One length of a search, at its chosen learning rate."""

    length: int
    lr: float
    seeds: dict[int, bool]  # seed -> solved
    lr_at_edge: bool  # the chosen rate is the smallest or largest of a grid of >= 2
    # "k" -> (seeds solving, seeds scored), or None where n/a
    extrapolation: dict[str, tuple[int, int] | None]
    # seed -> still learning when its budget ran out (``still_learning``)
    rising: dict[int, bool] = field(default_factory=dict)
    budget: int = 0  # the seeds' budget of steps (the longest, where they were extended)
    ran_out: dict[int, bool] = field(default_factory=dict)  # seed -> trained all of it
    solve_steps: tuple[float, ...] = ()  # steps trained by each seed that solved it

    @property
    def budget_bound(self) -> bool:
        """A majority of seeds failed it while still learning: the budget's length."""
        return not self.passed and 2 * sum(self.rising.values()) > len(self.seeds)

    @property
    def n_solved(self) -> int:
        return sum(self.seeds.values())

    @property
    def passed(self) -> bool:
        """A majority of seeds solved (a tie is not a majority)."""
        return 2 * self.n_solved > len(self.seeds)


def rung(length: int, trials: list[Trial], lrs: tuple[float, ...]) -> Rung:
    """The rung of ``trials`` at the learning rate of the best mean validation metric (a
    cell that did not finish ok counts as -inf). Ties, such as every rate at 1.0 on an easy
    rung, go to the rate that stopped soonest (fewest mean steps: it learned fastest), then
    to the first rate of the grid."""
    def score(lr: float) -> float:
        values = [t.validation if t.ok and t.validation == t.validation else -math.inf
                  for t in trials if t.lr == lr]
        return sum(values) / len(values) if values else -math.inf

    def speed(lr: float) -> float:
        steps = [t.steps for t in trials if t.lr == lr and t.steps == t.steps]
        return -sum(steps) / len(steps) if steps else -math.inf

    grid = [lr for lr in lrs if any(t.lr == lr for t in trials)]
    best = max(grid, key=lambda lr: (score(lr), speed(lr), -grid.index(lr)))
    chosen = [t for t in trials if t.lr == best]
    counts: dict[str, tuple[int, int]] = {}
    for t in chosen:
        for k, value in t.extrapolation.items():
            if k.isdigit():
                n, total = counts.get(k) or (0, 0)
                counts[k] = (n + (value is not None and value >= t.threshold),
                             total + (value is not None))
    extrapolation = {k: v if v[1] else None for k, v in counts.items()}
    return Rung(length, best, {t.seed: t.ok and t.solved for t in chosen},
                len(lrs) > 1 and best in (min(lrs), max(lrs)), extrapolation,
                {t.seed: t.rising for t in chosen}, max((t.budget for t in chosen), default=0),
                {t.seed: t.ran_out for t in chosen},
                tuple(t.steps for t in chosen if t.ok and t.solved and t.steps == t.steps))


@dataclass(frozen=True)
class State:
    """Where a search stands: the next length to train (None when closed) and its bracket
    [lo, hi): lo the longest length solved below the first failure (None: the first rung
    failed), hi the shortest failed length (None: every rung solved, up to the cap)."""

    next: int | None
    lo: int | None
    hi: int | None
    trained: tuple[int, ...]

    @property
    def closed(self) -> bool:
        return self.next is None


def advance(lengths: list[int], rungs: dict[int, Rung], resolution: float,
            control: int | None = None) -> State:
    """The next step of a search over the ladder ``lengths`` given the rungs trained. A
    failed ``control`` (the ladder's first length) is checked against the next rung: failed
    too, the model did not learn the task (``not_learned``); solved, the control was the
    harder of the two for this model, and the ladder is read without it."""
    trained = tuple(sorted(rungs))
    if control is not None and control in rungs and not rungs[control].passed:
        rest = [n for n in lengths if n != control]
        if rest and rest[0] not in rungs:
            return State(rest[0], None, None, trained)
        if not rest or not rungs[rest[0]].passed:
            return State(None, None, control, trained)
        state = advance(rest, {n: r for n, r in rungs.items() if n != control}, resolution)
        return State(state.next, state.lo, state.hi, trained)
    lo = hi = None
    for length in lengths:
        if length not in rungs:
            return State(length, lo, None, trained)
        if not rungs[length].passed:
            hi = length
            break
        lo = length
    if lo is None or hi is None:
        return State(None, lo, hi, trained)
    while hi / lo > resolution:
        mid = round(math.sqrt(lo * hi))
        if not lo < mid < hi:
            break
        if mid not in rungs:
            return State(mid, lo, hi, trained)
        lo, hi = (mid, hi) if rungs[mid].passed else (lo, mid)
    return State(None, lo, hi, trained)


def closed_state(rungs: dict[int, Rung], control: int | None = None) -> State:
    """The bracket that trained rungs give, read back without the ladder (a report): the
    shortest failed length, and the longest solved length below it; a failed ``control``
    below a solved length is left out, as ``advance`` leaves it."""
    if control in rungs and not rungs[control].passed and any(
            r.passed for n, r in rungs.items() if n > control):
        state = closed_state({n: r for n, r in rungs.items() if n != control})
        return State(None, state.lo, state.hi, tuple(sorted(rungs)))
    failed = [n for n, r in rungs.items() if not r.passed]
    hi = min(failed) if failed else None
    below = [n for n, r in rungs.items() if r.passed and (hi is None or n < hi)]
    return State(None, max(below) if below else None, hi, tuple(sorted(rungs)))


def memory_score(lo: int | None, cap: int) -> float:
    """One task's share of the way to the cap on a log scale: log2(horizon) / log2(cap),
    where the horizon is the longest length solved (0 when even the first failed)."""
    if lo is None or lo < 2 or cap < 2:
        return 0.0
    return min(1.0, math.log2(lo) / math.log2(cap))


def refinements(ratio: float, resolution: float) -> int:
    """Midpoints needed to bring a bracket of ``ratio`` down to ``resolution``."""
    if ratio <= resolution:
        return 0
    return math.ceil(math.log2(math.log(ratio) / math.log(resolution)))


def worst_case(lengths: list[int], state: State, resolution: float) -> list[int]:
    """Lengths a search may still train, at most: every rung left on the ladder, then the
    refinement below the last one, each counted at the longest length it can have."""
    if state.next is None:  # closed
        return []
    if state.hi is not None:  # refining
        assert state.lo is not None  # advance opens a bracket only above a solved rung
        return [state.hi] * refinements(state.hi / state.lo, resolution)
    left = [n for n in lengths if n >= state.next]
    ratio = max(b / a for a, b in zip(lengths, lengths[1:], strict=False)) if len(
        lengths) > 1 else 1.0
    return left + [lengths[-1]] * refinements(ratio, resolution)


NOT_LEARNED = "not learned"


def not_learned(state: State, control: int | None) -> bool:
    """The search failed its control, the task's shortest memory distance: the model did
    not learn the task at all in its budget, which says nothing of how far back it
    remembers."""
    return control is not None and state.lo is None and state.hi == control


def bracket(state: State, cap: int, control: int | None = None, cut: bool = False) -> str:
    """'[256, 512)', '≥ 1024 (capped)' (solved every length up to the ladder's cap: no
    failure found below it), '≥ 32 (open)' (solved every length trained, short of the
    cap: the search has not closed), '< 8' (the first rung failed), 'not learned' (the
    first rung was the control, and it failed) or, where the first failed length was still
    learning when its budget ran out (``cut``), '≥ 256 (budget)': a lower bound, not a
    limit."""
    if not_learned(state, control):
        return NOT_LEARNED
    if cut and state.lo is not None and state.hi is not None:
        return f"≥ {state.lo} (budget)"
    if state.lo is None:
        return f"< {state.hi}"
    if state.hi is None:
        return f"≥ {state.lo} ({'capped' if state.lo >= cap else 'open'})"
    return f"[{state.lo}, {state.hi})"


def censored(state: State, cap: int, task_cap: int | None) -> bool:
    """Solved up to a cap set below the task's for cost (``caps = { attention = 256 }``):
    a lower bound on the horizon, not a measured limit."""
    return (state.hi is None and state.lo is not None and state.lo >= cap
            and task_cap is not None and cap < task_cap)


def cut(state: State, rungs: dict[int, Rung]) -> bool:
    """The search's first failed length was the budget's (``Rung.budget_bound``)."""
    return state.hi is not None and state.hi in rungs and rungs[state.hi].budget_bound


def seed_brackets(rungs: dict[int, Rung]) -> dict[int, tuple[int | None, int | None,
                                                            int | None]]:
    """Each seed's own bracket over the trained lengths, as the majority's is read: (lo, hi,
    later): lo its horizon (``seed_horizons``), hi the first length it failed (None: it
    solved every one), later the longest length above hi it solved all the same (None:
    none), which the majority's bracket may reach while this seed's does not."""
    out = {}
    lengths = sorted(rungs)
    for seed, lo in seed_horizons(rungs).items():
        above = [n for n in lengths if lo is None or n > lo]
        hi = above[0] if above else None
        later = [n for n in above[1:] if rungs[n].seeds.get(seed, False)]
        out[seed] = (lo, hi, later[-1] if later else None)
    return out


def seed_horizons(rungs: dict[int, Rung]) -> dict[int, int | None]:
    """Each seed's own horizon: the longest trained length it solved with every shorter
    trained length (None: it failed the shortest)."""
    seeds = sorted({s for r in rungs.values() for s in r.seeds})
    out: dict[int, int | None] = {}
    for seed in seeds:
        best = None
        for length in sorted(rungs):
            if not rungs[length].seeds.get(seed, False):
                break
            best = length
        out[seed] = best
    return out
