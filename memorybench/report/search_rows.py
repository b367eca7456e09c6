"""Horizon searches found again in stored rows: which rows are searched cells, which belong
to one search (every setting shared but length, seed, learning rate and budget), each
length's rung (``horizon.failure.decided``) and the rows it was judged by. No torch."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from memorybench.cells import Metrics
from memorybench.config import Protocol
from memorybench.horizon import checks, failure, rules


def searched(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a normalised frame made by the horizon protocol."""
    keep = [bool((c.get("train") or {}).get("test_size")) for c in frame["config"]]
    return frame[keep]


def _protocol(config: dict) -> str:
    """What one search's cells share: the config without length, seed and learning rate."""
    body = {k: v for k, v in config.items() if k not in ("key", "length", "seed")}
    body["train"] = {k: v for k, v in (config.get("train") or {}).items()
                     if k not in ("lr", "steps")}  # a failing rung's rates and budgets
    return json.dumps(body, sort_keys=True)



def each_search(frame: pd.DataFrame):
    """(task, model, rows) of each search in ``frame``: searched cells of one (task, model)
    that share every setting but length, seed and learning rate."""
    rows = searched(frame)
    for (task, model), group in rows.groupby(["task", "model"], sort=True):
        protocols = group["config"].map(_protocol)
        for protocol in sorted(set(protocols)):
            yield task, model, group[protocols == protocol]


def recorded(g: pd.DataFrame) -> dict[str, Any]:
    """The protocol one search's cells recorded (``Metrics.search``: its ladder, caps and
    budget); of several (a search resumed with other flags), the one with the longest
    ladder, then the newest; {} where none did (results of an earlier memorybench)."""
    found = [(Metrics.read(m).search, str(f or "")) for m, f in zip(
        g["metrics"], g["finished_at"], strict=True)]
    found = [(p, f) for p, f in found if isinstance(p.get("cap"), int)]
    if not found:
        return {}
    return max(found, key=lambda pf: (pf[0]["cap"], pf[1]))[0]


def rungs_of(g: pd.DataFrame) -> dict[int, rules.Rung]:
    """Length -> rung of one search's rows, each at the learning rate it chose."""
    lrs = tuple(sorted({float(c["train"]["lr"]) for c in g["config"]}))
    return {n: failure.decided(n, trials, lrs) for n, trials in trials_of(g).items()}


def trials_of(g: pd.DataFrame) -> dict[int, list[rules.Trial]]:
    """Length -> the trials (one per stored cell) of one search's rows."""
    rows: list[Any] = list(g.sort_values("length").itertuples())  # columns as attributes
    by_length: dict[int, list[rules.Trial]] = {}
    for r in rows:
        by_length.setdefault(int(r.length), []).append(rules.trial_of(
            float(r.config["train"]["lr"]), int(r.seed), {
                "status": r.status, "solved": r.solved, "metric_name": r.metric_name,
                "solved_threshold": r.solved_threshold, "steps": r.steps},
            r.metrics, 0 if r.config.get("model_kind") == "baseline"
            else int(r.config["train"].get("steps") or 0)))
    return by_length


def at_chosen_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each searched cell kept only at the learning rate its rung chose: the
    other rates' cells lost the grid, and a mean over seeds at a length should not average
    them in; where a failing rung was extended, only its longest budget's cells. Cells of
    no search are kept as they are."""
    lost = []
    for _, _, g in each_search(frame):
        rungs = rungs_of(g)
        lost += [i for i, r in zip(g.index, g.itertuples(), strict=True)
                 if not chosen(r, rungs[int(r.length)])]
    return frame.drop(index=lost)


def cells_at(g: pd.DataFrame, length: int | None, rungs: dict) -> list:
    """A search's cells (rows) at ``length`` and the learning rate its rung chose."""
    if length is None:
        return []
    rows: list[Any] = list(g[g["length"] == length].itertuples())
    return [r for r in rows if chosen(r, rungs[length])]


def chosen(r: Any, rung: rules.Rung) -> bool:
    """A row of the rung's judged cells: its chosen rate at its longest budget."""
    train = r.config["train"]
    return float(train["lr"]) == rung.lr and (
        not rung.budget or int(train.get("steps") or 0) == rung.budget)


def pending(g: pd.DataFrame, rungs: dict[int, rules.Rung], state: rules.State,
            protocol: dict) -> int | None:
    """The failed length whose checks a search would still run, read back from its cells
    and the protocol it recorded (an interrupted run's): short of the ceiling (and of its
    tokens above the control, ``checks.rung_ceiling``), the seeds of
    one of the better half of its rates trained their whole budget and were still learning
    or short of the steps it needs (``failure.steps_needed``: k, at its default, x those of
    the shortest solved length; at the control, the ceiling's); None where no failure
    waits on more steps. A ceiling of 1 (the leaderboard v2's) extends nothing."""
    if state.hi is None:
        return None
    r = rungs[state.hi]
    ceiling, base = protocol.get("ceiling"), protocol.get("steps")
    if not (isinstance(ceiling, int) and isinstance(base, int)):
        return None
    tokens, batch = protocol.get("ceiling_tokens") or 0, protocol.get("batch_size") or 0
    if tokens and batch and state.hi != protocol.get("control"):
        ceiling = checks.rung_ceiling(ceiling, base, batch, state.hi, tokens)
    if r.budget >= ceiling * base:
        return None
    need = failure.steps_needed(rungs, r.length, protocol.get("control"),
                                Protocol().control_multiple)
    trials = trials_of(g)[state.hi]
    return state.hi if r.passed is False and failure.any_extendable(
        state.hi, trials, failure.halving(trials), need) else None
