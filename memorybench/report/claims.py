"""Does a run show what the literature shows? ``claims.toml`` states each classic result;
this module checks it against a report's per-length means and says which numbers decided.

A claim is checked only when the report holds its task and every model it names; otherwise
it is left out. The verdict is "holds" or "does not hold", never a number picked by hand,
or "not measured" where the run cannot test it (no length run for every model it compares,
no model with an effect to measure). Claims of ``kind = "horizon"`` are checked on the
report's horizon searches (``horizon_claims``) wherever it holds any, and read "not
measured" when a search they need is absent or a length they ask about was not trained;
there, a length-sweep claim that a horizon claim restates (``restated_by``) gives way to
it. Every note is this run's (``evaluate``).
"""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pandas as pd

from memorybench.report import horizon_claims
from memorybench.report.summary import attractor_frame, by_length
from memorybench.report.tables import Table, number

HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured"
MIN_DROP = 0.01  # accuracy lost per attractor that counts as falling
LEARNED = 0.1  # above chance by this much: the model learned the task at that length
CEILING = 1 - MIN_DROP  # every attractor count at least this accurate: no room to fall


def load() -> list[dict]:
    text = resources.files("memorybench.report").joinpath("claims.toml").read_text("utf-8")
    return tomllib.loads(text)["claim"]


def _mean(rows: pd.DataFrame, model: str, length: int) -> pd.Series | None:
    hit = rows[(rows["model"] == model) & (rows["length"] == length)]
    return None if hit.empty else hit.iloc[0]


def _models_of(claim: dict) -> list[str]:
    if claim["kind"] == "outlasts":
        return [*claim["strong"], *claim["weak"]]
    if claim["kind"] == "window":
        return [claim["model"]]
    return list(claim["models"])


def outlasts(claim: dict, scores: pd.DataFrame) -> tuple[bool | None, str]:
    """A length where every strong model is solved and every weak one is not (and, with
    ``weak_near_chance``, sits within that distance of chance); not measured where no
    length was run for every one of them."""
    rows = scores[scores["task"] == claim["task"]]
    near = claim.get("weak_near_chance")
    lines, found = [], None
    for length in sorted(rows["length"].unique()):
        strong = [r for m in claim["strong"] if (r := _mean(rows, m, length)) is not None]
        weak = [r for m in claim["weak"] if (r := _mean(rows, m, length)) is not None]
        if len(strong) < len(claim["strong"]) or len(weak) < len(claim["weak"]):
            continue  # a model not run at this length
        ok = all(r["solved"] for r in strong) and not any(r["solved"] for r in weak)
        if near is not None:
            ok = ok and all(r["mean"] <= r["chance"] + near for r in weak)
        parts = [f"{r['model']} {number(r['mean'])}" for r in strong + weak]
        lines.append(f"T={length}: " + ", ".join(parts))
        if ok and found is None:
            found = length
    chance = rows["chance"].dropna()
    level = f" (chance {number(chance.iloc[0])})" if len(chance) else ""
    if found is not None:
        return True, f"at T={found}{level}; " + "; ".join(lines)
    if not lines:
        return None, "no length was run for every one of them"
    return False, "no length separates them" + level + "; " + "; ".join(lines)


def window(claim: dict, scores: pd.DataFrame) -> tuple[bool | None, str]:
    """The model is solved at no length beyond its window, on any task; not measured where
    no length beyond it was run."""
    rows = scores[(scores["model"] == claim["model"]) & (scores["length"] > claim["window"])]
    if rows.empty:
        return None, f"no length beyond {claim['window']} was run"
    solved = rows[rows["solved"]]
    best = rows.loc[rows["mean"].idxmax()] if rows["mean"].notna().any() else None
    tail = (f"best beyond the window: {best['task']} T={best['length']} "
            f"{number(best['mean'])}" if best is not None else "")
    if solved.empty:
        return True, f"solved at none of {len(rows)} (task, length) pairs beyond " \
                     f"{claim['window']}; {tail}"
    where = ", ".join(f"{r.task} T={r.length}" for r in solved.itertuples())
    return False, f"solved beyond its window at {where}"


def attractors(claim: dict, frame: pd.DataFrame, scores: pd.DataFrame
               ) -> tuple[bool | None, str]:
    """Change in accuracy per attractor, a least-squares slope within each length (so that
    length and attractor count are not confounded), averaged over the lengths where the
    model beats chance by ``learned`` and has room to fall (some attractor count below
    ``CEILING``): a model at chance or right on every example shows no attractor effect to
    measure. The first model must lose at least ``min_drop`` per attractor and fall more
    steeply than every other model measured; not measured where the first model, or every
    other, has no such length."""
    attr = attractor_frame(frame[frame["task"] == claim["task"]])
    rows = scores[scores["task"] == claim["task"]]
    learned = claim.get("learned", LEARNED)
    slopes, parts = {}, []
    for model in claim["models"]:
        per_length, at_chance, at_ceiling = [], [], []
        for length, g in attr[attr["model"] == model].groupby("length"):
            summary_row = _mean(rows, model, length)
            means = g.groupby("attractors")["accuracy"].mean()
            if summary_row is None or len(means) < 2:
                continue
            if summary_row["mean"] < summary_row["chance"] + learned:
                at_chance.append(f"T={length}")
                continue
            if means.min() >= CEILING:
                at_ceiling.append(f"T={length}")
                continue
            x = means.index.to_numpy(float)
            per_length.append(float(np.polyfit(x, means.to_numpy(), 1)[0]))
        if per_length:
            slopes[model] = float(np.mean(per_length))
            parts.append(f"{model} {round(slopes[model], 3) + 0.0:+.3f}")
        else:
            why = [f"{kind} ({', '.join(at)})" for kind, at in (
                ("at chance", at_chance), ("right on every example", at_ceiling)) if at]
            parts.append(f"{model} not measured: " + ("; ".join(why) or "no lengths"))
    first, *others = claim["models"]
    falls = -claim.get("min_drop", MIN_DROP)
    measured = [m for m in others if m in slopes]
    ok: bool | None
    if first not in slopes:
        ok = None
    elif slopes[first] > falls or any(slopes[first] >= slopes[m] for m in measured):
        ok = False
    else:
        ok = True if measured else None
    return ok, ("accuracy change per attractor, mean over the lengths where the model beats "
                f"chance by {learned} and is not right on every example: " + ", ".join(parts))


def loss_below(claim: dict, frame: pd.DataFrame, scores: pd.DataFrame) -> tuple[bool, str]:
    """At every length run, every listed model's mean held-out loss is below ``loss`` (a
    memoryless model's), whether or not its metric reaches the solved threshold."""
    task = frame[frame["task"] == claim["task"]]
    losses = by_length(task, "loss")
    rows = scores[scores["task"] == claim["task"]]
    ok, parts = True, []
    for model in claim["models"]:
        mine = losses[losses["model"] == model]
        for r in mine.itertuples():
            below = r.mean == r.mean and r.mean < claim["loss"]
            ok = ok and below
            metric = _mean(rows, model, r.length)
            tail = f", {number(metric['mean'])} solved" if metric is not None and \
                metric["solved"] else (f", metric {number(metric['mean'])}"
                                       if metric is not None else "")
            parts.append(f"{model} T={r.length}: loss {number(r.mean)}{tail}")
    return ok, f"memoryless loss {number(claim['loss'])}; " + "; ".join(parts)


def evaluate(frame: pd.DataFrame, scores: pd.DataFrame,
             found: list[dict] | None = None) -> Table | None:
    """The claims this report can check, with verdicts and the deciding numbers; horizon
    claims on the searches ``found`` (``searches.results``), when there are any. A claim
    its run cannot test (lengths it did not train, no model with an effect to measure)
    reads "not measured". Each note is this run's: computed from its cells
    (``horizon_claims.run_note``), or a text of ``claims.toml`` measured on a run with this
    one's settings (``measured_on``, ``run_facts``), never one about another run."""
    models = set(frame["model"])
    rows, notes = [], []
    for claim in load():
        facts = run_facts(claim, frame, found or [])
        if claim["kind"] == "horizon":
            if not found:
                continue
            verdict, evidence = horizon_claims.evaluate(claim, found)
            rows.append([claim["text"], verdict, evidence, claim["citation"]])
            notes += _notes(claim, verdict, facts)
            ours = horizon_claims.run_note(claim, found)
            notes += [f"On “{claim['text']}”, this run: {ours}"] if ours else []
            continue
        if found and claim.get("restated_by"):
            continue  # its horizon version, at the literature's lengths, is shown instead
        if "task" in claim:  # its models must have run on its task, not just anywhere
            present = set(frame.loc[frame["task"] == claim["task"], "model"])
        else:
            present = models
        if not set(_models_of(claim)) <= present:
            continue
        ok: bool | None
        if claim["kind"] == "outlasts":
            ok, evidence = outlasts(claim, scores)
        elif claim["kind"] == "window":
            ok, evidence = window(claim, scores)
        elif claim["kind"] == "loss_below":
            ok, evidence = loss_below(claim, frame, scores)
        else:
            ok, evidence = attractors(claim, frame, scores)
        verdict = NOT_MEASURED if ok is None else HOLDS if ok else FAILS
        rows.append([claim["text"], verdict, evidence, claim["citation"]])
        notes += _notes(claim, verdict, facts)
    if not rows:
        return None
    return Table(["claim", "verdict", "our numbers (mean over seeds)", "source"], rows, notes)


def run_facts(claim: dict, frame: pd.DataFrame, found: list[dict]) -> dict:
    """What a claim's run was, for the ``measured_on`` of its texts: the suites its task's
    searches recorded (None for none, or for a length sweep), the networks' base budgets
    of steps, and the lengths run (every task's, for a claim without one)."""
    task = claim.get("task")
    mine = [s for s in found if task is None or s["task"] == task]
    rows = frame if task is None else frame[frame["task"] == task]
    networks = [c for c in rows["config"] if c.get("model_kind") != "baseline"]
    steps = ({s["steps"] for s in mine if s.get("steps")} if mine else
             {int((c.get("train") or {}).get("steps") or 0) for c in networks})
    return {"suite": {s["protocol"].get("suite") for s in mine} or {None}, "steps": steps,
            "lengths": sorted({int(n) for n in rows["length"]})}


def measured_here(claim: dict, facts: dict) -> bool:
    """Whether the run of ``facts`` is the one the claim's texts were measured on
    (``measured_on``: a suite, a budget of steps, the lengths run; each must be this run's
    only one)."""
    for key, value in claim.get("measured_on", {}).items():
        if facts.get(key) != (sorted(value) if key == "lengths" else {value}):
            return False
    return True


def _notes(claim: dict, verdict: str, facts: dict) -> list[str]:
    """The claim's note whatever the verdict (``note``: words that hold for any run), and,
    only where this run is the one they quote (``measured_here``), its measurements
    (``measured``) and, where it does not hold, its explanation."""
    notes = []
    here = measured_here(claim, facts)
    if verdict == FAILS and claim.get("explanation") and here:
        notes.append(f"Why “{claim['text']}” does not hold here: {claim['explanation']}")
    if claim.get("note"):
        notes.append(f"On “{claim['text']}”: {claim['note']}")
    if claim.get("measured") and here:
        notes.append(f"On “{claim['text']}”: {claim['measured']}")
    return notes
