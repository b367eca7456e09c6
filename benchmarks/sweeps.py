"""Sections 4, 5 and memory: whole sweeps through the runner, and one worker's peak memory.

    python -m benchmarks.sweeps [--fast] [--end-to-end [SUITE]]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Table, load
from memorybench.costs import duration, sweep_seconds
from memorybench.runner import default_workers, make_plan, run_plan
from memorybench.store import Store
from memorybench.sweep import Sweep, load_suite

RSS_SCRIPT = """
import json, resource, sys
from memorybench.sweep import Sweep
from memorybench.training import train_cell
task, model, length, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cell = Sweep(tasks=[task], models=[model], lengths=[length],
             train={"steps": steps, "eval_every": steps, "early_stop": False}).cells()[0]
row = train_cell(cell)
print(json.dumps({"status": row["status"], "error": row["error"], "wall": row["wall_time"],
                  "kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def sweep_time(cells: list[dict], workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        start = time.perf_counter()
        counts = run_plan(make_plan(cells, {}), store, workers=workers, progress=False)
        elapsed = time.perf_counter() - start
    if set(counts) != {"ok"}:
        raise RuntimeError(f"benchmark sweep did not train cleanly: {dict(counts)}")
    return elapsed


def scaling(fast: bool) -> Table:
    """Identical cells, so a perfect runner would be exactly twice as fast on two cores."""
    model, length, steps, seeds = ("gru", 10, 3, 2) if fast else ("lstm", 100, 150, 8)
    cells = Sweep(tasks=["copy"], models=[model], lengths=[length], seeds=list(range(seeds)),
                  train={"steps": steps, "eval_every": steps, "eval_size": 200,
                         "batch_size": 64, "early_stop": False}, model={"hidden": 64}).cells()
    table = Table(
        "4. Scaling: the same sweep with --workers 2 vs --workers 1",
        f"{len(cells)} cells of equal cost (copy x {model} x length {length}, seeds 0-"
        f"{seeds - 1}, {steps} steps, batch 64, hidden 64) through `runner.run_plan`, store "
        "included; --workers 2 includes starting the worker processes. A perfect runner "
        "gives 2.0x; target >= 1.7x. It needs two idle cores, so read it beside the load "
        "average. `estimate` is what `run --dry-run` predicts.",
        ["workers", "wall (s)", "estimate (s)", "speed-up", "load"])
    one = sweep_time(cells, 1)
    table.add(1, one, sweep_seconds(cells, 1), 1.0, load())
    two = sweep_time(cells, 2)
    table.add(2, two, sweep_seconds(cells, 2), one / two, load())
    return table


def end_to_end(suite: str = "quick") -> Table:
    workers = default_workers()
    cells = load_suite(suite)[0].cells()
    table = Table(
        "5. End to end: wall time of a whole suite",
        f"`memorybench run --suite {suite} --workers {workers}` into an empty store, process "
        "startup included; `estimate` is `run --dry-run`'s bound (full step budgets; early "
        "stopping ends most cells sooner). `python -m benchmarks --end-to-end standard` "
        "times the leaderboard's suite the same way (target <= 90 min).",
        ["suite", "cells", "workers", "wall", "estimate", "load at start", "load at end"])
    with tempfile.TemporaryDirectory() as tmp:
        before = load()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "memorybench", "run", "--suite", suite, "--db",
                        str(Path(tmp) / "e2e.db"), "--workers", str(workers), "--quiet"],
                       check=True, capture_output=True)
        wall = time.perf_counter() - start
    table.add(suite, len(cells), workers, duration(wall), duration(sweep_seconds(cells, workers)),
              before, load())
    return table


def memory(fast: bool) -> Table:
    runs = [("adding", "lstm", 10, 1)] if fast else [
        ("copy", m, 500, 2) for m in ("lstm2", "birnn", "orthogonal", "attention", "encoder")
    ] + [("adding", m, 400, 2) for m in ("lstm2", "orthogonal", "attention")]
    table = Table(
        "Memory: peak resident memory of one worker",
        "One cell in a fresh process at the longest lengths the task specs sweep, model at "
        "its spec size, spec batch (128) and a full evaluation (1,000 examples) after the "
        "training steps; `ru_maxrss` of that process (torch and imports included). Target "
        "< 2 GiB.",
        ["task", "model", "length", "status", "peak RSS (MiB)", "load"])
    for task, model, length, steps in runs:
        out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, task, model, str(length),
                              str(steps)], check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        table.add(task, model, length, row["status"], row["kib"] / 1024, load())
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny sweeps: a smoke test")
    parser.add_argument("--end-to-end", nargs="?", const="quick", metavar="SUITE",
                        help="also time a whole suite (default: quick)")
    args = parser.parse_args()
    tables = [scaling(args.fast), memory(args.fast)]
    if args.end_to_end:
        tables.append(end_to_end(args.end_to_end))
    for table in tables:
        print(table.markdown())


if __name__ == "__main__":
    main()
