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
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from memorybench.catalog import build_task, model_class
from memorybench.models.base import SequenceModel, count_parameters
from memorybench.sweep import Sweep
from memorybench.training import setup_worker

FUSED = {"elman": (nn.RNN, 1), "irnn": (nn.RNN, 1), "lstm": (nn.LSTM, 4), "gru": (nn.GRU, 3)}
MODELS = ("elman", "lstm", "gru", "orthogonal", "attention", "s4d", "lru", "mamba", "mingru",
          "minlstm", "mlstm", "retnet")


class BlockRNN(nn.Module):
    """E single-layer fused RNNs of width H as one fused module of width E x H."""

    def __init__(self, members: list[SequenceModel]):
        super().__init__()
        first = members[0]
        rnn0 = first.core.rnn
        kind, gates = next(v for k, v in FUSED.items() if isinstance(rnn0, v[0]))
        E, d, H = len(members), rnn0.input_size, rnn0.hidden_size
        extra = {"nonlinearity": rnn0.nonlinearity} if kind is nn.RNN else {}
        self.E, self.H = E, H
        self.rnn = kind(E * d, E * H, batch_first=True, **extra)
        self.tokens = isinstance(first.encode, nn.Embedding)
        self.embed = nn.Parameter(torch.stack([m.encode.weight.detach() for m in members]))
        self.embed_bias = (None if self.tokens else nn.Parameter(
            torch.stack([m.encode.bias.detach() for m in members])))
        self.head = nn.Parameter(torch.stack([m.head.weight.detach().T for m in members]))
        self.head_bias = nn.Parameter(torch.stack([m.head.bias.detach() for m in members]))
        self.per_step = first.per_step
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
        if self.tokens:
            h = self.embed[torch.arange(E)[:, None, None], x]  # (E, B, T, d)
        else:
            h = torch.einsum("ebti,edi->ebtd", x, self.embed) + self.embed_bias[:, None, None]
        h = h.permute(1, 2, 0, 3).reshape(B, T, -1)  # (B, T, E d)
        out, _ = self.rnn(h)  # (B, T, E H)
        out = out.view(B, T, E, self.H)
        if not self.per_step:
            out = out[:, -1:]
        y = torch.einsum("bteh,eho->ebto", out, self.head) + self.head_bias[:, None, None]
        return y if self.per_step else y[:, :, 0]


class LoopRNN(nn.Module):
    """E single-layer RNNs stepped together in a Python loop over time: per step one batched
    product (``torch.baddbmm``) of the E states with the E recurrent matrices; the input
    products of every step at once."""

    def __init__(self, members: list[SequenceModel]):
        super().__init__()
        first = members[0]
        rnn0 = first.core.rnn
        self.kind = next(k for k, v in FUSED.items() if isinstance(rnn0, v[0]) and
                         (k != "irnn" or rnn0.nonlinearity == "relu"))
        self.relu = isinstance(rnn0, nn.RNN) and rnn0.nonlinearity == "relu"
        self.H = rnn0.hidden_size

        def stack(name: str, fn=lambda t: t) -> nn.Parameter:
            return nn.Parameter(torch.stack([fn(getattr(m.core.rnn, name).detach())
                                             for m in members]))

        self.w_ih, self.w_hh = stack("weight_ih_l0", lambda t: t.T), stack("weight_hh_l0",
                                                                           lambda t: t.T)
        self.b_ih, self.b_hh = stack("bias_ih_l0"), stack("bias_hh_l0")
        self.tokens = isinstance(first.encode, nn.Embedding)
        self.embed = nn.Parameter(torch.stack([m.encode.weight.detach() for m in members]))
        self.embed_bias = (None if self.tokens else nn.Parameter(
            torch.stack([m.encode.bias.detach() for m in members])))
        self.head = nn.Parameter(torch.stack([m.head.weight.detach().T for m in members]))
        self.head_bias = nn.Parameter(torch.stack([m.head.bias.detach() for m in members]))
        self.per_step = first.per_step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        E, B, T = x.shape[:3]
        if self.tokens:
            h_in = self.embed[torch.arange(E)[:, None, None], x]  # (E, B, T, d)
        else:
            h_in = torch.einsum("ebti,edi->ebtd", x, self.embed) + self.embed_bias[:, None, None]
        pre = (torch.bmm(h_in.reshape(E, B * T, -1), self.w_ih).view(E, B, T, -1)
               + self.b_ih[:, None, None])  # (E, B, T, G H)
        h = x.new_zeros(E, B, self.H, dtype=pre.dtype)
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
                h = torch.relu(p + rec) if self.relu else torch.tanh(p + rec)
            outs.append(h)
        out = torch.stack(outs, 2) if self.per_step else h[:, :, None]  # (E, B, T', H)
        y = torch.einsum("ebth,eho->ebto", out, self.head) + self.head_bias[:, None, None]
        return y if self.per_step else y[:, :, 0]


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
    opts = [torch.optim.Adam(m.parameters(), lr=cfg.lr) for m in members]
    rngs = [np.random.default_rng(e) for e in range(len(members))]

    def step() -> None:
        for m, opt, rng in zip(members, opts, rngs, strict=True):
            data = task.sample(cfg.batch_size, length, rng)
            loss = task.loss(m(data.x), data)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), cfg.clip)
            opt.step()

    return step


def together(task, forward: Callable[[torch.Tensor], torch.Tensor], params: list[torch.Tensor],
             E: int, cfg, length: int) -> Callable[[], None]:
    opt = torch.optim.Adam(params, lr=cfg.lr)
    rngs = [np.random.default_rng(e) for e in range(E)]

    def step() -> None:
        batches = [task.sample(cfg.batch_size, length, rng) for rng in rngs]
        out = forward(torch.stack([b.x for b in batches]))
        loss = sum(task.loss(out[e], b) for e, b in enumerate(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # each member's gradient clipped by its own norm, as one cell's would be
        norms = torch.stack([p.grad.flatten(1).norm(dim=1) for p in params if p.grad.dim()])
        scale = (cfg.clip / (norms.norm(dim=0) + 1e-6)).clamp(max=1.0)
        for p in params:
            if p.grad.dim():
                p.grad.mul_(scale.view(-1, *[1] * (p.grad.dim() - 1)))
        opt.step()

    return step


def ensemble(model: str, task, members, cfg, length, form: str = "block"
             ) -> tuple[str, Callable[[], None]]:
    E = len(members)
    if model in FUSED and form == "loop":
        loop = LoopRNN(members)
        params = list(loop.parameters())
        return "loop", together(task, loop, params, E, cfg, length)
    if model in FUSED and members[0].core.rnn.num_layers == 1:
        block = BlockRNN(members)
        # (timing only: the block's parameters are not stacked per member, so its gradient
        # is clipped as one, at the scale of E members' norms)
        opt = torch.optim.Adam(block.parameters(), lr=cfg.lr)
        rngs = [np.random.default_rng(e) for e in range(E)]

        def step() -> None:
            batches = [task.sample(cfg.batch_size, length, rng) for rng in rngs]
            out = block(torch.stack([b.x for b in batches]))
            loss = sum(task.loss(out[e], b) for e, b in enumerate(batches))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(block.parameters(), cfg.clip * E ** 0.5)
            opt.step()

        return "block", step
    params, buffers = stack_module_state(members)
    base = members_of_meta(members[0])

    def forward(x: torch.Tensor) -> torch.Tensor:
        return vmap(lambda p, b, xe: functional_call(base, (p, b), (xe,)))(params, buffers, x)

    return "vmap", together(task, forward, list(params.values()), E, cfg, length)


def members_of_meta(member: nn.Module) -> nn.Module:
    import copy
    return copy.deepcopy(member).to("meta")


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
    best = {"one": float("inf"), "ensemble": float("inf")}
    for _ in range(rounds):
        for name, step in (("one", alone), ("ensemble", joint)):
            start = time.perf_counter()
            for _ in range(steps):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / steps * 1e3)
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
