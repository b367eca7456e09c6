"""Horizon searches read back from stored cells: one bracket per (task, model), each seed's
own horizon, the chosen learning rate, extrapolation and a memory score per model.

A searched cell is one trained with a separate test set (``train.test_size``, the horizon
protocol's); the cells of one search share every setting but length, seed and learning
rate. Nothing here imports torch: every verdict is ``memorybench.horizon.rules``'.
"""

from __future__ import annotations

import pandas as pd

from memorybench.cells import Metrics
from memorybench.horizon import rules, text
from memorybench.report import search_figures, tables
from memorybench.report.search_notes import (
    NOT_LEARNED_RULE,
    RISING_RULE,
    SCORE_RULE,
    SEED_RULE,
    search_rule,
)
from memorybench.report.search_rows import cells_at, each_search, pending, recorded, rungs_of
from memorybench.specs import horizon_cap


def results(frame: pd.DataFrame, protocols: dict | None = None) -> list[dict]:
    """One dict per search: task, model, bracket text, state, rungs, cap, causal, baseline,
    params, state size, seeds' horizons, the extrapolation points at the horizon's length,
    the learning curves at both ends of the bracket ("lo", "hi": (seed, curve) each), the
    mean test metric of each rung at its learning rate ("means"), the task parameters,
    "rising": (seeds still learning, seeds) at the first failed length
    (``rules.still_learning``), None where no length failed, and "protocol": what its
    ladder, caps and budget were. Each search is read by the protocol its cells recorded
    (``search_rows.recorded``); ``protocols``, (task, model) -> a protocol
    (``horizon.plan.suite_protocols``: a suite's, ``report --suite``), overrides it; where
    neither says, the task spec's cap ends the ladder (results of an earlier memorybench)."""
    out = []
    for task, model, g in each_search(frame):
        rungs, means = rungs_of(g), {}
        for length in rungs:
            chosen = [float(r.metric) for r in cells_at(g, length, rungs)
                      if r.status == "ok" and r.metric == r.metric]
            means[length] = sum(chosen) / len(chosen) if chosen else None
        first = min(rungs)  # a control, where the search's cells there say so
        control = first if any(Metrics.read(r.metrics).control
                               for r in cells_at(g, first, rungs)) else None
        state = rules.closed_state(rungs, control)
        protocol = (protocols or {}).get((task, model)) or recorded(g)
        cap = protocol.get("cap") or horizon_cap(task) or max(rungs)
        # The score's scale is the task's longest ladder: a model capped shorter (for
        # cost) scores what it solved, a lower bound, not a full mark at its own cap.
        top = protocol.get("task_cap")
        points = []  # (multiple, seed, metric) at the horizon's length and rate
        for r in cells_at(g, state.lo, rungs):
            if r.status != "ok":
                continue
            points.append((1, int(r.seed), float(r.metric)))
            for k, v in Metrics.read(r.metrics).extrapolation.items():
                if k.isdigit() and isinstance(v, int | float):
                    points.append((int(k), int(r.seed), float(v)))
        curves = {end: [(int(r.seed), c) for r in cells_at(g, n, rungs)
                        if (c := Metrics.read(r.metrics).curve)]
                  for end, n in (("lo", state.lo), ("hi", state.hi)) if n is not None}
        config = g["config"].iloc[0]
        causal = all(m.get("causal", True) is not False for m in g["metrics"])
        baseline = config.get("model_kind") == "baseline"
        # a failure an interrupted run would still check: the search is open, not decided
        wait = None if baseline else pending(g, rungs, state, protocol)
        unlearned = rules.not_learned(state, control) and wait is None
        # a failed control the ladder was read without (the harder length for this model)
        # is left out of the seeds' brackets too, as the search's line leaves it out; a
        # control still being checked decides nothing yet: no seed has a bracket
        seed_rungs = rungs
        if wait is not None and wait == control:
            seed_rungs = {}
        elif control is not None and not rungs[control].passed and not unlearned:
            seed_rungs = {n: r for n, r in rungs.items() if n != control}
        steps = sorted({int(c["train"].get("steps") or 0) for c in g["config"]})
        out.append({
            "task": task, "model": model, "state": state, "rungs": rungs, "cap": cap,
            "top": top, "means": means, "task_params": config.get("task_params") or {},
            "lrs_at": {int(n): {float(c["train"]["lr"]) for c in at["config"]}
                       for n, at in g.groupby("length")},
            "bracket": text.verdict(state, rungs, cap, control, top, mark=False),
            "causal": causal, "not_learned": unlearned,
            "censored": rules.censored(state, cap, top),
            "open": state.hi is None and state.lo is not None and state.lo < cap
            or wait is not None, "pending": wait,
            "control": control,
            "baseline": baseline,
            "params": _one(g["params"]), "state_size": _one(g.get("state_size")),
            "seeds": rules.seed_horizons(seed_rungs), "seed_rungs": seed_rungs,
            "score": rules.memory_score(state.lo, top or cap),
            "points": sorted(points), "curves": {k: sorted(v) for k, v in curves.items()},
            "rising": (sum(rungs[state.hi].rising.values()), len(rungs[state.hi].seeds))
            if state.hi is not None else None,
            "metric_name": " / ".join(sorted({n for n in g["metric_name"] if n})) or "metric",
            "threshold": float(g["solved_threshold"].dropna().iloc[0])
            if g["solved_threshold"].notna().any() else None,
            "model_params": config.get("model_params") or {},
            "protocol": protocol,
            "steps": None if baseline else steps[0],  # the base budget, before extensions
            "batch_size": (config.get("train") or {}).get("batch_size"),
        })
    return _with_variants(out)


def _with_variants(found: list[dict]) -> list[dict]:
    """Each search with its ``variant``: the model parameters that set apart two searches
    of one model on one task ('layers=2'), named on every search of that model; empty
    where no task holds two. The width is not one of them: the parameter budget chooses it
    per task and per setting."""
    def settings(s: dict) -> dict:
        return {k: v for k, v in s["model_params"].items() if k not in ("hidden", "embed")}

    keys: dict[str, set] = {}
    for s in found:
        for o in found:
            if s["model"] == o["model"] and s["task"] == o["task"]:
                a, b = settings(s), settings(o)
                keys.setdefault(s["model"], set()).update(
                    k for k in {*a, *b} if a.get(k) != b.get(k))
    for s in found:
        own = settings(s)
        s["variant"] = ", ".join(f"{k}={own.get(k, '—')}" for k in sorted(keys[s["model"]]))
    return found


def name(s: dict) -> str:
    """A search's model and variant: 'mamba', or 'mamba [layers=2]' where the report holds
    searches of mamba at other settings, which are other rows, never averaged together."""
    return s["model"] + (f" [{s['variant']}]" if s.get("variant") else "")


def _one(column) -> str:
    """The one value of a column over a search's cells ('n/a' where none is stored)."""
    if column is None:
        return "n/a"
    values = sorted({int(v) for v in pd.to_numeric(column, errors="coerce").dropna()})
    return f"{values[0]:,}" if len(values) == 1 else (
        f"{values[0]:,}–{values[-1]:,}" if values else "n/a")


def converged(s: dict) -> bool:
    """A search whose horizon is a measured limit, scored: not one that did not learn its
    control, nor one whose failure was the budget's (``budget_bound``), nor one solved up to
    a cap set below the task's for cost (censored: a lower bound), nor one still open
    (solved every length trained, short of its cap: no horizon yet)."""
    return not (s.get("not_learned") or budget_bound(s) or s.get("censored") or s.get("open"))


def scores(found: list[dict]) -> dict[str, float]:
    """Model (with its variant, ``name``) -> memory score (``SCORE_RULE``), over its
    converged horizons (``coverage``); 0 where it has none."""
    by_model: dict[str, list[float]] = {}
    for s in found:
        by_model.setdefault(name(s), []).extend([s["score"]] if converged(s) else [])
    return {m: sum(v) / len(v) if v else 0.0 for m, v in by_model.items()}


def coverage(found: list[dict]) -> dict[str, tuple[int, int]]:
    """Model -> (tasks its score covers, tasks searched): a search with no converged
    horizon (``converged``) has no limit to score."""
    out: dict[str, tuple[int, int]] = {}
    for s in found:
        k, n = out.get(name(s), (0, 0))
        out[name(s)] = (k + converged(s), n + 1)
    return out


def ranked(found: list[dict]) -> list[dict]:
    """Causal networks by memory score (best first), then non-causal networks, then
    baselines; within a model, tasks by name."""
    score = scores(found)
    return sorted(found, key=lambda s: (group_of(s), -score[name(s)], name(s), s["task"]))


def group_of(s: dict) -> int:
    """0: a causal network, 1: a non-causal one, 2: a baseline."""
    return 2 if s["baseline"] else (0 if s["causal"] else 1)


def display(s: dict) -> str:
    """A search's model as figures name it: 'birnn (non-causal)', 'ridge-window (baseline)'."""
    return name(s) + (" (baseline)" if s["baseline"] else
                         "" if s["causal"] else " (non-causal)")


def budget_bound(s: dict) -> bool:
    """A majority of the seeds at the search's first failed length were still learning."""
    return s["state"].hi is not None and s["rungs"][s["state"].hi].budget_bound


def marked(s: dict) -> str:
    """The search's horizon as every table, claim and search line writes it
    (``horizon.text.verdict``): its bracket, with ↗ where the budget cut it
    (``RISING_RULE``) and the bracket does not already say so ('≥ 16 (budget)'); a search
    whose failure an interrupted run would still check, '≥ 8 (open)' or 'checking T=1
    (open)'."""
    if s.get("pending") is not None:
        lo = s["state"].lo
        return f"≥ {lo} (open)" if lo is not None else f"checking T={s['pending']} (open)"
    return text.verdict(s["state"], s["rungs"], s["cap"], s.get("control"), s.get("top"))


def budget_cuts(found: list[dict]) -> str:
    """How many of the networks' searches that failed a length failed it while still
    learning (``budget_bound``), overall and per task: 'Of the 5 networks' searches that
    failed a length, 2 failed it still learning (↗): copy 1 of 3, parity 1 of 2.'"""
    failed = [s for s in found if not s["baseline"] and s["state"].hi is not None]
    per_task: dict[str, tuple[int, int]] = {}
    for s in failed:
        cut, total = per_task.get(s["task"], (0, 0))
        per_task[s["task"]] = (cut + budget_bound(s), total + 1)
    parts = ", ".join(f"{t} {c} of {n}" for t, (c, n) in sorted(per_task.items()))
    cut = sum(c for c, _ in per_task.values())
    return (f"Of the {len(failed)} networks' searches that failed a length, {cut} failed it "
            f"still learning (↗): {parts}.")


def rising_text(s: dict) -> str:
    """'2/3 seeds still learning' at the first failed length, or '—' where none failed."""
    if not s.get("rising"):
        return "—"
    n, total = s["rising"]
    return f"{n}/{total} seeds still learning"


def search_table(found: list[dict]) -> tables.Table:
    score = scores(found)
    rows = []
    for s in ranked(found):
        state, rungs = s["state"], s["rungs"]
        lo, hi = rungs.get(state.lo), rungs.get(state.hi)
        kind = "baseline" if s["baseline"] else ("network" if s["causal"] else
                                                 "network, non-causal")
        control = rungs.get(s["control"]) if s.get("control") is not None else None
        evidence = "; ".join(x for x in (
            f"control {control.length} {'solved' if control.passed else 'failed'} "
            f"({control.n_solved}/{len(control.seeds)})" if control else "",
            f"solves {lo.length} ({lo.n_solved}/{len(lo.seeds)})" if lo else "",
            f"fails {hi.length} ({text.failures(hi)})" if hi
            else "") if x)
        lr = (f"{lo.lr:g}" + (" (grid edge)" if lo.lr_at_edge else "")) if (
            lo and not s["baseline"]) else "—"  # a baseline is fitted: no learning rate
        extrapolation = text.extrapolation_text(lo).removeprefix("; ") if lo else "—"
        rows.append([name(s), kind, f"{score[name(s)]:.2f}", s["task"], marked(s),
                     text.seed_text(s["seed_rungs"]), evidence, rising_text(s), lr,
                     s["params"], s["state_size"], extrapolation or "—"])
    return tables.Table(["model", "kind", "memory score", "task", "horizon",
                         "each seed's horizon", "evidence (seeds)", "at the failed length",
                         "learning rate", "params", "state size", "extrapolation"], rows,
                        notes=[SCORE_RULE, SEED_RULE, RISING_RULE])


def score_table(found: list[dict]) -> tables.Table:
    """The leaderboard at a glance: one row per model, ranked as the figure ranks them
    (causal networks by memory score, then non-causal ones, then baselines), its memory
    score and its horizon on each task ("—" where it was not searched)."""
    score, covered = scores(found), coverage(found)
    tasks = sorted({s["task"] for s in found})
    brackets = {(name(s), s["task"]): marked(s) for s in found}
    rows, seen = [], set()
    for s in ranked(found):
        if name(s) in seen:
            continue
        seen.add(name(s))
        k, n = covered[name(s)]
        rows.append([display(s), f"{score[name(s)]:.2f}" + (f" ({k} of {n})" if k < n else "")]
                    + [brackets.get((name(s), t), "—") for t in tasks])
    notes = [SCORE_RULE]
    unlearned = [s for s in found if s.get("not_learned")]
    if unlearned:
        notes += [NOT_LEARNED_RULE, f"{len(unlearned)} of the {len(found)} searches did not "
                  "learn their control: " + ", ".join(f"{s['task']} × {name(s)}"
                                                      for s in unlearned) + "."]
    if any(budget_bound(s) for s in found):
        notes += [RISING_RULE, budget_cuts(found)]
    still_open = [s for s in found if s.get("open")]
    if still_open:
        notes.append(f"{len(still_open)} of the {len(found)} searches are open (≥ a (open)): "
                     "they solved every length trained, short of their ladder's cap ("
                     + ", ".join(f"{s['task']} × {name(s)} to {s['cap']:,}"
                                 for s in still_open[:3]) + (", ..." if len(still_open) > 3
                                                             else "")
                     + "), so they have no horizon yet and count in no score: the same "
                     "`memorybench horizon` command resumes them.")
    return tables.Table(["model", "memory score"] + tasks, rows, notes=notes)


def model_labels(found: list[dict]) -> list[str]:
    """Models in ranked order, as the headline figure labels them."""
    return list(dict.fromkeys(display(s) for s in ranked(found)))


def section(found: list[dict], files: dict, add_figure, folder: str, styles: dict) -> dict:
    """The report's "Horizon search" section: the headline figure, the table, and per task
    the learning curves at each bracket's ends and the extrapolation at its horizon;
    ``styles`` (``figures.style``) colours each model as every figure of the report does."""
    shown = [{**s, "label": display(s), "group": group_of(s)} for s in found]
    labels = model_labels(found)
    alt = ("Horizon bracket of every model on every task, a panel per task on one log length "
           "axis; a tick per seed at its own horizon")
    figure = add_figure(files, folder, "horizon-search",
                        search_figures.search_figure(shown, labels), alt)
    narrow = add_figure(files, folder, "horizon-search-narrow",  # for a phone's width
                        search_figures.search_figure(shown, labels, narrow=True), alt)
    curves, extrapolation = [], []
    for task in sorted({s["task"] for s in found}):
        mine = [s for s in shown if s["task"] == task and any(s["curves"].values())]
        if mine:
            curves.append(add_figure(
                files, folder, f"curves-{task}", search_figures.curve_figure(mine, styles, task),
                f"Task {task}: held-out (validation) metric against training step, one line "
                "per seed, of each model at the longest length it solved and at the first "
                "it failed, at that length's learning rate"))
        mine = [s for s in shown if s["task"] == task and s["points"]]
        if mine:
            extrapolation.append(add_figure(
                files, folder, f"extrapolation-{task}",
                search_figures.extrapolation_figure(mine, styles, task),
                f"Task {task}: metric of each model trained at its horizon length, scored at "
                "multiples of that length (one point per seed)"))
    return {"figure": figure, "narrow": narrow, "scores": score_table(found),
            "table": search_table(found),
            "rule": search_rule(found),
            "curves": curves, "extrapolation": extrapolation}
