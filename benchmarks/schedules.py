"""Learning-rate schedules for horizon-search cells: a constant rate, warm-up + cosine decay,
or reduce-on-plateau, on slow-learning cells at about 6,500 parameters.

    python -m benchmarks.schedules                         # everything below: ~12 minutes, one core
    python -m benchmarks.schedules --cell copy-gru --steps 300 --seeds 0   # a smoke test

Why it matters: a horizon search extends a cell's budget by continuing it from a
checkpoint (1,000 steps, then on to 2,000). A constant rate and reduce-on-plateau continue
exactly; cosine decays towards a total budget fixed in advance and cannot. So the question
is whether cosine is clearly better on the cells where the schedule could matter.

Each run is a cell of memorybench built as ``memorybench run`` builds it (``Sweep``, with
``params`` for the width), trained on its own training stream with ``training.train_steps``
one step at a time, so that a ``torch.optim.lr_scheduler`` can step between them. No early
stop: every run spends the whole budget. Reported per (cell, schedule, lr) and seed: the
held-out metric at the end, and the first evaluation at which it reached the task's solved
threshold ("—": never).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from benchmarks.harness import load, machine
from memorybench.catalog import task_of
from memorybench.cells import TRAIN_STREAM
from memorybench.sweep import Sweep
from memorybench.tasks.base import input_rows
from memorybench.training import (
    build_model,
    evaluate,
    held_out_set,
    make_optimizer,
    setup_worker,
    train_steps,
)

SCHEDULES = ("constant", "cosine", "plateau")
WARMUP = 0.05  # share of the budget that cosine spends warming up linearly from 0
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 3  # halve after 3 evaluations without a new best


@dataclass(frozen=True)
class CellSpec:
    """A (task, model, length) cell with the overrides that make it a slow learner."""

    task: str
    model: str
    length: int
    task_params: dict = field(default_factory=dict)
    model_params: dict = field(default_factory=dict)


CELLS = {
    "copy-gru": CellSpec("copy", "gru", 8, {"symbols": 4}),
    "copy-lstm": CellSpec("copy", "lstm", 8, {"symbols": 4}),
    "selective-copy-s4d": CellSpec("selective-copy", "s4d", 32, {"tokens": 4}, {"layers": 2}),
}


@dataclass
class Outcome:
    """One run: the held-out metric at the end, the first step it reached the threshold."""

    metric: float
    solved_at: int | None
    seconds: float
    diverged_at: int | None = None


def scheduler_for(name: str, optimizer: torch.optim.Optimizer, steps: int):
    """The schedule's scheduler (None: constant). Cosine steps after every optimizer step,
    reduce-on-plateau after every evaluation, on the held-out loss."""
    if name == "constant":
        return None
    if name == "cosine":
        warm = max(1, round(WARMUP * steps))

        def factor(step: int) -> float:  # step: optimizer steps taken so far
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE)
    raise ValueError(f"schedule {name!r}; expected one of {', '.join(SCHEDULES)}")


def train(spec: CellSpec, schedule: str, lr: float, seed: int, args) -> Outcome:
    """Train one cell under ``schedule`` for ``args.steps`` steps and score it."""
    start = time.perf_counter()
    cell = Sweep(tasks=[spec.task], models=[spec.model], lengths=[spec.length], seeds=[seed],
                 train={"lr": lr, "steps": args.steps, "batch_size": args.batch_size,
                        "eval_every": args.eval_every, "eval_size": args.eval_size,
                        "early_stop": False},
                 task=dict(spec.task_params), model=dict(spec.model_params),
                 params=args.params).cells()[0]
    task, cfg, dev = task_of(cell), cell.train, torch.device("cpu")
    model = build_model(cell, task)
    optimizer = make_optimizer(model, cfg)
    scheduler = scheduler_for(schedule, optimizer, cfg.steps)
    rng = np.random.default_rng([seed, TRAIN_STREAM])  # the cell's own training stream
    held_out = held_out_set(task, cfg, spec.length, seed)
    unseen = input_rows(task, held_out)
    params = [p for p in model.parameters() if p.requires_grad]
    metric, solved_at = float("nan"), None
    for step in range(1, cfg.steps + 1):
        if train_steps(model, optimizer, params, task, cfg, spec.length, rng, step, step, dev,
                       exclude=unseen):
            return Outcome(float("nan"), solved_at, time.perf_counter() - start, step)
        if schedule == "cosine":
            scheduler.step()
        if step % cfg.eval_every and step != cfg.steps:
            continue
        metrics = evaluate(model, task, held_out)
        metric = metrics[task.metric]
        if solved_at is None and metric >= task.solved:
            solved_at = step
        if schedule == "plateau":
            scheduler.step(metrics["loss"])
    return Outcome(metric, solved_at, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", action="append", choices=sorted(CELLS),
                        help="cell (repeat); default: all")
    parser.add_argument("--schedule", action="append", choices=SCHEDULES,
                        help="schedule (repeat); default: all")
    parser.add_argument("--lrs", default="1e-2,3e-3", help="comma-separated base rates")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--steps", type=int, default=3000, help="budget per run")
    parser.add_argument("--params", type=int, default=6500, help="trainable parameters")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-size", type=int, default=256, help="held-out examples")
    args = parser.parse_args(argv)
    setup_worker()
    lrs = [float(v) for v in args.lrs.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    print("\n".join(machine()), file=sys.stderr, flush=True)

    columns = ["cell", "schedule", "lr", *[f"final (seed {s})" for s in seeds],
               *[f"solved at (seed {s})" for s in seeds], "seconds"]
    rows = []
    for name in args.cell or list(CELLS):
        for lr in lrs:
            for schedule in args.schedule or SCHEDULES:
                runs = [train(CELLS[name], schedule, lr, seed, args) for seed in seeds]
                row = [name, schedule, f"{lr:g}",
                       *[f"{r.metric:.3f}" if r.diverged_at is None
                         else f"diverged at {r.diverged_at}" for r in runs],
                       *["—" if r.solved_at is None else f"{r.solved_at:,}" for r in runs],
                       f"{sum(r.seconds for r in runs):.0f}"]
                rows.append(row)
                print("  " + " | ".join(row), file=sys.stderr, flush=True)

    print(f"{args.steps:,} steps, batch {args.batch_size}, ~{args.params:,} parameters, "
          f"held-out metric on {args.eval_size} examples every {args.eval_every} steps; "
          f"cosine: {WARMUP:.0%} linear warm-up, then to 0; plateau: x{PLATEAU_FACTOR} after "
          f"{PLATEAU_PATIENCE} evaluations without a lower held-out loss. "
          f"Load average at the end: {load()}.\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
