"""How much faster can the orthogonal RNN's training step get without changing the model?

Backpropagation through h_t = modReLU(U e_t + h_{t-1} W^T), e_t the encoded input (width
d = H), needs: the input projection U e for all steps (one T*B x d by d x H product) and
its two backward products (to U and to e); per time step the forward product h_{t-1} W^T
(B x H by H x H) and the backward product g_t W (to the previous state); and the weight
gradient sum_t g_t^T h_{t-1}, one product over all steps. This times those products alone,
on preallocated tensors with no autograd and no elementwise work (a floor no implementation
of this model goes under), against a whole training step of the model as it trains
(``model_speed``).

    python -m benchmarks.orthogonal_floor [--seconds 3]

The step's time over the floor bounds the speedup any rewrite of the loop can give.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.harness import Table, load
from benchmarks.model_speed import steps_per_second

LENGTH, BATCH, HIDDEN = 100, 128, 190  # copy at delay 100: 120 time steps


def floor_seconds(steps: int, batch: int, hidden: int, seconds: float) -> float:
    """Seconds of the products one training step of the recurrence cannot avoid."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(hidden, hidden, generator=g)
    u = torch.randn(hidden, hidden, generator=g)  # the input projection, d = H
    e = torch.randn(steps * batch, hidden, generator=g)  # (T*B, d) encoded inputs
    big = torch.empty(steps * batch, hidden)
    h = torch.randn(steps, batch, hidden, generator=g)  # (T, B, H) states
    grads = torch.randn(steps, batch, hidden, generator=g)  # (T, B, H)
    out = torch.empty(batch, hidden)
    dw = torch.empty(hidden, hidden)

    def once() -> None:
        torch.mm(e, u.T, out=big)  # the input projection of every step
        for t in range(steps):  # forward: T products
            torch.mm(h[t], w.T, out=out)
        for t in range(steps):  # backward to the previous state: T products
            torch.mm(grads[t], w, out=out)
        flat = grads.reshape(-1, hidden)  # (T*B, H)
        torch.mm(flat.T, h.reshape(-1, hidden), out=dw)  # the recurrent weight's gradient
        torch.mm(flat.T, e, out=dw)  # the input projection's gradient
        torch.mm(flat, u, out=big)  # the gradient to the encoded inputs

    once()
    best = float("inf")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or best == float("inf"):
        start = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - start)
    return best


def expm_seconds(hidden: int, seconds: float) -> float:
    """Seconds of W = expm(A) and its backward, the parametrization expRNN trains through."""
    a = torch.randn(hidden, hidden, generator=torch.Generator().manual_seed(0))
    a = ((a - a.T) / 2).requires_grad_()  # skew-symmetric
    best = float("inf")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or best == float("inf"):
        start = time.perf_counter()
        torch.matrix_exp(a).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def run(seconds: float) -> Table:
    table = Table(
        "Orthogonal RNN: a training step against the floor of its matrix products",
        f"copy at delay {LENGTH} ({LENGTH + 20} time steps), batch {BATCH}, hidden {HIDDEN}, "
        "one thread. `step`: a whole training step (forward, backward, clip, RMSprop) of the "
        "model as it trains; `floor`: only the products backpropagation through the model "
        "needs (the input projection and its two gradients, two per time step, the "
        "recurrent weight's gradient as one), best of "
        f"repeats over {seconds} s; `expm`: W = expm(A) and its backward, which the "
        "orthogonal parametrization needs once per step. `step / (floor + expm)` bounds what "
        "any rewrite can gain without fewer products or another parametrization.",
        ["step (ms)", "floor (ms)", "expm (ms)", "step / (floor + expm)", "load"])
    torch.set_num_threads(1)
    _, rate = steps_per_second("copy", "orthogonal", LENGTH, BATCH, seconds, None,
                               {"hidden": HIDDEN})
    floor = floor_seconds(LENGTH + 20, BATCH, HIDDEN, seconds)
    expm = expm_seconds(HIDDEN, seconds)
    table.add(1e3 / rate, floor * 1e3, expm * 1e3, (1 / rate) / (floor + expm), load())
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    print(run(parser.parse_args().seconds).markdown())


if __name__ == "__main__":
    main()
