"""Recurrences with a hand-written backward pass against the same recurrence under autograd.

    python -m benchmarks.recurrence_speed               # standard and quick sizes, T = 16-256
    python -m benchmarks.recurrence_speed --exprnn      # and expRNN's copy configuration

A recurrence that cannot be parallelized over time runs one small product and a few
elementwise kernels per step. Two of the built-ins run such a loop in Python: the orthogonal
RNN (modReLU has no fused kernel) and, inside torch, the GRU (torch fuses the LSTM's CPU
training step through oneDNN, not the GRU's). For each, a whole training step (copy, batch 64,
one thread, denormals flushed) with the core computed two ways from the same weights:

- orthogonal: ``autograd``, the loop as version 1 ran it (``autograd_forward``), against
  ``hand``, the built-in since version 2 (``memorybench.models.recurrences.modrelu_layer``);
- gru: ``autograd``, ``nn.GRU`` (the built-in), against ``hand``, a GRU layer with a
  hand-written backward (``gru_layer`` below: a candidate, measured and not adopted).

``--exprnn`` adds the orthogonal RNN at expRNN's copy configuration (delay 100, batch 128,
hidden 190; Lezcano-Casado & Martinez-Rubio 2019), with the encoder as wide as the core
(as every suite runs it) and at 10, the width of expRNN's one-hot input. Least of
``--rounds`` rounds, the two forms alternating.
"""

from __future__ import annotations

import argparse
import types
from typing import cast

import torch
from torch import nn
from torch.nn.utils import parametrize

from benchmarks.harness import least_rounds, setup, stepper
from memorybench.models.base import SequenceModel
from memorybench.models.orthogonal import Orthogonal
from memorybench.models.recurrent import GRU
from memorybench.training import setup_worker

SIZES = {"standard": 20_000, "quick": 6_500}  # the suites' --params
LENGTHS = (16, 64, 256)


def autograd_forward(core: Orthogonal, h: torch.Tensor, per_step: bool) -> torch.Tensor:
    """The orthogonal RNN's forward as version 1 computed it: the loop under autograd."""
    with parametrize.cached():
        for w_in, rec, act in zip(core.inputs, core.recurrent, core.act, strict=True):
            steps = w_in(h).unbind(1)  # T x (B, hidden)
            wt = cast(nn.Linear, rec).weight.T
            state = act(steps[0])
            states = [state]
            for x_t in steps[1:]:
                state = act(torch.addmm(x_t, state, wt))  # (B, hidden)
                states.append(state)
            h = torch.stack(states, dim=1)  # (B, T, hidden)
    return h if per_step else h[:, -1]


class _GRU(torch.autograd.Function):
    """One GRU layer over time, in torch's gate order and equations (``nn.GRU``):

        r_t = sigmoid(i_r + W_hr h_{t-1} + b_hr)
        z_t = sigmoid(i_z + W_hz h_{t-1} + b_hz)
        n_t = tanh(i_n + r_t * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}            h_{-1} = 0

    from the input's share ``gi`` = [i_r | i_z | i_n] (T, B, 3H), already projected,
    time-major. The forward pass also stores, per step, what dL/dh_t is multiplied by to
    reach each pre-activation, so that a backward step is one product and two kernels.
    """

    @staticmethod
    def forward(ctx, gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor
                ) -> torch.Tensor:
        T, B, G = gi.shape
        H = G // 3
        wt = w_hh.t()  # (H, 3H)
        out = gi.new_empty(T + 1, B, H)  # h_{t-1} at t, h_t at t + 1
        out[0] = 0
        # dh_t -> [r's pre-activation | z's | W_hn h_{t-1} + b_hn], then i_n's (tanh's input)
        coeff = gi.new_empty(T, B, 4, H)
        z = gi.new_empty(T, B, H)  # z_t: dh_t -> h_{t-1} directly
        for t in range(T):
            gh = torch.addmm(b_hh, out[t], wt).view(B, 3, H)  # (B, 3, H)
            g = gi[t].view(B, 3, H)
            rz = torch.add(g[:, :2], gh[:, :2]).sigmoid_()  # (B, 2, H)
            r, z_t, hn = rz[:, 0], rz[:, 1], gh[:, 2]
            n = torch.addcmul(g[:, 2], r, hn).tanh_()  # (B, H)
            diff = out[t] - n
            torch.addcmul(n, z_t, diff, out=out[t + 1])  # (B, H)
            z[t] = z_t
            c = coeff[t]
            one_z = 1 - z_t
            torch.mul(one_z, 1 - n * n, out=c[:, 3])  # dn: -> i_n
            torch.mul(c[:, 3], r, out=c[:, 2])  # -> W_hn h_{t-1} + b_hn
            torch.mul(c[:, 2], hn, out=c[:, 0]).mul_(1 - r)  # -> r's pre-activation
            torch.mul(diff, z_t, out=c[:, 1]).mul_(one_z)  # -> z's pre-activation
        ctx.save_for_backward(w_hh, out, coeff, z)
        return out[1:]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: torch.Tensor):
        w_hh, out, coeff, z = ctx.saved_tensors
        T, B, _, H = coeff.shape
        d = torch.empty_like(coeff)  # dL/d[r_pre | z_pre | W_hn h + b_hn | i_n]
        dh = g[-1]
        for t in range(T - 1, -1, -1):
            torch.mul(dh[:, None], coeff[t], out=d[t])  # (B, 4, H)
            if t:
                dh = torch.addcmul(g[t - 1], dh, z[t]).addmm_(d[t, :, :3].reshape(B, 3 * H),
                                                              w_hh)
        dgh = d[:, :, :3].reshape(T * B, 3 * H)
        dgi = torch.cat([d[:, :, :2], d[:, :, 3:]], dim=2).view(T, B, 3 * H)
        d_w = dgh.t() @ out[:-1].reshape(T * B, H)  # (3H, H)
        return dgi, d_w, dgh.sum(0)


def gru_layer(gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """h_t (T, B, H) of a GRU layer from its input's projection ``gi`` (T, B, 3H) =
    x W_ih^T + b_ih, time-major, its recurrent weight (3H, H) and bias (3H,)."""
    return _GRU.apply(gi.contiguous(), w_hh, b_hh)


def gru_forward(core: GRU, h: torch.Tensor, per_step: bool) -> torch.Tensor:
    """The GRU core's forward through ``gru_layer``, from ``nn.GRU``'s own parameters."""
    rnn, h = core.rnn, h.transpose(0, 1)  # (T, B, d)
    for k in range(rnn.num_layers):
        gi = nn.functional.linear(h, getattr(rnn, f"weight_ih_l{k}"),
                                  getattr(rnn, f"bias_ih_l{k}"))  # (T, B, 3 hidden)
        h = gru_layer(gi, getattr(rnn, f"weight_hh_l{k}"), getattr(rnn, f"bias_hh_l{k}"))
    return h.transpose(0, 1) if per_step else h[-1]


OTHER_FORM = {"orthogonal": autograd_forward, "gru": gru_forward}


def pair(model: str, length: int, batch: int, params: int | None, model_params: dict
         ) -> tuple[dict[str, SequenceModel], object, object]:
    """The built-in and the other form of one model with the same weights: ``autograd``
    and ``hand`` (see the module's docstring), the task and the cell's settings."""
    built = {form: setup("copy", model, length, {"batch_size": batch}, model_params,
                         params=params) for form in ("built-in", "other")}  # the same weights
    nets = {form: s.model for form, s in built.items()}
    task, cell = built["built-in"].task, built["built-in"].cell
    other = nets["other"]
    other.core.forward = types.MethodType(OTHER_FORM[model], other.core)  # type: ignore[method-assign]
    named = ({"autograd": nets["other"], "hand": nets["built-in"]} if model == "orthogonal"
             else {"autograd": nets["built-in"], "hand": nets["other"]})
    return named, task, cell


def measure(model: str, length: int, batch: int, params: int | None, model_params: dict,
            rounds: int, steps: int) -> tuple[dict[str, float], int]:
    """ms per training step of each form, and the model's hidden width."""
    nets, task, cell = pair(model, length, batch, params, model_params)
    sides = {k: stepper(net, task, cell.train, length) for k, net in nets.items()}
    for step in sides.values():
        step()
    return least_rounds(sides, rounds, steps), cell.model_params["hidden"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--exprnn", action="store_true",
                        help="also the orthogonal RNN at expRNN's copy configuration")
    args = parser.parse_args(argv)
    setup_worker()
    print(f"copy, one thread, denormals flushed; least of {args.rounds} rounds of "
          f"{args.steps} steps, the forms alternating\n")
    print("| model | size | hidden | embed | batch | T | autograd ms/step | hand-written "
          "ms/step | autograd / hand |\n|---|---|---|---|---|---|---|---|---|")
    rows = [(m, size, params, {}, 64, int(t)) for m in OTHER_FORM
            for size, params in SIZES.items() for t in args.lengths.split(",")]
    if args.exprnn:
        rows += [("orthogonal", "expRNN", None, {"hidden": 190, "embed": embed}, 128, 100)
                 for embed in (190, 10)]
    for model, size, params, model_params, batch, length in rows:
        best, hidden = measure(model, length, batch, params, model_params, args.rounds,
                               args.steps)
        embed = model_params.get("embed", hidden)
        print(f"| {model} | {size} | {hidden} | {embed} | {batch} | {length} | "
              f"{best['autograd']:.1f} | {best['hand']:.1f} | "
              f"{best['autograd'] / best['hand']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
