"""What commands print on the terminal: the plan of a sweep, its outcome and summary table,
and the table of diagnostics. Tables go to standard output, notes to standard error. The
cost model, the model checks and the report are imported inside the functions that use
them: every command imports this module, and most never train."""

from __future__ import annotations

import json

import click

from memorybench.errors import printable


def echo(text: object = "", err: bool = False, nl: bool = True) -> None:
    """``click.echo`` of text for a terminal: each line through ``errors.printable``, as
    names (a task, a model, a file) come from files anyone may have written, and an escape
    sequence in one must be shown, not obeyed. Data (JSON, csv) is echoed as it is."""
    click.echo("\n".join(printable(line) for line in str(text).split("\n")), err=err, nl=nl)


def print_outcome(outcome, db, fmt: str = "text", summary: bool = True) -> None:
    """After a sweep (``runner.run_sweep``): its summary table (unless not ``summary``),
    what was trained, and the failed cells a retry would train again."""
    if summary:
        print_summary(outcome.frame, fmt)
    counts = outcome.counts
    trained = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    echo(f"trained {sum(counts.values())} cells ({trained}); results in {db}", err=True)
    failed = int((outcome.frame["status"] == "failed").sum())
    if failed > counts.get("failed", 0):
        echo(f"{failed} cells of this sweep are stored as failed; train them again "
                   "with --retry-failed", err=True)


def print_plan(plan, workers: int, fmt: str = "text") -> None:
    """One line per cell with its estimated seconds at most, then the sweep's wall time
    (``fmt`` json: one object with the cells and the estimates)."""
    from memorybench.costs import cell_seconds, duration, sweep_seconds

    stored = {c.key for c in plan.stored}
    if fmt == "json":
        need = max((cell_memory(c) or 0 for c in plan.todo), default=0)
        click.echo(json.dumps({
            "cells": [{**{k: v for k, v in c.config().items() if k in SUMMARY_KEYS},
                       "state": "stored" if c.key in stored else "run",
                       "estimated_seconds": round(cell_seconds(c), 1)} for c in plan.cells],
            "to_run": len(plan.todo), "stored": len(plan.stored), "workers": workers,
            "estimated_seconds": round(sweep_seconds(plan.todo, workers), 1),
            "largest_memory_bytes": need or None}, indent=1))
        return
    echo(f"{'task':<12} {'model':<12} {'length':>7} {'seed':>5}  {'state':<7} "
               f"{'est.':>7} key")
    for c in plan.cells:
        state = "stored" if c.key in stored else "run"
        echo(f"{c.task:<12} {c.model:<12} {c.length:>7} {c.seed:>5}  "
                   f"{state:<7} {duration(cell_seconds(c)):>7} {c.key}")
    echo(f"{len(plan.cells)} cells: {len(plan.todo)} to run, {len(plan.stored)} "
               "already stored")
    total = sum(cell_seconds(c) for c in plan.todo)
    need = max((cell_memory(c) or 0 for c in plan.todo), default=0)
    if need:
        echo(f"largest memory need of a cell: about {need / 2 ** 20:,.0f} MiB "
                   "(parameters, gradients, optimizer state and activations; "
                   "memorybench/models/checks.py)")
    echo(f"estimated time: at most {duration(sweep_seconds(plan.todo, workers))} with "
               f"{workers} worker{'s' * (workers > 1)} ({duration(total)} of training in all; "
               "early stopping usually ends cells sooner; model: memorybench/costs.toml)")


SUMMARY_KEYS = ("task", "model", "length", "seed", "key")


def print_summary(frame, fmt: str = "text") -> None:
    """Mean metric over seeds per task/model/length, and how many seeds solved the cell
    (``fmt`` json: a list of those rows)."""
    import pandas as pd

    if frame.empty:
        if fmt == "json":
            click.echo("[]")
        return
    grouped = frame.groupby(["task", "model", "length"]).agg(
        metric=("metric_name", "first"), mean=("metric", "mean"), chance=("chance", "first"),
        solved=("solved", "sum"), seeds=("seed", "count"), params=("params", "max"),
        not_ok=("status", lambda s: int((s != "ok").sum())))
    if fmt == "json":
        rows = [{"task": task, "model": model, "length": int(length),
                 "metric": row["metric"], "mean": None if pd.isna(row["mean"]) else
                 float(row["mean"]), "chance": None if pd.isna(row["chance"]) else
                 float(row["chance"]), "solved": int(row["solved"]), "seeds": int(row["seeds"]),
                 "params": None if pd.isna(row["params"]) else int(row["params"]),
                 "not_ok": int(row["not_ok"])}
                for (task, model, length), row in grouped.iterrows()]
        click.echo(json.dumps(rows, indent=1))
        return
    echo(f"{'task':<12} {'model':<12} {'length':>7} {'params':>8}  {'metric':<10} "
               f"{'mean':>6} {'chance':>6}  solved  not ok")
    for (task, model, length), row in grouped.iterrows():
        mean = "nan" if pd.isna(row["mean"]) else f"{row['mean']:.3f}"
        chance = "" if pd.isna(row["chance"]) else f"{row['chance']:.3f}"
        params = "" if pd.isna(row["params"]) else f"{int(row['params'])}"
        echo(f"{task:<12} {model:<12} {length:>7} {params:>8}  {str(row['metric']):<10} "
                   f"{mean:>6} {chance:>6}  {int(row['solved'])}/{row['seeds']:<4}  "
                   f"{row['not_ok']}")


def cell_memory(cell) -> int | None:
    """``models.checks.memory_estimate`` of a cell's training batch (None for a baseline)."""
    from memorybench.catalog import core_class_of, task_of
    from memorybench.models.checks import memory_estimate

    if cell.is_baseline:
        return None
    task = task_of(cell)
    return memory_estimate(task.io, core_class_of(cell), cell.model_params,
                           cell.train.batch_size, task.sequence_steps(cell.length))


def print_diagnostics(frame, keys: set[str], steps: int) -> None:
    """Per model and seed: the per-step gradient factor at init and after training, the
    trained metric and whether the model learned anything; a note for those at chance."""
    from memorybench.report import diagnostics as report_diagnostics

    frame = frame[frame["key"].isin(keys) & (frame["status"] == "ok")]
    if len(frame):
        echo(f"{'model':<12} {'seed':>4}  {'factor init':>11}  {'factor trained':>14}  "
                   f"{'steps':>6}  {'metric trained':<24} {'chance':>6}  state")
    at_chance = []
    for _, row in frame.sort_values(["model", "seed"]).iterrows():
        res = json.loads(row["result"])
        metric, chance = res["trained"]["metric"], res["chance"]
        state = report_diagnostics.learning_state(metric, chance, res["solved_threshold"])
        if state == "at chance":
            at_chance.append(f"{row['model']} (seed {row['seed']})")
        echo(f"{row['model']:<12} {row['seed']:>4}  "
                   f"{_fmt(res['init']['gradient']['factor']):>11}  "
                   f"{_fmt(res['trained']['gradient']['factor']):>14}  "
                   f"{res['trained']['steps']:>6}  "
                   f"{res['metric_name'] + ' ' + format(metric, '.3f'):<24} "
                   f"{chance:>6.3f}  {state}")
    if at_chance:
        echo(f"note: {', '.join(at_chance)} ended at chance level after at most {steps} "
                   "steps: their 'trained' curves are those of models that have not learned "
                   f"the task yet; raise --steps or shorten --length", err=True)


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4f}"
