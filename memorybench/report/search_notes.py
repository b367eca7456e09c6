"""The words under the report's horizon tables: how a search decides, what each mark
means. The rules themselves are ``memorybench.horizon.rules``; these sentences quote
their constants, so a changed rule changes its note."""

from __future__ import annotations

from memorybench.horizon.checks import ALPHA, WINDOW

SCORE_RULE = (
    "The memory score of a model is the mean, over the tasks where its horizon converged, "
    "of log2(horizon) / log2(cap): the horizon is the longest length its seeds solved (by "
    "majority) below the first length they failed, the cap the task's longest rung; 1 "
    "means solved up to every cap, 0 failing every first rung. A horizon that is no "
    "measured limit is left out, and the score says over how many tasks it was taken, "
    "e.g. (5 of 6): not learned; ≥ a (budget), the first failed length still learning at "
    "its last budget; (censored), solved up to a cap set below the task's for cost.")
SEED_RULE = (
    "Each seed's horizon (seed: length): the longest length that seed solved below the "
    "first length it failed, over the lengths its search trained; ≥ where it solved every "
    "one of them, < where it failed the first. The horizon column is the majority's.")
SEARCH_RULE = (
    "Each (task, model) was searched on a ladder of lengths (×2 per rung, from the task "
    "spec's start to its cap), stopping at the first length a majority of seeds failed, then "
    "refined by geometric midpoints. {rates} Solved or not is judged on a separate test set "
    "no selection or early stop saw. The bracket [a, b) means solved at a, failed at b; "
    "≥ cap: solved at the task's or the model's cap; < s: failed the first rung. Before a "
    "length counted as failed, where the protocol asked for it, the rest of the grid and "
    "the rates past its edge were tried there and its seeds continued at twice the budget "
    "(the better half of the rates each time) "
    "while they were still learning or had trained fewer than k times the steps the "
    "control took, up to a ceiling; ≥ a (budget) is a failure still learning at the "
    "ceiling. Networks are compared at a matched parameter budget (the params column).")
RISING_RULE = (
    "↗ after a horizon: at the first length it failed, a majority of seeds were still "
    "learning when their training budget ran out (they trained every step, and the slope of "
    f"their held-out metric over the last {WINDOW:.0%} of evaluations was above zero with "
    f"{1 - ALPHA:.0%} confidence): that horizon is the budget's, and more steps may move it.")
NOT_LEARNED_RULE = (
    "not learned: the search's first length was its task's control, the shortest memory "
    "distance the task takes, and a majority of seeds failed it: the model did not learn the "
    "task in its budget, which says nothing of how far back it remembers. Such a search "
    "counts in no memory score; a score over fewer tasks says how many, e.g. (5 of 6).")
EVERY_RUNG = ("At each length every learning rate of the grid was trained and the one with "
              "the best mean validation metric kept (ties: the one that stopped soonest).")
FIRST_RUNG = ("The learning-rate grid was trained at the first rung of each ladder, and the "
              "rate with the best mean validation metric there (ties: the one that stopped "
              "soonest) held up the ladder (where the protocol asked for it, the whole grid "
              "was trained again at a length that failed at it).")


def search_rule(found: list[dict]) -> str:
    """The rule of the report's searches: the grid at every rung, at the first rung only
    (its rate held), or both where the report holds searches of each kind."""
    held = {any(len(s["lrs_at"][n]) == 1 for n in s["rungs"] if n != min(s["rungs"]))
            for s in found if not s["baseline"] and len(s["rungs"]) > 1
            and len(s["lrs_at"][min(s["rungs"])]) > 1}  # only searches that show which
    rates = FIRST_RUNG if held == {True} else EVERY_RUNG if True not in held else (
        FIRST_RUNG + " (Some searches trained the grid at every length.)")
    return SEARCH_RULE.format(rates=rates)
