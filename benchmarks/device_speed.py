"""Milliseconds per training step of every built-in network on a device (a GPU by default).

    python -m benchmarks.device_speed                    # CUDA; one line and exit 0 without it
    python -m benchmarks.device_speed --device cpu       # the same table on this machine's CPU
    python -m benchmarks.device_speed --lengths 64,1024 --batch 256

Each model at the standard suite's size (about 20,000 parameters, ``--params``), on copy,
a whole training step as a cell trains it (``training.train_steps``: a fresh batch sampled
on the host and moved to the device, forward, loss, backward, clip, the model's own
optimizer), least of ``--rounds`` rounds of ``--steps`` steps after a warm-up, the device
synchronized before each clock reading. Training uses the same device with
``--device cuda`` (or ``auto``, the default, where a GPU is present) on every command.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.harness import setup
from benchmarks.overhead import core_models
from memorybench.training import make_optimizer, setup_worker, train_steps


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def ms_per_step(model: str, length: int, batch: int, params: int, dev: torch.device,
                rounds: int, steps: int) -> float:
    s = setup("copy", model, length, {"batch_size": batch}, params=params)
    net = s.model.to(dev)
    opt = make_optimizer(net, s.cfg)
    trained = [p for p in net.parameters() if p.requires_grad]
    rng = np.random.default_rng(0)

    def run(n: int) -> float:
        _sync(dev)
        start = time.perf_counter()
        train_steps(net, opt, trained, s.task, s.cfg, length, rng, 1, n, dev)
        _sync(dev)
        return (time.perf_counter() - start) / n * 1e3

    run(2)  # warm-up: kernels chosen, memory allocated
    return min(run(steps) for _ in range(rounds))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--model", action="append", help="model (repeat); default: every network")
    parser.add_argument("--lengths", default="64,256")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--params", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print(f"device_speed: no CUDA device here (torch {torch.__version__}); skipped. "
              "Run it where a GPU is present, or with --device cpu.")
        return
    if dev.type == "cpu":
        setup_worker()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU, one thread"
    lengths = [int(x) for x in args.lengths.split(",")]
    print(f"{name}; copy, batch {args.batch}, about {args.params:,} parameters; least of "
          f"{args.rounds} rounds of {args.steps} steps\n")
    print("| model | " + " | ".join(f"ms/step at T={t}" for t in lengths) + " |")
    print("|---|" + "---|" * len(lengths))
    for model in args.model or core_models():
        times = [ms_per_step(model, t, args.batch, args.params, dev, args.rounds, args.steps)
                 for t in lengths]
        print(f"| {model} | " + " | ".join(f"{ms:.1f}" for ms in times) + " |", flush=True)


if __name__ == "__main__":
    main()
