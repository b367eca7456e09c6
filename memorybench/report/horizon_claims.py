"""Claims checked on horizon searches (``kind = "horizon"`` in ``claims.toml``).

A horizon claim is a list of checks on one task, each about one model's search
(``searches.results``): its bracket [lo, hi) (solved at lo, failed at hi), the mean test
metric of each rung, the extrapolation at its horizon. The claim holds when every check
holds, does not hold when one fails, and is "not measured" otherwise: a search it needs is
absent or did not learn its task's control, a bracket straddles the length it asks about,
the length it asks about lies past a search's cap ("not measured: this run stops at 64"),
or the verdict would rest on a failure the budget cut (a failed length still learning,
↗). No check passes on no evidence, none on a budget's failure, and none fails on a
length the run did not train. ``run_note`` says what this run's cells show beside it.

    checks = [{ model = "lstm", below = 200 }, { model = "orthogonal", at_least = 1000 }]
"""

from __future__ import annotations

import math

import pandas as pd

from memorybench.horizon import text
from memorybench.report.searches import budget_bound, marked
from memorybench.report.tables import number

HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured"
TOLERANCE = 0.1  # a quoted accuracy "holds" within this much of ours
# check key -> what it says, for the well-formedness test and the claims.toml header
CHECKS = {
    "at_least": "the model's horizon is at least this length (it solved it)",
    "below": "the model failed a length at or below this one",
    "above": "the model solved a length every listed model failed",
    "at_least_as": "no listed model solved a length the model failed",
    "solves_multiple": "trained at its horizon, a majority of seeds solve k x that length",
    "fails_multiple": "trained at its horizon, a majority of seeds fail k x that length",
    "accuracy": "[from, to, value]: our mean metric over the lengths in [from, to] lies "
                "within 0.1 of the value, for every range",
    "rises_with_state": "over `models`, the horizon rises with the state size (Spearman "
                        "rank correlation > 0, at least 3 models)",
}


def search_of(found: list[dict], task: str, model: str, task_params: dict) -> dict | None:
    """The search of (task, model) whose task parameters include ``task_params``; of
    several (other settings of the model: ``searches.name``), the one with the most rungs,
    its variant named in the evidence."""
    mine = [s for s in found if s["task"] == task and s["model"] == model
            and all(s["task_params"].get(k) == v for k, v in task_params.items())]
    return max(mine, key=lambda s: len(s["rungs"])) if mine else None


def models_of(claim: dict) -> list[str]:
    names = []
    for check in claim["checks"]:
        names += [check["model"]] if "model" in check else []
        for key in ("above", "at_least_as", "models"):
            value = check.get(key, [])
            names += [value] if isinstance(value, str) else list(value)
    return list(dict.fromkeys(names))


def evaluate(claim: dict, found: list[dict]) -> tuple[str, str]:
    """(verdict, our numbers) of a horizon claim on the searches ``found``."""
    searches = {m: search_of(found, claim["task"], m, claim.get("task_params", {}))
                for m in models_of(claim)}
    missing = [m for m, s in searches.items() if s is None]
    brackets = ", ".join(f"{m}{f' [{v}]' if (v := s.get('variant')) else ''} {marked(s)}"
                         for m, s in searches.items() if s)  # the variant checked, if several
    if any(budget_bound(s) for s in searches.values() if s):
        brackets += " (↗: its first failed length was still learning when the budget ran out)"
    if missing:
        params = claim.get("task_params", {})
        at = f" at {', '.join(f'{k}={v}' for k, v in sorted(params.items()))}" if params else ""
        return NOT_MEASURED, (f"no search of {', '.join(missing)} on {claim['task']}{at}"
                              + (f"; {brackets}" if brackets else ""))
    waiting = [m for m, s in searches.items() if s and s.get("pending") is not None]
    if waiting:
        return NOT_MEASURED, (f"{', '.join(waiting)}: a failure still to be checked (the "
                              f"search is open); horizons: {brackets}")
    unlearned = [m for m, s in searches.items() if s and s.get("not_learned")]
    if unlearned:
        return NOT_MEASURED, (f"{', '.join(unlearned)} did not learn the control of "
                              f"{claim['task']}: no horizon to compare; horizons: {brackets}")
    outcomes = [check(c, searches) for c in claim["checks"]]
    parts = [f"horizons: {brackets}"] + list(dict.fromkeys(t for _, t in outcomes if t))
    verdicts = [ok for ok, _ in outcomes]
    verdict = FAILS if False in verdicts else NOT_MEASURED if None in verdicts else HOLDS
    return verdict, "; ".join(parts)


def run_note(claim: dict, found: list[dict]) -> str | None:
    """This run's numbers behind a horizon claim, from its cells (None without a search
    it names): the task settings, budget and caps its task was searched at, each failure
    of the claim's models the budget cut, each control not learned, and the mean test
    metric by length a quoted accuracy is checked against."""
    searches = {m: s for m in models_of(claim)
                if (s := search_of(found, claim["task"], m, claim.get("task_params", {})))}
    if not searches:
        return None
    present = list(searches.values())
    settings = ", ".join(f"{k}={v}" for k, v in sorted(present[0]["task_params"].items()))
    budgets = sorted({(s["steps"], s["batch_size"] or 0) for s in present if s.get("steps")})
    caps: dict[int, list[str]] = {}
    for m, s in searches.items():
        caps.setdefault(s["cap"], []).append(m)
    top = max(caps)
    parts = [f"{claim['task']}" + (f" ({settings})" if settings else "") + " searched"
             + (" at " + ", ".join(f"{n:,} steps" + (f" of {b} sequences" if b else "")
                                   for n, b in budgets) if budgets else "")
             + f", up to T = {top:,}" + "".join(f" ({', '.join(ms)} to {cap:,})"
                                                 for cap, ms in sorted(caps.items())
                                                 if cap != top)]
    for m, s in searches.items():
        state, rungs = s["state"], s["rungs"]
        if s.get("not_learned") and state.hi is not None:
            parts.append(f"{m} failed its control T={state.hi} "
                         f"({text.failures(rungs[state.hi])})")
        elif budget_bound(s) and state.hi is not None:
            r = rungs[state.hi]
            mean = s["means"].get(state.hi)
            parts.append(f"{m} failed T={state.hi} with {sum(r.rising.values())}/"
                         f"{len(r.seeds)} seeds still learning when their {r.budget:,} "
                         "steps ran out" + (f" (mean test {s['metric_name']} {number(mean)})"
                                            if mean is not None else ""))
    for c in claim["checks"]:
        if "accuracy" in c and (s := searches.get(c["model"])):
            means = ", ".join(f"T={n} {number(v)}" for n, v in sorted(s["means"].items())
                              if v is not None and n != s.get("control"))
            parts.append(f"{c['model']}'s mean test {s['metric_name']} by length: {means}")
    return "; ".join(parts) + "."


def check(c: dict, searches: dict) -> tuple[bool | None, str]:
    """One check: True, False or None (not measured), and the numbers that decided. A check
    is judged only on lengths the searches trained: one that asks about a length past a
    search's cap (``stops``) is not measured, whatever else the search did."""
    if "rises_with_state" in c:
        return rises_with_state(c["models"], searches)
    s = searches[c["model"]]
    lo, hi = s["state"].lo, s["state"].hi
    if "at_least" in c:
        if lo is not None and lo >= c["at_least"]:
            return True, ""
        if s["cap"] < c["at_least"]:
            return None, stops(c["model"], s, c["at_least"])
        if hi is None:  # solved every length searched, all of them short of the claim's
            return None, (f"{c['model']} solved every length it was searched at, up to "
                          f"{lo}, short of {c['at_least']}")
        if hi > c["at_least"]:  # failed past the length, solved below it: never tried it
            return None, f"{c['model']}'s bracket {s['bracket']} straddles {c['at_least']}"
        return (None, cut(c["model"], s)) if budget_bound(s) else (False, "")
    if "below" in c:
        if hi is not None and hi <= c["below"]:
            return (None, cut(c["model"], s)) if budget_bound(s) else (True, "")
        if lo is not None and lo >= c["below"]:
            return False, ""
        if hi is None and s["cap"] < c["below"]:
            return None, stops(c["model"], s, c["below"])
        return None, f"{c['model']}'s bracket {s['bracket']} straddles {c['below']}"
    if "above" in c or "at_least_as" in c:
        others = c["above"] if "above" in c else c["at_least_as"]
        others = [others] if isinstance(others, str) else others
        if "above" in c:  # rests on the others' failures
            return above(c["model"], others, searches)
        # a failure of the model's own decides against it
        beaten = [o for o in others if separated(searches[o], s)]
        if beaten:
            return (None, cut(c["model"], s)) if budget_bound(s) else (False, "")
        untried = [o for o in others if hi is None and (searches[o]["state"].lo or 0) > s["cap"]]
        if untried:
            return None, (f"{c['model']} solved every length to its cap {s['cap']:,}, "
                          f"short of {', '.join(untried)}'s horizon: not compared there")
        return True, ""
    if "solves_multiple" in c or "fails_multiple" in c:
        k = c.get("solves_multiple", c.get("fails_multiple"))
        rung = s["rungs"].get(lo) if lo is not None else None
        value = (rung.extrapolation or {}).get(str(k)) if rung else None
        if value is None:
            return None, f"{c['model']}: no extrapolation to {k}× measured"
        solves = 2 * value[0] > value[1]
        text = f"{c['model']} at T={lo}: {value[0]}/{value[1]} seeds solve {k}×"
        return solves is ("solves_multiple" in c), text
    if "accuracy" in c:
        return accuracy(c["model"], c["accuracy"], s)
    raise ValueError(f"unknown horizon check {sorted(c)}")


def above(model: str, others: list[str], searches: dict) -> tuple[bool | None, str]:
    """The model solved a length each of ``others`` failed; not measured where one of
    them failed nothing up to its cap, where the model's ladder ended below another's
    failure, or where the model's own bracket straddles it (no length tried there), and
    where a failure it rests on was the budget's."""
    s, ok, untested = searches[model], True, []
    for o in others:
        t = searches[o]
        if separated(s, t):
            continue
        if t["state"].hi is None:
            untested.append(stops(o, t))
        elif s["state"].hi is None and s["cap"] < t["state"].hi:
            untested.append(f"{model} solved every length to its cap {s['cap']:,}, below "
                            f"{o}'s failure at {t['state'].hi:,}: not compared there")
        elif s["state"].hi is not None and s["state"].hi > t["state"].hi:
            untested.append(f"{model}'s bracket {s['bracket']} straddles {o}'s failure at "
                            f"{t['state'].hi:,}")
        else:
            ok = False
    cuts = [o for o in others if budget_bound(searches[o])]
    if ok and cuts:
        return None, "; ".join(cut(m, searches[m]) for m in cuts)
    if ok and untested:
        return None, "; ".join(untested)
    return ok, ""


def stops(model: str, s: dict, length: int | None = None) -> str:
    """Why a check past the lengths a search trained is not measured: 'not measured: this
    run stops at 64 (the claim asks about T = 1,000), and lstm solved every length up to
    it'."""
    asked = f" (the claim asks about T = {length:,})" if length is not None else ""
    lo, hi = s["state"].lo, s["state"].hi
    if hi is None and lo is not None and lo < s["cap"]:
        return (f"not measured: {model}'s search is open, solved up to {lo:,} of a ladder "
                f"to {s['cap']:,}{asked}")
    solved = f", and {model} solved every length up to it" if hi is None else ""
    return f"not measured: this run stops at {s['cap']:,}{asked}{solved}"


def cut(model: str, s: dict) -> str:
    """Why a check on a budget's failure is not measured."""
    return (f"{model} failed T={s['state'].hi} still learning (↗): that failure is the "
            "budget's, not the memory's")


def separated(a: dict, b: dict) -> bool:
    """A solved a length B failed: A's horizon reaches B's first failed length."""
    lo, hi = a["state"].lo, b["state"].hi
    return lo is not None and hi is not None and lo >= hi


def accuracy(model: str, ranges: list, s: dict) -> tuple[bool | None, str]:
    """Quoted accuracies by distance against our means over the rungs in each range."""
    ok: bool | None = True
    parts = []
    for low, high, value in ranges:
        means = [m for n, m in s["means"].items() if low <= n <= high and m is not None]
        span = f"{low}–{high:g}" if math.isfinite(high) else f"{low}+"
        if not means:
            ok = False if ok is False else None
            hi = s["state"].hi
            why = (f" (this run stops at {s['cap']:,})" if s["cap"] < low else
                   f" (the search stopped at its first failure, T = {hi:,})"
                   if hi is not None and hi < low else "")
            parts.append(f"{span}: quoted {number(value)}, not measured{why}")
            continue
        ours = sum(means) / len(means)
        ok = False if abs(ours - value) > TOLERANCE else ok
        parts.append(f"{span}: quoted {number(value)}, ours {number(ours)}")
    return ok, f"{model} " + ", ".join(parts)


def rises_with_state(models: list[str], searches: dict) -> tuple[bool | None, str]:
    """Horizon against state size over the models whose state size is known (Spearman rank
    correlation above 0). A horizon solved to its cap, or cut by the budget, is a lower
    bound (+): the verdict stands only where it is the same whichever of them lie past
    every other horizon (``spearman_range``); otherwise the run cannot tell."""
    pairs = []
    for m in models:
        size = str(searches[m]["state_size"]).split("–")[0].replace(",", "")
        if size.isdigit():
            s = searches[m]
            lower = s["state"].hi is None or budget_bound(s)
            pairs.append((m, int(size), s["state"].lo or 0, lower))
    text = "state size → horizon: " + ", ".join(f"{m} {n} → {lo}{'+' if lower else ''}"
                                                 for m, n, lo, lower in
                                                 sorted(pairs, key=lambda p: p[1]))
    if len(pairs) < 3:
        return None, text
    rho = spearman([p[1] for p in pairs], [p[2] for p in pairs])
    low, high = spearman_range(pairs)
    if rho != rho and low != low:  # every size or every horizon the same: no rise to see
        return False, text + "; no rank correlation"
    if (low > 0) != (high > 0):  # NaN compares False: no rise either
        return None, (text + f"; Spearman ρ {rho:+.2f}, from {low:+.2f} to {high:+.2f} as "
                      "the lower bounds (+) lie at them or past every other horizon: not "
                      "measured")
    return bool(low > 0), text + f"; Spearman ρ {rho:+.2f}"


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (Pearson's of the ranks, ties averaged); NaN where one
    side is constant."""
    return float(pd.Series(x, dtype=float).rank().corr(pd.Series(y, dtype=float).rank()))


def spearman_range(pairs: list[tuple[str, int, int, bool]]) -> tuple[float, float]:
    """The least and the greatest rank correlation of size and horizon over every choice of
    which lower bounds (a pair's last field) lie past every other horizon (the rest stay at
    their bound); NaNs left out (NaN, NaN where every choice gives one)."""
    bounds = [i for i, p in enumerate(pairs) if p[3]][:12]  # 4,096 choices at most
    found = []
    for mask in range(2 ** len(bounds)):
        raised = {i for k, i in enumerate(bounds) if mask >> k & 1}
        rho = spearman([p[1] for p in pairs],
                       [math.inf if i in raised else p[2] for i, p in enumerate(pairs)])
        found += [rho] if rho == rho else []
    return (min(found), max(found)) if found else (math.nan, math.nan)
