"""The words under the report's horizon tables: how a search decides, what each mark
means. The rules themselves are ``memorybench.horizon.rules``; these sentences quote
their constants, so a changed rule changes its note."""

from __future__ import annotations

from memorybench.horizon.checks import ALPHA, LOSS_FALL, POINTS, WINDOW

SCORE_RULE = (
    "The memory score of a model is the mean, over the tasks where its horizon converged, "
    "of log2(horizon) / log2(cap): the horizon is the longest length its seeds solved (by "
    "majority) below the first length they failed, the cap the task's longest rung; 1 "
    "means solved up to every cap, 0 failing every first rung. A horizon that is no "
    "measured limit is left out, and the score says over how many tasks it was taken, "
    "e.g. (5 of 6): not learned; ≥ a (budget), the first failed length still learning at "
    "its last budget; (censored), solved up to a cap set below the task's for cost; "
    "(open), a search not closed.")
SEED_RULE = (
    "Each seed's horizon (seed: bracket), in the notation of the horizon column: [a, b) "
    "where that seed solved every length trained up to a and failed b; ≥ a where it solved "
    "every one of them, < s where it failed the first; (solves L) after a seed's bracket "
    "where it solved the longer length L all the same, as the majority did. The horizon "
    "column is the majority's.")
SEARCH_RULE = (
    "Each (task, model) was searched on a ladder of lengths ({ladders}), stopping at the "
    "first length a majority of seeds failed, then refined by geometric midpoints. {rates} "
    "Solved or not is judged on a separate test set no selection or early stop saw. The "
    "bracket [a, b) means solved at a, failed at b; ≥ a (capped): solved every length up "
    "to the ladder's cap a, no failure found below it (the horizon may lie further out); "
    "≥ a (censored): the same at a cap set below the task's for cost, a lower bound left "
    "out of the score; ≥ a (open): solved every length trained, short of the ladder's cap: "
    "the search has not closed (it was interrupted: the same `memorybench horizon` command "
    "resumes it); < s: failed the first rung. Before a "
    "length counted as failed, where the protocol asked for it, the rest of the grid and "
    "the rates past its edge were tried there and its seeds continued at twice the budget "
    "(the better half of the rates each time) "
    "while they were still learning or had trained fewer than k times the steps the "
    "control took, up to a ceiling; ≥ a (budget) is a failure still learning at the "
    "ceiling. Networks are compared at a matched parameter budget (the params column).")
RISING_RULE = (
    "↗ after a horizon: at the first length it failed, a majority of seeds were still "
    "learning when their training budget ran out (they trained every step, and the slope of "
    f"their held-out metric over the last {WINDOW:.0%} of evaluations (at least {POINTS}) "
    f"was above zero with {1 - ALPHA:.0%} confidence, or their held-out loss still fell by "
    f"{LOSS_FALL:.0%} of its level over another budget): that horizon is the budget's, and "
    "more steps may move it.")
NOT_LEARNED_RULE = (
    "not learned: the search's first length was its task's control, the shortest memory "
    "distance the task takes, and a majority of seeds failed it: the model did not learn the "
    "task in its budget (where the protocol checked failures, its seeds trained on to the "
    "ceiling, flat or not), which says nothing of how far back it remembers. Such a search "
    "counts in no memory score; a score over fewer tasks says how many, e.g. (5 of 6).")
EVERY_RUNG = ("At each length every learning rate of the grid was trained and the one with "
              "the best mean validation metric kept (ties: the one that stopped soonest).")
FIRST_RUNG = ("The learning-rate grid was trained at the first rung of each ladder, and the "
              "rate with the best mean validation metric there (ties: the one that stopped "
              "soonest) held up the ladder (where the protocol asked for it, the whole grid "
              "was trained again at a length that failed at it).")


def search_rule(found: list[dict]) -> str:
    """The rule of the report's searches, with the ladders and budgets they were searched
    at (``ladders``); the grid at every rung, at the first rung only (its rate held), or
    both where the report holds searches of each kind."""
    held = {any(len(s["lrs_at"][n]) == 1 for n in s["rungs"] if n != min(s["rungs"]))
            for s in found if not s["baseline"] and len(s["rungs"]) > 1
            and len(s["lrs_at"][min(s["rungs"])]) > 1}  # only searches that show which
    rates = FIRST_RUNG if held == {True} else EVERY_RUNG if True not in held else (
        FIRST_RUNG + " (Some searches trained the grid at every length.)")
    return SEARCH_RULE.format(rates=rates, ladders=ladders(found))


def ladders(found: list[dict]) -> str:
    """'×2 per rung: adding and copy 8 to 64, agreement 4 to 64 (attention to 256); 1,000
    steps of 64 sequences': each task's ladder as its searches were read (the protocol
    their cells recorded, or the one the report was told), and the networks' base budgets
    (before a failing rung's extensions)."""
    factors = {s["protocol"].get("factor") for s in found}
    factor = next(iter(factors)) if len(factors) == 1 and None not in factors else 2
    by_task: dict[str, tuple[int, int, list[str]]] = {}
    for s in found:
        rungs = [n for n in s["rungs"] if n != s.get("control")] or list(s["rungs"])
        start, cap = min(rungs), s.get("top") or s["cap"]
        low, high, own = by_task.get(s["task"], (start, cap, []))
        if s["cap"] < cap:
            own = own + [f"{s['model']} to {s['cap']:,}"]
        by_task[s["task"]] = (min(low, start), max(high, cap), own)
    spans: dict[str, list[str]] = {}
    for task, (start, cap, own) in sorted(by_task.items()):
        models = sorted(set(own))
        spans.setdefault(f"{start:,} to {cap:,}" + (f" ({', '.join(models)})" if models
                                                     else ""), []).append(task)
    budgets: dict[str, set[str]] = {}
    for s in sorted(found, key=lambda s: (s.get("steps") or 0, s["task"])):
        if not s["baseline"] and s.get("steps"):
            batch = f" of {s['batch_size']} sequences" if s.get("batch_size") else ""
            budgets.setdefault(f"{s['steps']:,} steps{batch}", set()).add(s["task"])
    text = f"×{factor:g} per rung: " + "; ".join(
        f"{', '.join(tasks)} {span}" for span, tasks in spans.items())
    if len(budgets) == 1:
        text += f"; {next(iter(budgets))}"
    elif budgets:
        text += "; " + "; ".join(f"{budget} ({', '.join(sorted(tasks))})"
                                 for budget, tasks in budgets.items())
    return text
