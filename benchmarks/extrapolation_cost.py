"""What a searched cell's extrapolation pass costs, in its own training steps: after
training, every cell scores the network on ``test_size`` fresh examples at 2, 4 and 8 times
its length (``evaluation.extrapolation``). A recurrent core's pass grows with the length;
attention's with its square, so at long lengths it can rival the training itself.

    python -m benchmarks.extrapolation_cost                  # the default cases below
    python -m benchmarks.extrapolation_cost --case copy,attention,64 --rounds 3

Each case is the standard suite's searched cell (its ``[horizon]`` settings, about 20,000
parameters, seed 0, the first rate of the grid) at an untrained initialisation: the pass
costs what the shapes cost, whatever the weights. One thread, denormals flushed; a training
step is the least of ``--rounds`` rounds of ``--steps`` steps, the pass is timed once.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.harness import least_rounds, load, stepper
from memorybench import catalog
from memorybench.config import Request
from memorybench.evaluation import extrapolation
from memorybench.horizon.plan import plan_searches, search_sweep
from memorybench.training import build_model, setup_worker

CASES = ["agreement,attention,256", "copy,attention,128", "recall,attention,64",
         "recall,mamba,128", "copy,lstm,256", "adding,orthogonal,256", "parity,gru,128"]


def measure(task_name: str, model: str, length: int, rounds: int, steps: int
            ) -> dict[str, float | int]:
    """A training step's milliseconds, the extrapolation pass's seconds, the cell's base
    budget of steps, and the pass in steps."""
    sweep, protocol = search_sweep(Request("standard", tasks=[task_name], models=[model]))
    (search,) = plan_searches(sweep, protocol)
    cell = search.cells(length)[0]
    task = catalog.task_of(cell)
    torch.manual_seed(0)
    net = build_model(cell, task)
    step = stepper(net, task, cell.train, length)
    step()  # warm-up
    ms = least_rounds({"step": step}, rounds, steps)["step"]
    start = time.perf_counter()
    extrapolation(net, task, cell, torch.device("cpu"))
    seconds = time.perf_counter() - start
    return {"ms": ms, "seconds": seconds, "budget": cell.train.steps,
            "steps": seconds * 1e3 / ms}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append",
                        help="task,model,length (repeat); default: " + " ".join(CASES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    setup_worker()
    print(f"load average at the start: {load()}\n")
    print("| task | model | T | ms per training step | extrapolation pass (2x, 4x, 8x) s | "
          "in training steps | share of a cell at its base budget |\n|---|---|---|---|---|---|---|")
    for case in args.case or CASES:
        task_name, model, length = case.split(",")
        m = measure(task_name, model, int(length), args.rounds, args.steps)
        share = m["steps"] / (m["budget"] + m["steps"])
        print(f"| {task_name} | {model} | {length} | {m['ms']:.0f} | {m['seconds']:.1f} | "
              f"{m['steps']:.0f} | {share:.0%} of {m['budget']:,} steps |", flush=True)


if __name__ == "__main__":
    main()
