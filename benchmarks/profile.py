"""Where a training step's time goes, and what flushing float32 denormals buys.

    python -m benchmarks.profile                       # lstm and elman on copy, T=100
    python -m benchmarks.profile --model gru --task adding --length 200 --steps 30
    python -m benchmarks.profile --denormals           # elman, flush on vs off

The profile runs ``training.train_steps`` (the loop every cell trains with) under
``torch.profiler`` and lists the operators with the most self CPU time, and the share of
the wall time spent outside any operator (Python, data generation, the loop itself).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.harness import Table, load, optimizer, rng, setup
from memorybench.training import train_steps

BATCH, HIDDEN = 64, 64


def _runner(task: str, model: str, length: int):
    s = setup(task, model, length, {"batch_size": BATCH}, {"hidden": HIDDEN})
    opt, gen = optimizer(s), rng()
    params = [p for p in s.model.parameters() if p.requires_grad]

    def run(n: int) -> None:
        train_steps(s.model, opt, params, s.task, s.cfg, length, gen, 1, n,
                    torch.device("cpu"))
    return run


def operator_profile(task: str, model: str, length: int, steps: int, top: int = 8,
                     number: str = "7") -> Table:
    run = _runner(task, model, length)
    run(2)  # warm-up
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(steps)
    wall = time.perf_counter() - start
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    in_ops = sum(e.self_cpu_time_total for e in events) / 1e6
    table = Table(
        f"{number}. Profile: {model} on {task}, T={length}, batch {BATCH}, hidden {HIDDEN}, "
        f"{steps} steps",
        f"Self CPU time per operator under torch.profiler (one thread); wall {wall:.2f} s "
        f"(profiler overhead included); outside any operator: {max(0.0, 1 - in_ops / wall):.1%}"
        f". Load: {load()}.",
        ["operator", "calls", "self CPU (ms)", "share of wall"])
    for e in events[:top]:
        table.add(e.key, e.count, e.self_cpu_time_total / 1e3,
                  f"{e.self_cpu_time_total / 1e6 / wall:.1%}")
    return table


def denormals(lengths: list[int], steps: int) -> Table:
    """Steps per second of an Elman RNN on adding, denormals flushed or not, fresh models
    (same seed, same data) in alternating order."""
    table = Table(
        "7. Profile: denormals, Elman RNN on adding, float32 denormals flushed to zero or not",
        f"Steps/s over {steps} steps of `train_steps`, batch {BATCH}, hidden {HIDDEN}, one "
        "thread; the gradient of a tanh RNN shrinks geometrically with distance and reaches "
        "the denormal range (< 1.2e-38) at long lengths.",
        ["length", "flushed steps/s", "not flushed steps/s", "speed-up", "load"])
    for length in lengths:
        rates = {}
        for flush in (False, True):
            torch.set_flush_denormal(flush)
            run = _runner("adding", "elman", length)
            run(2)
            start = time.perf_counter()
            run(steps)
            rates[flush] = steps / (time.perf_counter() - start)
        torch.set_flush_denormal(False)
        table.add(length, rates[True], rates[False], f"{rates[True] / rates[False]:.2f}x",
                  load())
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model (repeat); default lstm, elman")
    parser.add_argument("--task", default="copy")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--denormals", action="store_true",
                        help="compare flushed and unflushed denormals instead")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in every worker
    if args.denormals:
        print(denormals([100, 200, 400], args.steps).markdown())
        return
    for model in args.model or ["lstm", "elman"]:
        print(operator_profile(args.task, model, args.length, args.steps).markdown())


if __name__ == "__main__":
    main()
