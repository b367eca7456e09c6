"""Attention's kernel and head shape on CPU: milliseconds per training step of the built-in
attention model with its attention computed three ways, and at other numbers of heads.

    python -m benchmarks.attention_speed                 # copy T=32 and 256, ~20,000 params
    python -m benchmarks.attention_speed --lengths 64 --heads 1,2,4,7

Kernels (the same function, the same weights; each checked against the first):

- ``mha``: ``nn.MultiheadAttention``'s own forward with the causal mask as a tensor
  (attention version 1);
- ``sdpa``: the same projections, then ``F.scaled_dot_product_attention(is_causal=True)``
  with no mask tensor (the built-in since version 2);
- ``matmul``: the same projections, scores by ``matmul``, a masked softmax, ``matmul``.

Heads: the ``sdpa`` form at other numbers of heads (a different model: the same width and
parameters, split into more or fewer heads). A whole training step as
``training.train_steps`` takes it, one thread, denormals flushed; least of ``--rounds``
rounds, the variants alternating.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.harness import least_rounds, stepper
from memorybench.catalog import build_task
from memorybench.models import attention
from memorybench.models.base import SequenceModel
from memorybench.sweep import Sweep
from memorybench.training import setup_worker


def _heads(q: torch.Tensor, heads: int) -> torch.Tensor:
    B, T, D = q.shape
    return q.view(B, T, heads, D // heads).transpose(1, 2)  # (B, heads, T, D / heads)


class _Other(attention.Block):
    """The built-in block with its attention computed another way from the same weights."""

    kernel = "mha"

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        a, attn, T = self.ln1(x), self.attn, x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T) if causal else None  # (T, T)
        if self.kernel == "mha":  # the module's own forward: attention version 1
            o, _ = attn(a, a, a, attn_mask=mask, need_weights=False, is_causal=causal)
            x = x + o
        else:
            q, k, v = (_heads(t, attn.num_heads) for t in
                       F.linear(a, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1))
            scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (B, heads, T, T)
            if mask is not None:
                scores = scores + mask
            o = scores.softmax(-1) @ v
            x = x + attn.out_proj(o.transpose(1, 2).reshape(x.shape))
        return x + self.mlp(self.ln2(x))


def variant(kernel: str) -> type[attention.Attention]:
    """The built-in attention core (``sdpa``) or one whose blocks compute it by ``kernel``."""
    if kernel == "sdpa":
        return attention.Attention

    class Block(_Other):
        pass

    Block.kernel = kernel

    class Core(attention.Attention):
        def __init__(self, d_in: int, hidden: int = 64, layers: int = 2, heads: int = 4,
                     mlp: int = 4, causal: bool = True):
            super().__init__(d_in, hidden, layers, heads, mlp, causal)
            hidden, heads = self.out_features, self.blocks[0].attn.num_heads
            mlp = self.blocks[0].mlp[0].out_features // hidden
            state, seed = self.blocks.state_dict(), torch.get_rng_state()
            self.blocks = nn.ModuleList(Block(hidden, heads, mlp) for _ in self.blocks)
            self.blocks.load_state_dict(state)
            torch.set_rng_state(seed)  # the head after the core draws what it would have

    Core.name = f"attention ({kernel})"
    return Core


def models(task_name: str, length: int, params: int, heads: int | None, kernels: list[str]):
    extra = {"heads": heads} if heads else {}
    cell = Sweep(tasks=[task_name], models=["attention"], lengths=[length],
                 train={"batch_size": 64}, params=params, model=extra).cells()[0]
    task = build_task(task_name, cell.task_params)
    built = {}
    for kernel in kernels:
        torch.manual_seed(0)
        built[kernel] = SequenceModel(task.io, variant(kernel), **cell.model_params)
    return task, cell, built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="copy")
    parser.add_argument("--lengths", default="32,256")
    parser.add_argument("--params", type=int, default=20_000)
    parser.add_argument("--heads", default="1,2,4", help="numbers of heads for the head table")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    setup_worker()
    kernels = ["mha", "sdpa", "matmul"]
    print(f"{args.task}, batch 64, about {args.params:,} parameters, one thread; least of "
          f"{args.rounds} rounds of {args.steps} steps\n")
    print("| T | heads | kernel | ms/step | against mha | largest output difference |\n"
          "|---|---|---|---|---|---|")
    for length in (int(x) for x in args.lengths.split(",")):
        rows = [(None, kernels)] + [(int(h), ["sdpa"]) for h in args.heads.split(",")]
        for heads, names in rows:
            task, cell, built = models(args.task, length, args.params, heads, names)
            sample = task.sample(8, length, np.random.default_rng(0))
            ref = built.get("mha")
            with torch.no_grad():
                diff = {k: (float((m(sample.x) - ref(sample.x)).abs().max())
                            if ref is not None else None) for k, m in built.items()}
            steps = {k: stepper(m, task, cell.train, length) for k, m in built.items()}
            for step in steps.values():
                step()
            best = least_rounds(steps, args.rounds, args.steps)
            n_heads = cell.model_params.get("heads", attention.Attention.parameters_of()["heads"])
            for k in steps:
                against = f"{best['mha'] / best[k]:.2f}x" if "mha" in best else ""
                shown = "" if diff[k] is None else f"{diff[k]:.1e}"
                print(f"| {length} | {n_heads} | {k} | {best[k]:.1f} | {against} | {shown} |",
                      flush=True)


if __name__ == "__main__":
    main()
