"""Training steps per second of every model, one torch thread, as a cell trains them.

    python -m benchmarks.model_speed                      # length 100, batch 64, the specs' sizes
    python -m benchmarks.model_speed --params 6500 --model lstm --model orthogonal

A step is what ``training._train`` does per step: sample a fresh batch, forward, loss,
backward, clip, optimizer step. Measured on adding (reals in, one output at the end) and
copy (tokens in, an output per step: length + 20 steps).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from memorybench.config import Sweep, TrainConfig, build_task, model_class, model_names
from memorybench.models.base import Core, SequenceModel, count_parameters
from memorybench.training import make_optimizer

TASKS = ("adding", "copy")


def steps_per_second(task_name: str, model: str, length: int, batch: int, seconds: float,
                     params: int | None, model_params: dict | None = None) -> tuple[int, float]:
    """(parameter count, training steps per second) of one model on one task;
    ``model_params`` overrides the spec's (e.g. {"hidden": 64})."""
    cell = Sweep(tasks=[task_name], models=[model], lengths=[length],
                 train={"batch_size": batch}, params=params, model=model_params or {}).cells()[0]
    task = build_task(task_name, cell["task_params"])
    cfg = TrainConfig(**cell["train"])
    torch.manual_seed(0)
    net = SequenceModel(task.io, model_class(model), **cell["model_params"])
    opt = make_optimizer(net, cfg)
    rng = np.random.default_rng(0)

    def step() -> None:
        data = task.sample(cfg.batch_size, length, rng)
        loss = task.loss(net(data.x), data)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()

    for _ in range(2):  # warm-up: first calls allocate and pick kernels
        step()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or n < 3:
        step()
        n += 1
    return count_parameters(net), n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model (repeat); default: all")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed per measurement")
    parser.add_argument("--params", type=int, help="size each model to about N parameters")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in training: one thread per worker
    models = args.model or [m for m in model_names() if issubclass(model_class(m), Core)]
    print(f"length {args.length}, batch {args.batch}, 1 thread, torch {torch.__version__}")
    print(f"{'model':<12}" + "".join(f" {t + ' params':>14} {'steps/s':>8}" for t in TASKS))
    for model in models:
        row = f"{model:<12}"
        for task in TASKS:
            n, rate = steps_per_second(task, model, args.length, args.batch, args.seconds,
                                       args.params)
            row += f" {n:>14} {rate:>8.1f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
