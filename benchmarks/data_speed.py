"""How fast every registered task generates data, at the longest length its spec sweeps.

Data generation must never be the bottleneck of training: 10,000 examples at the longest
default length should take well under a second.

    python -m benchmarks.data_speed [--examples 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from memorybench.config import build_task, task_spec
from memorybench.tasks import TASKS


def measure(name: str, examples: int, repeats: int) -> tuple[int, float]:
    """(longest default length, best seconds for ``examples`` examples over ``repeats``)."""
    spec = task_spec(name)
    task = build_task(name, spec.get("params", {}))
    length = max(spec["lengths"])
    best = float("inf")
    for seed in range(repeats):
        start = time.perf_counter()
        task.sample(examples, length, np.random.default_rng(seed))
        best = min(best, time.perf_counter() - start)
    return length, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'task':<12} {'length':>6} {'seconds':>8} {'examples/s':>11}")
    for name in TASKS.names():
        length, seconds = measure(name, args.examples, args.repeats)
        flag = "" if seconds < 1.0 else "  SLOW: over 1 s"
        print(f"{name:<12} {length:>6} {seconds:>8.3f} {args.examples / seconds:>11,.0f}{flag}")


if __name__ == "__main__":
    main()
