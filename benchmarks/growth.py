"""Section 6: seconds per training step against length for every model, and the cost model
``run --dry-run`` predicts a sweep's time with (``memorybench/costs.py``).

Each model at its spec width, batch 64, on copy at several lengths; a straight line
``step + token * batch * T_seq`` is fitted per model (T_seq = length + 20 on copy). A second
width (hidden 64) at length 100 gives how the per-token cost scales with width.

    python -m benchmarks.growth [--fast] [--model lstm] [--write-costs]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness import Table, load
from benchmarks.model_speed import steps_per_second
from benchmarks.overhead import core_models
from memorybench.costs import COSTS_FILE
from memorybench.sweep import Sweep

TASK, BATCH, EXTRA = "copy", 64, 20  # copy feeds length + 2 * 10 symbols time steps
CELL_SETUP, WORKER_STARTUP, BASELINE_CELL = 0.3, 3.0, 1.0  # seconds, measured by hand


def fit(model: str, lengths: list[int], seconds: float) -> dict:
    """Measured seconds per step at each length and the fitted cost coefficients."""
    params = Sweep(tasks=[TASK], models=[model], lengths=[lengths[0]]).cells()[0].model_params
    hidden, layers = params.get("hidden", 64), params.get("layers", 1)
    times = [1 / steps_per_second(TASK, model, n, BATCH, seconds, None)[1] for n in lengths]
    tokens = np.array([BATCH * (n + EXTRA) for n in lengths], dtype=float)
    token, step = np.polyfit(tokens, times, 1)
    if step < 0:  # a line through the origin instead: no fixed cost is measurable
        step, token = 0.0, float(np.dot(tokens, times) / np.dot(tokens, tokens))
    elif token < 0:  # noise swamped the growth (tiny lengths): a constant
        step, token = float(np.mean(times)), 0.0
    power = 2.0
    if hidden != 64:  # per-token cost at width 64 vs the spec's width, at the middle length
        n = lengths[len(lengths) // 2]
        narrow = 1 / steps_per_second(TASK, model, n, BATCH, seconds, None, {"hidden": 64})[1]
        wide = step + token * BATCH * (n + EXTRA)
        ratio = max(wide - step, 1e-9) / max(narrow - step, 1e-9)
        power = min(max(math.log(ratio) / math.log(hidden / 64), 0.5), 2.5)
    predicted = step + token * tokens
    error = float(np.max(np.abs(predicted - times) / times))
    return {"times": times, "step": float(step), "token": float(token), "hidden": hidden,
            "layers": layers, "width_power": power, "error": error}


def write_costs(fits: dict[str, dict], path: Path = COSTS_FILE) -> None:
    lines = ["# Cost model of `memorybench run --dry-run` (memorybench/costs.py), written by",
             "# `python -m benchmarks --write-costs`: seconds per training step = step +",
             "# token * batch * time steps * (hidden / hidden_ref) ** width_power, one torch",
             f"# thread; measured with load average {load()}.",
             f"cell = {CELL_SETUP}  # seconds of setup per cell: model, held-out data",
             f"worker_startup = {WORKER_STARTUP}  # starting the worker processes of a sweep",
             f"baseline_cell = {BASELINE_CELL}  # a scikit-learn baseline cell", ""]
    for model, f in fits.items():
        lines += [f"[{model}]", f"step = {f['step']:.4g}", f"token = {f['token']:.4g}",
                  f"hidden = {f['hidden']}", f"layers = {f['layers']}",
                  f"width_power = {f['width_power']:.2f}", ""]
    path.write_text("\n".join(lines))


def run(models: list[str], fast: bool) -> tuple[Table, dict[str, dict]]:
    lengths, seconds = ([10, 20], 0.05) if fast else ([25, 50, 100, 200], 1.5)
    table = Table(
        "6. Growth: seconds per training step against length",
        f"Each model at its spec width, batch {BATCH}, one thread, on {TASK} (length + 20 time "
        f"steps), about {seconds} s timed per point. `fit error`: the largest relative miss "
        "of the straight line `step + token x batch x time steps`; a small error means the "
        "cost grows linearly in length. `width power`: per-token cost ~ hidden^power (from "
        "hidden 64 vs the spec's). These coefficients are `memorybench/costs.toml`, which "
        "`run --dry-run` uses to estimate a sweep's time.",
        ["model", *[f"s/step T={n}" for n in lengths], "step (s)", "token (us)",
         "fit error", "width power", "load"])
    fits = {}
    for model in models:
        f = fits[model] = fit(model, lengths, seconds)
        table.add(model, *f["times"], f["step"], f["token"] * 1e6, f"{f['error']:.0%}",
                  f["width_power"], load())
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
