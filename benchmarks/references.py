"""The built-in modern models against public pure-PyTorch implementations of the same
model: milliseconds per training step, and the ratio.

    pip install mambapy minGRU-pytorch          # or: pip install -e ".[references]"
    python -m benchmarks.references             # copy T=32, batch 64, ~10,000 parameters
    python -m benchmarks.references --length 256 --params 20000 --rounds 7

Each reference runs as the core of the same ``SequenceModel`` (the same embedding and head,
the same task, batch and optimizer step), at the built-in's width and depth:

- mingru, minlstm: the ``minGRU`` and ``minLSTM`` layers of minGRU-pytorch (log-space
  scan, Heinsen 2023), each in the built-in's residual pre-norm stack (``scan.Stacked``);
- mamba: mambapy's ``Mamba`` (its own residual RMSNorm blocks, parallel scan) at the
  built-in's width, depth, state, expansion and convolution.

One torch thread. Rounds alternate the two sides so load on a shared machine hits both;
each side's time is its least round (the mean step of the round). A reference package
that is not installed is reported as skipped. Whether the built-ins compute what these
references compute, weights mapped across, is tests/test_oracles.py's check (all seven
modern models).
"""

from __future__ import annotations

import argparse
import importlib.util

import torch
from torch import nn

from benchmarks.harness import least_rounds, stepper
from memorybench.catalog import build_task, model_class
from memorybench.models.base import Core, SequenceModel, count_parameters
from memorybench.models.scan import Stacked
from memorybench.sweep import Sweep

PACKAGES = {"mingru": "minGRU_pytorch", "minlstm": "minGRU_pytorch", "mamba": "mambapy"}


class _Layer(nn.Module):
    """A reference layer as one block of ``Stacked`` (only the parallel form is timed)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer
        self.state_floats = 0

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.layer(u)


def _min_rnn_core(kind: str) -> type[Core]:
    def make(width: int) -> nn.Module:
        if kind == "mingru":
            from minGRU_pytorch.minGRU import minGRU
            return minGRU(width)
        from minGRU_pytorch.minLSTM import minLSTM
        return minLSTM(width)

    class Reference(Stacked):
        def __init__(self, d_in: int, hidden: int = 64, layers: int = 1):
            super().__init__(d_in, hidden, layers, lambda: _Layer(make(hidden)))

    Reference.name = f"{kind} (minGRU-pytorch)"
    return Reference


class _MambaReference(Core):
    name = "mamba (mambapy)"

    def __init__(self, d_in: int, hidden: int = 64, layers: int = 1, state: int = 16,
                 expand: int = 2, conv: int = 4, dt_min: float = 0.001, dt_max: float = 0.1):
        super().__init__()
        from mambapy.mamba import Mamba, MambaConfig
        self.proj = nn.Identity() if d_in == hidden else nn.Linear(d_in, hidden)
        self.mamba = Mamba(MambaConfig(d_model=hidden, n_layers=layers, d_state=state,
                                       expand_factor=expand, d_conv=conv, dt_min=dt_min,
                                       dt_max=dt_max))
        self.out_features = hidden

    def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
        x = self.mamba(self.proj(h))  # (B, T, H)
        return x if per_step else x[:, -1]


def reference_core(model: str) -> type[Core]:
    return _MambaReference if model == "mamba" else _min_rnn_core(model)


def available(model: str) -> bool:
    return importlib.util.find_spec(PACKAGES[model]) is not None


def compare(model: str, task_name: str = "copy", length: int = 32, batch: int = 64,
            params: int = 10_000, rounds: int = 5, steps: int = 10) -> dict:
    """Built-in and reference ms per training step of ``model`` (least round of each) and
    each side's parameter count."""
    cell = Sweep(tasks=[task_name], models=[model], lengths=[length],
                 train={"batch_size": batch}, params=params).cells()[0]
    task = build_task(task_name, cell.task_params)
    torch.manual_seed(0)
    ours = SequenceModel(task.io, model_class(model), **cell.model_params)
    torch.manual_seed(0)
    theirs = SequenceModel(task.io, reference_core(model), **{
        k: v for k, v in cell.model_params.items() if k != "target_params"})
    sides = {"built-in": stepper(ours, task, cell.train, length),
             "reference": stepper(theirs, task, cell.train, length)}
    for step in sides.values():  # warm-up: first calls allocate and pick kernels
        step()
        step()
    best = least_rounds(sides, rounds, steps)
    return {"model": model, "ms": best["built-in"], "reference_ms": best["reference"],
            "ratio": best["reference"] / best["built-in"], "params": count_parameters(ours),
            "reference_params": count_parameters(theirs), "width": cell.model_params}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="copy")
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--params", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round")
    parser.add_argument("--model", action="append", choices=sorted(PACKAGES),
                        help="[default: all three]")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"{args.task} T={args.length}, batch {args.batch}, about {args.params:,} "
          f"parameters, one thread; least of {args.rounds} rounds of {args.steps} steps\n")
    print("| model | built-in ms/step | reference | reference ms/step | reference / built-in "
          "| parameters (built-in, reference) |\n|---|---|---|---|---|---|")
    for model in args.model or sorted(PACKAGES):
        if not available(model):
            print(f"| {model} | skipped: {PACKAGES[model]} is not installed "
                  "(pip install mambapy minGRU-pytorch) | | | | |")
            continue
        r = compare(model, args.task, args.length, args.batch, args.params, args.rounds,
                    args.steps)
        print(f"| {model} | {r['ms']:.1f} | {reference_core(model).name} | "
              f"{r['reference_ms']:.1f} | {r['ratio']:.2f} | {r['params']:,}, "
              f"{r['reference_params']:,} |")


if __name__ == "__main__":
    main()
