"""Section 6: seconds per training step against length for every model, and the cost model
``run --dry-run`` predicts a sweep's time with (``memorybench/costs.py``).

Each model at its spec width and at a narrow width (hidden 32), batch 64, on copy at several
lengths (T_seq = length + 20 time steps); the cost model's coefficients, each >= 0,

    seconds per step = step + seq * T + token * B * T * w**2 + pair * B * T**2 * w

(w: width over the spec's) are fitted to all points by non-negative least squares. The narrow
width is what tells ``seq`` (per time step, whatever the width: a loop's calls) from
``token`` (arithmetic that grows with width).

    python -m benchmarks.growth [--fast] [--model lstm] [--write-costs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls

from benchmarks.harness import Table, load
from benchmarks.model_speed import steps_per_second
from benchmarks.overhead import core_models
from memorybench.catalog import model_class_of
from memorybench.costs import COSTS_FILE
from memorybench.models.attention import Attention
from memorybench.sweep import Sweep

TASK, BATCH, EXTRA = "copy", 64, 20  # copy feeds length + 2 * 10 symbols time steps
NARROW = 32  # the second width
CELL_SETUP, WORKER_STARTUP, BASELINE_CELL = 0.3, 3.0, 1.0  # seconds, measured by hand
TERMS = ("step", "seq", "token", "pair")


def terms(time_steps: int, width: float) -> list[float]:
    """The cost model's terms for one step of BATCH sequences (``memorybench.costs``)."""
    return [1.0, time_steps, BATCH * time_steps * width ** 2,
            BATCH * time_steps ** 2 * width]


def fit(model: str, lengths: list[int], seconds: float) -> dict:
    """Measured seconds per step at each length (spec width, then the narrow width at the
    shortest and longest length) and the fitted cost coefficients."""
    cell = Sweep(tasks=[TASK], models=[model], lengths=[lengths[0]]).cells()[0]
    params = cell.model_params
    hidden, layers = params.get("hidden", 64), params.get("layers", 1)
    # Only attention (every step attends to every earlier one) has a cost growing with T
    # squared; fitted for the others, noise in that term would blow up at long lengths.
    quadratic = issubclass(model_class_of(cell), Attention)
    points = [(n, 1.0, None) for n in lengths]
    if hidden > NARROW:
        points += [(n, NARROW / hidden, {"hidden": NARROW}) for n in (lengths[0], lengths[-1])]
    rows, times = [], []
    for n, width, override in points:
        try:
            rate = steps_per_second(TASK, model, n, BATCH, seconds, None, override)[1]
        except Exception:  # a width the model cannot take (e.g. heads): spec width only
            continue
        rows.append(terms(n + EXTRA, width))
        times.append(1 / rate)
    a, t = np.array(rows), np.array(times)
    if not quadratic:
        a[:, 3] = 0.0
    coef = nnls(a / t[:, None], np.ones(len(t)))[0]  # relative error, not absolute
    predicted = a @ coef
    error = float(np.max(np.abs(predicted - t) / t))
    return {"times": times, **{k: float(v) for k, v in zip(TERMS, coef, strict=True)},
            "hidden": hidden, "layers": layers, "width_power": 2.0, "error": error}


def write_costs(fits: dict[str, dict], path: Path = COSTS_FILE) -> None:
    lines = ["# Cost model of `memorybench run --dry-run` (memorybench/costs.py), written by",
             "# `python -m benchmarks --write-costs`: seconds per training step = step +",
             "# layers * (seq * T + token * batch * T * w ** width_power + pair * batch *",
             "# T ** 2 * w), w = hidden / hidden_ref, one torch thread; measured with load",
             f"# average {load()}.",
             f"cell = {CELL_SETUP}  # seconds of setup per cell: model, held-out data",
             f"worker_startup = {WORKER_STARTUP}  # starting the worker processes of a sweep",
             f"baseline_cell = {BASELINE_CELL}  # a scikit-learn baseline cell", ""]
    for model, f in fits.items():
        lines += [f"[{model}]", *(f"{k} = {f[k]:.4g}" for k in TERMS),
                  f"hidden = {f['hidden']}", f"layers = {f['layers']}",
                  f"width_power = {f['width_power']:.2f}", ""]
    path.write_text("\n".join(lines))


def run(models: list[str], fast: bool) -> tuple[Table, dict[str, dict]]:
    lengths, seconds = ([10, 20], 0.05) if fast else ([25, 50, 100, 200], 1.5)
    table = Table(
        "6. Growth: seconds per training step against length",
        f"Each model at its spec width, batch {BATCH}, one thread, on {TASK} (length + 20 time "
        f"steps), about {seconds} s timed per point, and at hidden {NARROW} at the shortest "
        "and longest length. Fitted (non-negative least squares on relative error): `step` "
        "s per step, `seq` us per time step whatever the width (a loop's calls), `token` "
        "ns per sequence and time step at the spec width, `pair` ns per sequence and "
        "(time step)^2 (attention). `fit error`: the largest relative miss over all points. "
        "These coefficients are `memorybench/costs.toml`, which `run --dry-run` and "
        "`horizon --dry-run` use to bound a sweep's time.",
        ["model", *[f"s/step T={n}" for n in lengths], "step (s)", "seq (us)", "token (ns)",
         "pair (ns)", "fit error", "load"])
    fits = {}
    for model in models:
        f = fits[model] = fit(model, lengths, seconds)
        table.add(model, *f["times"][:len(lengths)], f["step"], f["seq"] * 1e6,
                  f["token"] * 1e9, f["pair"] * 1e9, f"{f['error']:.0%}", load())
    return table, fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model (repeat); default: all")
    parser.add_argument("--fast", action="store_true", help="a few steps: a smoke test")
    parser.add_argument("--write-costs", action="store_true", help=f"write {COSTS_FILE}")
    args = parser.parse_args()
    torch.set_num_threads(1)
    table, fits = run(args.model or core_models(), args.fast)
    print(table.markdown())
    if args.write_costs:
        write_costs(fits)


if __name__ == "__main__":
    main()
