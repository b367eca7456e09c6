"""How fast every registered task generates data, at the longest length its spec sweeps.

Data generation must never be the bottleneck of training: 10,000 examples at the longest
default length should take well under a second.

    python -m benchmarks.data_speed [--examples 10000] [--repeats 3]

``python -m benchmarks`` also reports each task's share of a training step (``share``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from memorybench.catalog import build_task, task_spec
from memorybench.tasks import TASKS

# Task variants whose generators take other paths than their spec's parameters.
VARIANTS = [("forecasting", {"series": "narma"}), ("forecasting", {"series": "mackey-glass"}),
            ("permutation", {"group": "S5"}), ("flipflop", {"ignore": 0.1})]


def measure(name: str, examples: int, repeats: int,
            params: dict | None = None) -> tuple[int, float]:
    """(longest default length, best seconds for ``examples`` examples over ``repeats``),
    with the spec's parameters updated by ``params``."""
    spec = task_spec(name)
    task = build_task(name, {**spec.get("params", {}), **(params or {})})
    length = max(spec["lengths"])
    best = float("inf")
    for seed in range(repeats):
        start = time.perf_counter()
        task.sample(examples, length, np.random.default_rng(seed))
        best = min(best, time.perf_counter() - start)
    return length, best


def share(name: str, model: str, length: int, batch: int, steps: int) -> tuple[float, float]:
    """(seconds to sample one batch, its share of a training step that samples it) for
    ``model`` on task ``name``, as ``training.train_steps`` trains a cell."""
    from benchmarks.harness import optimizer, setup, timed
    from memorybench.training import train_steps

    s = setup(name, model, length, {"batch_size": batch}, {"hidden": 64})
    opt, params = optimizer(s), [p for p in s.model.parameters()]

    def train(n: int) -> None:
        train_steps(s.model, opt, params, s.task, s.cfg, length, gen, 1, n, torch.device("cpu"))

    gen = np.random.default_rng(0)
    train(2)  # warm-up
    step = min(timed(train, steps) for _ in range(2)) / steps
    sample = min(timed(lambda: [s.task.sample(batch, length, gen) for _ in range(steps)])
                 for _ in range(2)) / steps
    return sample, sample / step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'task':<32} {'length':>6} {'seconds':>8} {'examples/s':>11}")
    for name, params in [(n, {}) for n in TASKS.names()] + VARIANTS:
        length, seconds = measure(name, args.examples, args.repeats, params)
        label = " ".join([name, *(f"{k}={v}" for k, v in params.items())])
        flag = "" if seconds < 1.0 else "  SLOW: over 1 s"
        print(f"{label:<32} {length:>6} {seconds:>8.3f} {args.examples / seconds:>11,.0f}{flag}")


if __name__ == "__main__":
    main()
