"""Claims checked on horizon searches (``kind = "horizon"`` in ``claims.toml``).

A horizon claim is a list of checks on one task, each about one model's search
(``searches.results``): its bracket [lo, hi) (solved at lo, failed at hi), the mean test
metric of each rung, the extrapolation at its horizon. The claim holds when every check
holds, does not hold when one fails, and is "not measured" otherwise: a search it needs is
absent or did not learn its task's control, a bracket straddles the length it asks about,
or the verdict would rest on a failure the budget cut (a failed length still learning,
↗). No check passes on no evidence, and none on a budget's failure.

    checks = [{ model = "lstm", below = 200 }, { model = "orthogonal", at_least = 1000 }]
"""

from __future__ import annotations

import math

import pandas as pd

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
        return NOT_MEASURED, (f"no search of {', '.join(missing)} on {claim['task']}"
                              + (f"; {brackets}" if brackets else ""))
    unlearned = [m for m, s in searches.items() if s and s.get("not_learned")]
    if unlearned:
        return NOT_MEASURED, (f"{', '.join(unlearned)} did not learn the control of "
                              f"{claim['task']}: no horizon to compare; horizons: {brackets}")
    outcomes = [check(c, searches) for c in claim["checks"]]
    parts = [f"horizons: {brackets}"] + list(dict.fromkeys(t for _, t in outcomes if t))
    verdicts = [ok for ok, _ in outcomes]
    verdict = FAILS if False in verdicts else NOT_MEASURED if None in verdicts else HOLDS
    return verdict, "; ".join(parts)


def check(c: dict, searches: dict) -> tuple[bool | None, str]:
    """One check: True, False or None (not measured), and the numbers that decided."""
    if "rises_with_state" in c:
        return rises_with_state(c["models"], searches)
    s = searches[c["model"]]
    lo, hi = s["state"].lo, s["state"].hi
    if "at_least" in c:
        if lo is not None and lo >= c["at_least"]:
            return True, ""
        if hi is None:  # solved every length searched, all of them short of the claim's
            return None, (f"{c['model']} solved every length it was searched at, up to "
                          f"{lo}, short of {c['at_least']}")
        return (None, cut(c["model"], s)) if budget_bound(s) else (False, "")
    if "below" in c:
        if hi is not None and hi <= c["below"]:
            return (None, cut(c["model"], s)) if budget_bound(s) else (True, "")
        if lo is not None and lo >= c["below"]:
            return False, ""
        return None, f"{c['model']}'s bracket {s['bracket']} straddles {c['below']}"
    if "above" in c or "at_least_as" in c:
        others = c["above"] if "above" in c else c["at_least_as"]
        others = [others] if isinstance(others, str) else others
        if "above" in c:  # rests on the others' failures
            ok = all(separated(s, searches[o]) for o in others)
            cuts = [o for o in others if budget_bound(searches[o])]
        else:  # a failure of the model's own decides against it
            ok = not any(separated(searches[o], s) for o in others)
            cuts = [c["model"]] if budget_bound(s) else []
        if cuts and (ok if "above" in c else not ok):
            return None, "; ".join(cut(m, searches[m]) for m in cuts)
        return ok, ""
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
            parts.append(f"{span}: quoted {number(value)}, not measured")
            continue
        ours = sum(means) / len(means)
        ok = False if abs(ours - value) > TOLERANCE else ok
        parts.append(f"{span}: quoted {number(value)}, ours {number(ours)}")
    return ok, f"{model} " + ", ".join(parts)


def rises_with_state(models: list[str], searches: dict) -> tuple[bool | None, str]:
    """Horizon against state size over the models whose state size is known."""
    pairs = []
    for m in models:
        size = str(searches[m]["state_size"]).split("–")[0].replace(",", "")
        if size.isdigit():
            lo = searches[m]["state"].lo
            pairs.append((m, int(size), lo or 0))
    text = "state size → horizon: " + ", ".join(f"{m} {n} → {lo}" for m, n, lo in
                                                 sorted(pairs, key=lambda p: p[1]))
    if len(pairs) < 3:
        return None, text
    sizes = pd.Series([p[1] for p in pairs], dtype=float)
    horizons = pd.Series([p[2] for p in pairs], dtype=float)
    rho = sizes.rank().corr(horizons.rank())  # Spearman: Pearson of the ranks
    if rho != rho:  # every size or every horizon the same: no rise to see
        return False, text + "; no rank correlation"
    return bool(rho > 0), text + f"; Spearman ρ {rho:+.2f}"
