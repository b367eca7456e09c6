"""Section 8: training steps per second of every model, one torch thread, as a cell trains
them, at the specs' sizes and at one equal size.

    python -m benchmarks.model_speed                      # length 100, batch 64: spec, 6500
    python -m benchmarks.model_speed --size 6500 --model lstm --model orthogonal

A step is what ``training._train`` does per step: sample a fresh batch, forward, loss,
backward, clip, optimizer step (the model's own optimizer: RMSprop for orthogonal), with
float32 denormals flushed to zero as ``train_cell`` flushes them.
Measured on adding (reals in, one output at the end) and copy (tokens in, an output per
step: length + 20 steps). An equal size is sized as ``run --params N`` sizes it, per task.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.harness import Table, load, stepper
from benchmarks.overhead import core_models
from memorybench.catalog import build_task, model_class
from memorybench.models.base import SequenceModel, count_parameters
from memorybench.sweep import Sweep

TASKS = ("adding", "copy")
LENGTH, BATCH, SIZES = 100, 64, ("spec", "6500")


def steps_per_second(task_name: str, model: str, length: int, batch: int, seconds: float,
                     params: int | None, model_params: dict | None = None) -> tuple[int, float]:
    """(parameter count, training steps per second) of one model on one task;
    ``params`` sizes it as ``--params`` does; ``model_params`` overrides the spec's (e.g.
    {"hidden": 64})."""
    cell = Sweep(tasks=[task_name], models=[model], lengths=[length],
                 train={"batch_size": batch}, params=params, model=model_params or {}).cells()[0]
    task = build_task(task_name, cell.task_params)
    cfg = cell.train
    torch.manual_seed(0)
    net = SequenceModel(task.io, model_class(model), **cell.model_params)
    step = stepper(net, task, cfg, length)

    for _ in range(2):  # warm-up: first calls allocate and pick kernels
        step()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or n < 3:
        step()
        n += 1
    return count_parameters(net), n / elapsed


def run(models: list[str], fast: bool, sizes: tuple[str, ...] = SIZES, length: int = LENGTH,
        batch: int = BATCH, seconds: float | None = None) -> Table:
    """One row per model, task and size: ``spec`` (the spec's width) or a parameter
    target. ``fast``: three timed steps per row instead of about 3 seconds."""
    seconds = (0.0 if fast else 3.0) if seconds is None else seconds
    table = Table(
        f"8. Models: training steps per second at length {length}",
        f"Batch {batch}, one thread, denormals flushed, a fresh batch per step, each "
        "model's own optimizer; "
        f"{seconds:g} s timed per row after 2 warm-up steps. `size`: the spec's width, or "
        "sized to about that many parameters as `run --params N` sizes it. copy runs "
        f"length + 20 = {length + 20} time steps.",
        ["model", "task", "size", "params", "steps/s", "load"])
    torch.set_flush_denormal(True)  # as train_cell does (section 7 measures the difference)
    try:
        for model in models:
            for size in sizes:
                target = None if size == "spec" else int(size)
                for task in TASKS:
                    count, rate = steps_per_second(task, model, length, batch, seconds, target)
                    table.add(model, task, size, count, rate, load())
    finally:
        torch.set_flush_denormal(False)
    return table


def size(text: str) -> str:
    if text != "spec" and not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: expected 'spec' or a parameter count")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model (repeat); default: all")
    parser.add_argument("--size", action="append", type=size,
                        help="'spec' or a parameter target like 6500 (repeat); "
                             f"default: {' and '.join(SIZES)}")
    parser.add_argument("--length", type=int, default=LENGTH)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed per row")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in training: one thread per worker
    models = args.model or core_models()
    print(f"torch {torch.__version__}, load average at the start: {load()}", flush=True)
    table = run(models, False, tuple(args.size or SIZES), args.length, args.batch, args.seconds)
    print(table.markdown())


if __name__ == "__main__":
    main()
