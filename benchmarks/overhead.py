"""Sections 1 and 3: what memorybench costs over the loop a user would write by hand, and
what share of a cell its evaluations take.

The plain loop is the honest alternative to memorybench: the same model class, the same
data generator and batch, Adam and gradient clipping, nothing else (no evaluation, no
divergence check). memorybench's side is ``training.train_steps``, the code every cell
trains with; the two are timed in alternating rounds on twin models (same seed, same data),
so a change in the machine's load hits both. Both use Adam here (expRNN's RMSprop would
compare two optimizers, not two loops).

    python -m benchmarks.overhead [--fast] [--model lstm]
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.harness import Setup, Table, load, median, optimizer, rng, setup, timed
from memorybench.catalog import model_class, model_names, versions
from memorybench.models.base import Core
from memorybench.training import evaluate, train_cell, train_steps

TASK, LENGTH, BATCH, HIDDEN = "copy", 100, 64, 64


def plain_loop(net: torch.nn.Module, opt: torch.optim.Optimizer, s: Setup, gen,
               steps: int) -> None:
    """The script a user would write instead of memorybench."""
    for _ in range(steps):
        data = s.task.sample(BATCH, LENGTH, gen)
        loss = s.task.loss(net(data.x), data)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()


def measure(model: str, steps: int, rounds: int) -> dict:
    """Steps per second of both loops (median of ``rounds`` alternating rounds of ``steps``
    steps), of a whole cell, and the seconds of one evaluation of 1,000 examples."""
    train = {"batch_size": BATCH, "optimizer": "adam", "lr": 1e-3, "clip": 1.0}
    mine, theirs = (setup(TASK, model, LENGTH, train, {"hidden": HIDDEN}) for _ in range(2))
    net = theirs.model
    opt_plain = torch.optim.Adam(net.parameters(), lr=1e-3)
    opt_mine = optimizer(mine)
    params = [p for p in mine.model.parameters() if p.requires_grad]
    gen_plain, gen_mine = rng(), rng()

    def ours(n: int) -> None:
        train_steps(mine.model, opt_mine, params, mine.task, mine.cfg, LENGTH, gen_mine, 1, n,
                    torch.device("cpu"))

    plain_loop(net, opt_plain, theirs, gen_plain, 2)  # warm-up: allocations, kernel choice
    ours(2)
    plain_rates, our_rates, ratios = [], [], []
    for _ in range(rounds):
        plain = steps / timed(plain_loop, net, opt_plain, theirs, gen_plain, steps)
        mem = steps / timed(ours, steps)
        plain_rates.append(plain)
        our_rates.append(mem)
        ratios.append(mem / plain)

    # A whole cell through train_cell (model building, held-out data, evaluations), with
    # evaluations as frequent relative to training as in the task's spec (1,000 examples
    # every 250 steps), against the plain loop on the same number of steps.
    total = steps * rounds
    eval_size = max(1, round(1000 * total / 250))
    cell = mine.cell.with_train(steps=total, eval_every=total, eval_size=eval_size)
    versions()  # once per process (a git call): process startup, not the cell
    cell_time = timed(train_cell, cell)
    plain_time = timed(plain_loop, net, opt_plain, theirs, gen_plain, total)

    held_out = mine.task.sample(1000, LENGTH, rng(1))
    evaluate(mine.model, mine.task, held_out)
    eval_time = median([timed(evaluate, mine.model, mine.task, held_out) for _ in range(2)])
    return {"plain": median(plain_rates), "ours": median(our_rates), "ratio": median(ratios),
            "cell_ratio": plain_time / cell_time, "eval": eval_time}


def core_models() -> list[str]:
    return [m for m in model_names() if issubclass(model_class(m), Core)]


def run(models: list[str], fast: bool) -> tuple[Table, Table]:
    steps, rounds = (2, 1) if fast else (15, 3)
    overhead = Table(
        "1. Overhead: memorybench's training loop vs a plain PyTorch loop",
        f"{TASK}, length {LENGTH} ({LENGTH + 20} time steps), batch {BATCH}, hidden {HIDDEN}, "
        f"one thread; median of {rounds} alternating rounds of {steps} steps. "
        "`ratio` = memorybench steps/s / plain steps/s (target >= 1.0). `whole cell` = the "
        "same ratio for a whole `train_cell` with evaluations at the spec's rate "
        "(1,000 examples per 250 steps) and model/data setup included.",
        ["model", "plain steps/s", "memorybench steps/s", "ratio", "whole cell", "load"])
    evaluation = Table(
        "3. Evaluation: share of a cell's time spent evaluating",
        f"Measured at the same setting. One evaluation = 1,000 held-out examples under "
        f"`torch.inference_mode()` in chunks of 500. Share = eval time / (train time + eval "
        f"time) at the spec protocol (every 250 steps, batch 128 -> twice the step time "
        f"measured at batch {BATCH}) and at the `quick` suite's (500 examples every 100 "
        "steps, batch 64). Target < 10%.",
        ["model", "s/step (batch 64)", "s per eval of 1000", "share (spec)", "share (quick)"])
    for model in models:
        m = measure(model, steps, rounds)
        overhead.add(model, m["plain"], m["ours"], m["ratio"], m["cell_ratio"], load())
        step = 1 / m["ours"]
        spec = m["eval"] / (250 * 2 * step + m["eval"])
        quick = m["eval"] / 2 / (100 * step + m["eval"] / 2)
        evaluation.add(model, step, m["eval"], f"{spec:.1%}", f"{quick:.1%}")
    return overhead, evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model (repeat); default: all")
    parser.add_argument("--fast", action="store_true", help="a few steps: a smoke test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for table in run(args.model or core_models(), args.fast):
        print(table.markdown())


if __name__ == "__main__":
    main()
