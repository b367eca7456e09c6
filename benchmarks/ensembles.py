"""What training a rung's cells together would save: E members of one model trained as one
ensemble against the same E trained one after another, per model family.

    python -m benchmarks.ensembles                       # copy T=32, ~20,000 parameters
    python -m benchmarks.ensembles --members 3,9 --length 64 --model gru --model s4d

Each member has its own weights, its own batch and its own optimizer state. Two ways to
make one step of E members:

- ``vmap``: the members' parameters stacked (``torch.func.stack_module_state``) and the
  model run under ``torch.func.vmap`` with ``functional_call``; one Adam over the stacked
  tensors. Models whose ops have no batching rule (torch's fused RNNs, a custom
  ``autograd.Function`` without ``setup_context``) cannot take it and are reported so.
- ``loop``, for the fused RNNs (Elman, LSTM, GRU): the members' recurrences stepped
  together in a Python loop over time, one batched product of the E states with the E
  recurrent matrices per step (``torch.baddbmm``), the input products of all steps at once.
- ``block``, for the fused RNNs: one fused module E times as wide whose
  weight matrices are block-diagonal (a member's gates read only its own inputs and
  state; the other blocks held at zero by masking their gradients), the members' inputs
  side by side along the features, a stacked embedding and head.

Against ``one``: each member a ``SequenceModel`` with its own Adam, stepped in turn. One
torch thread; rounds alternate the sides so load hits both; each side's time is its least
round. The speedup is one's time over the ensemble's, for the same E member-steps.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from benchmarks.harness import least_rounds, stepper
from memorybench.catalog import build_task, model_class
from memorybench.models.base import SequenceModel, count_parameters
from memorybench.sweep import Sweep
from memorybench.training import setup_worker

FUSED = {"elman": (nn.RNN, 1), "irnn": (nn.RNN, 1), "lstm": (nn.LSTM, 4), "gru": (nn.GRU, 3)}
MODELS = ("elman", "lstm", "gru", "orthogonal", "attention", "s4d", "lru", "mamba", "mingru",
          "minlstm", "mlstm", "retnet")


class _Members(nn.Module):
    """The members' encoders and heads, stacked: what the ensemble forms share."""

    def __init__(self, members: list[SequenceModel]):
        super().__init__()
        first = members[0]
        self.E, self.H = len(members), first.core.rnn.hidden_size
        self.tokens = isinstance(first.encode, nn.Embedding)
        self.embed = nn.Parameter(torch.stack([m.encode.weight.detach() for m in members]))
        self.embed_bias = (None if self.tokens else nn.Parameter(
            torch.stack([m.encode.bias.detach() for m in members])))
        self.head = nn.Parameter(torch.stack([m.head.weight.detach().T for m in members]))
        self.head_bias = nn.Parameter(torch.stack([m.head.bias.detach() for m in members]))
        self.per_step = first.per_step

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(E, B, T) tokens or (E, B, T, in) reals -> (E, B, T, d)."""
        if self.tokens:
            return self.embed[torch.arange(x.shape[0])[:, None, None], x]
        return torch.einsum("ebti,edi->ebtd", x, self.embed) + self.embed_bias[:, None, None]

    def read(self, states: torch.Tensor) -> torch.Tensor:
        """(E, B, T, H) states -> (E, B, T, out), or the last step's (E, B, out)."""
        if not self.per_step:
            states = states[:, :, -1:]
        y = torch.einsum("ebth,eho->ebto", states, self.head) + self.head_bias[:, None, None]
        return y if self.per_step else y[:, :, 0]


class BlockRNN(_Members):
    """E single-layer fused RNNs of width H as one fused module of width E x H."""

    def __init__(self, members: list[SequenceModel]):
        super().__init__(members)
        rnn0 = members[0].core.rnn
        kind, gates = next(v for k, v in FUSED.items() if isinstance(rnn0, v[0]))
        E, d, H = self.E, rnn0.input_size, self.H
        extra = {"nonlinearity": rnn0.nonlinearity} if kind is nn.RNN else {}
        self.rnn = kind(E * d, E * H, batch_first=True, **extra)
        with torch.no_grad():
            for name, w in self.rnn.named_parameters():
                if name.startswith("bias"):  # per gate, member after member
                    w.copy_(torch.cat([torch.cat([getattr(m.core.rnn, name)[g * H:(g + 1) * H]
                                                  for m in members])
                                       for g in range(gates)]))
                    continue
                cols = d if name.startswith("weight_ih") else H
                mask = torch.zeros_like(w)
                w.zero_()
                for g in range(gates):
                    for e, m in enumerate(members):
                        rows = slice(g * E * H + e * H, g * E * H + (e + 1) * H)
                        mask[rows, e * cols:(e + 1) * cols] = 1
                        w[rows, e * cols:(e + 1) * cols] = getattr(m.core.rnn, name)[
                            g * H:(g + 1) * H]
                w.register_hook(lambda grad, mask=mask: grad * mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (E, B, T) tokens or (E, B, T, in) reals -> (E, B, T, out) or (E, B, out)."""
        E, B, T = x.shape[:3]
        h = self.encode(x).permute(1, 2, 0, 3).reshape(B, T, -1)  # (B, T, E d)
        out, _ = self.rnn(h)  # (B, T, E H)
        return self.read(out.view(B, T, E, self.H).permute(2, 0, 1, 3))  # from (E, B, T, H)


class LoopRNN(_Members):
    """E single-layer RNNs stepped together in a Python loop over time: per step one batched
    product (``torch.baddbmm``) of the E states with the E recurrent matrices; the input
    products of every step at once."""

    def __init__(self, members: list[SequenceModel]):
        super().__init__(members)
        rnn0 = members[0].core.rnn
        self.kind = "gru" if isinstance(rnn0, nn.GRU) else (
            "lstm" if isinstance(rnn0, nn.LSTM) else rnn0.nonlinearity)

        def stack(name: str, transpose: bool) -> nn.Parameter:
            return nn.Parameter(torch.stack([getattr(m.core.rnn, name).detach().T if transpose
                                             else getattr(m.core.rnn, name).detach()
                                             for m in members]))

        self.w_ih, self.w_hh = stack("weight_ih_l0", True), stack("weight_hh_l0", True)
        self.b_ih, self.b_hh = stack("bias_ih_l0", False), stack("bias_hh_l0", False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        E, B, T = x.shape[:3]
        pre = (torch.bmm(self.encode(x).reshape(E, B * T, -1), self.w_ih).view(E, B, T, -1)
               + self.b_ih[:, None, None])  # (E, B, T, G H)
        h = pre.new_zeros(E, B, self.H)
        c = torch.zeros_like(h)
        outs = []
        for p in pre.unbind(2):  # T x (E, B, G H); unbind's backward is one stack, where
            # indexing's would write a zero tensor the size of ``pre`` at every step
            rec = torch.baddbmm(self.b_hh[:, None], h, self.w_hh)  # (E, B, G H)
            if self.kind == "gru":
                r, z = torch.sigmoid(p[..., :2 * self.H] + rec[..., :2 * self.H]).chunk(2, -1)
                n = torch.tanh(p[..., 2 * self.H:] + r * rec[..., 2 * self.H:])
                h = n + z * (h - n)
            elif self.kind == "lstm":
                i, f, g, o = (p + rec).chunk(4, -1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:
                h = torch.relu(p + rec) if self.kind == "relu" else torch.tanh(p + rec)
            outs.append(h)
        return self.read(torch.stack(outs, 2))  # from (E, B, T, H)


def members_of(model: str, task_name: str, length: int, params: int, E: int):
    cells = Sweep(tasks=[task_name], models=[model], lengths=[length], seeds=list(range(E)),
                  train={"batch_size": 64}, params=params).cells()
    task = build_task(task_name, cells[0].task_params)
    members = []
    for e in range(E):
        torch.manual_seed(e)
        members.append(SequenceModel(task.io, model_class(model), **cells[0].model_params))
    return task, members, cells[0]


def one_by_one(task, members, cfg, length) -> Callable[[], None]:
    """E members stepped in turn, each with its own Adam and its own batches."""
    steps = [stepper(m, task, cfg, length, seed=e, opt=torch.optim.Adam(m.parameters(),
                                                                        lr=cfg.lr))
             for e, m in enumerate(members)]

    def step() -> None:
        for member_step in steps:
            member_step()

    return step


def clip_each(params: list[torch.Tensor], clip: float) -> None:
    """Each member's gradient (dimension 0 of stacked parameters) clipped by its own norm,
    as one cell's would be."""
    norms = torch.stack([p.grad.flatten(1).norm(dim=1) for p in params if p.grad.dim()])
    scale = (clip / (norms.norm(dim=0) + 1e-6)).clamp(max=1.0)
    for p in params:
        if p.grad.dim():
            p.grad.mul_(scale.view(-1, *[1] * (p.grad.dim() - 1)))


def together(task, forward: Callable[[torch.Tensor], torch.Tensor], params: list[torch.Tensor],
             E: int, cfg, length: int, clip: Callable[[], None] | None = None
             ) -> Callable[[], None]:
    """One step of E members: each its own batch, one backward through the sum of their
    losses, gradients clipped (by ``clip``, else member by member), one Adam step."""
    opt = torch.optim.Adam(params, lr=cfg.lr)
    rngs = [np.random.default_rng(e) for e in range(E)]

    def step() -> None:
        batches = [task.sample(cfg.batch_size, length, rng) for rng in rngs]
        out = forward(torch.stack([b.x for b in batches]))
        loss = sum(task.loss(out[e], b) for e, b in enumerate(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is None:
            clip_each(params, cfg.clip)
        else:
            clip()
        opt.step()

    return step


def ensemble(model: str, task, members, cfg, length, form: str = "block"
             ) -> tuple[str, Callable[[], None]]:
    E = len(members)
    if model in FUSED and form == "loop":
        loop = LoopRNN(members)
        return "loop", together(task, loop, list(loop.parameters()), E, cfg, length)
    if model in FUSED and members[0].core.rnn.num_layers == 1:
        block = BlockRNN(members)
        # (timing only: the block's parameters are not stacked per member, so its gradient
        # is clipped as one, at the scale of E members' norms)
        return "block", together(task, block, list(block.parameters()), E, cfg, length,
                                 lambda: torch.nn.utils.clip_grad_norm_(
                                     block.parameters(), cfg.clip * E ** 0.5))
    params, buffers = stack_module_state(members)
    base = copy.deepcopy(members[0]).to("meta")

    def forward(x: torch.Tensor) -> torch.Tensor:
        return vmap(lambda p, b, xe: functional_call(base, (p, b), (xe,)))(params, buffers, x)

    return "vmap", together(task, forward, list(params.values()), E, cfg, length)


def compare(model: str, E: int, task_name: str = "copy", length: int = 32,
            params: int = 20_000, rounds: int = 5, steps: int = 5, form: str = "block"
            ) -> dict:
    task, members, cell = members_of(model, task_name, length, params, E)
    cfg = cell.train
    row = {"model": model, "members": E, "params": count_parameters(members[0])}
    try:
        kind, joint = ensemble(model, task, members, cfg, length, form)
        joint()
    except Exception as exc:  # no batching rule: the finding, not a crash
        return {**row, "kind": "n/a", "why": f"{type(exc).__name__}: {str(exc)[:90]}"}
    task, single, _ = members_of(model, task_name, length, params, E)
    alone = one_by_one(task, single, cfg, length)
    alone()
    best = least_rounds({"one": alone, "ensemble": joint}, rounds, steps)
    return {**row, "kind": kind, "one_ms": best["one"], "ensemble_ms": best["ensemble"],
            "speedup": best["one"] / best["ensemble"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="copy")
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--params", type=int, default=20_000)
    parser.add_argument("--members", default="3,9")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="ensemble steps per round")
    parser.add_argument("--model", action="append", choices=MODELS, help="[default: all]")
    args = parser.parse_args(argv)
    setup_worker()  # one thread and denormals flushed, as in every worker
    print(f"{args.task} T={args.length}, batch 64, about {args.params:,} parameters per "
          f"member, one thread; least of {args.rounds} rounds of {args.steps} steps\n")
    print("| model | members | form | one after another (ms per E steps) | ensemble (ms) "
          "| speedup |\n|---|---|---|---|---|---|")
    runs = [(model, E, form) for model in args.model or MODELS
            for form in (("block", "loop") if model in FUSED else ("vmap",))
            for E in (int(x) for x in args.members.split(","))]
    for model, E, form in runs:
        r = compare(model, E, args.task, args.length, args.params, args.rounds, args.steps,
                    form)
        if r["kind"] == "n/a":
            print(f"| {model} | {E} | n/a | {r['why']} | | |", flush=True)
            continue
        print(f"| {model} | {E} | {r['kind']} | {r['one_ms']:.1f} | "
              f"{r['ensemble_ms']:.1f} | {r['speedup']:.2f} |", flush=True)

if __name__ == "__main__":
    main()
