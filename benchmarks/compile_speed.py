"""Does ``torch.compile`` pay on CPU? Per model: the time the first two training steps take
(compilation), milliseconds per training step eager and compiled, and the steps a cell must
train before the compiled one is ahead.

    python -m benchmarks.compile_speed                  # copy T=32, ~20,000 parameters
    python -m benchmarks.compile_speed --model gru --length 128

A training step as ``training.train_steps`` takes it (fresh batch, forward, loss, backward,
clip, Adam), one thread, denormals flushed, as in every worker; the model compiled with
``torch.compile`` (inductor, default mode). Each side's time per step is its least of
``--rounds`` rounds. Compiling is timed cold (no graph cached in memory or on disk); a cell
compiles again for each new input shape (each length), so the break-even is per cell. A
model torch cannot compile is reported so.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.harness import least_rounds, stepper
from memorybench.catalog import build_task, model_class
from memorybench.models.base import SequenceModel
from memorybench.sweep import Sweep
from memorybench.training import setup_worker

MODELS = ("elman", "lstm", "gru", "orthogonal", "attention", "s4d", "lru", "mamba", "mingru",
          "minlstm", "mlstm", "retnet")


def measure(model: str, task_name: str = "copy", length: int = 32, params: int = 20_000,
            rounds: int = 3, steps: int = 10) -> dict:
    """{"eager": (seconds of the first two steps, ms per step), "compiled": ...}, or
    "why" where compiling failed."""
    cell = Sweep(tasks=[task_name], models=[model], lengths=[length],
                 train={"batch_size": 64}, params=params).cells()[0]
    task = build_task(task_name, cell.task_params)
    out: dict = {"model": model}
    for mode in ("eager", "compiled"):
        torch.manual_seed(0)
        net: torch.nn.Module = SequenceModel(task.io, model_class(model), **cell.model_params)
        start = time.perf_counter()
        try:
            if mode == "compiled":
                torch._dynamo.reset()  # a cold compile: no graph cached by an earlier model
                net = torch.compile(net)
            step = stepper(net, task, cell.train, length)
            step()
            step()
        except Exception as exc:  # torch could not compile it: the finding, not a crash
            return {**out, "why": f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"}
        first = time.perf_counter() - start
        out[mode] = (first, least_rounds({mode: step}, rounds, steps)[mode])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="copy")
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--params", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round")
    parser.add_argument("--model", action="append", choices=MODELS, help="[default: all]")
    args = parser.parse_args(argv)
    setup_worker()
    # compile from scratch, as a cell of a new shape does: no graph reused from disk
    torch._inductor.config.fx_graph_cache = False
    torch._functorch.config.enable_autograd_cache = False
    print(f"{args.task} T={args.length}, batch 64, about {args.params:,} parameters, one "
          f"thread; least of {args.rounds} rounds of {args.steps} steps\n")
    print("| model | eager ms/step | compiled ms/step | eager / compiled | first two steps "
          "(s), eager, compiled | steps to break even |\n|---|---|---|---|---|---|")
    for model in args.model or MODELS:
        r = measure(model, args.task, args.length, args.params, args.rounds, args.steps)
        if "why" in r:
            print(f"| {model} | | n/a: {r['why']} | | | |", flush=True)
            continue
        (e_first, e_ms), (c_first, c_ms) = r["eager"], r["compiled"]
        saving = (e_ms - c_ms) / 1e3
        even = f"{(c_first - e_first) / saving:,.0f}" if saving > 0 else "never"
        print(f"| {model} | {e_ms:.1f} | {c_ms:.1f} | {e_ms / c_ms:.2f} | {e_first:.1f}, "
              f"{c_first:.1f} | {even} |", flush=True)


if __name__ == "__main__":
    main()
