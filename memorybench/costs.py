"""What a sweep will cost before it runs: an upper bound on each cell's seconds.

One training step on one torch thread costs about

    step + token * batch * T_seq * (hidden / hidden_ref) ** width_power   seconds

where T_seq is the number of time steps the task feeds the model (copy: length + 2 symbols)
and ``hidden_ref`` the width the coefficients were measured at. An evaluation is a forward
pass only, about a third of a step per example. The coefficients of every model are data,
``memorybench/costs.toml``, fitted by ``python -m benchmarks --write-costs`` (the growth
section) on a 2-core CPU; scale them if your cores are faster. The bound assumes the whole
step budget: early stopping makes most cells shorter.
"""

from __future__ import annotations

import functools
import json
import tomllib
from pathlib import Path

import numpy as np

from memorybench.cells import Cell

COSTS_FILE = Path(__file__).with_name("costs.toml")
FORWARD_SHARE = 1 / 3  # a forward pass is about a third of forward + backward + update
DEFAULT = {"step": 2e-3, "token": 1e-6, "hidden": 64, "width_power": 2.0, "layers": 1}


@functools.cache
def coefficients() -> dict[str, dict]:
    with COSTS_FILE.open("rb") as f:
        return tomllib.load(f)


@functools.cache
def _sequence_steps(task_type: str, params_json: str, length: int) -> int:
    from memorybench.tasks import TASKS

    task = TASKS.get(task_type)(**json.loads(params_json))
    return task.sample(1, length, np.random.default_rng(0)).x.shape[1]


def sequence_steps(cell: Cell) -> int:
    """Time steps of one example of the cell's task at the cell's length."""
    return _sequence_steps(cell.task_type, json.dumps(cell.task_params, sort_keys=True),
                           cell.length)


def step_seconds(model: str, tokens: int, model_params: dict) -> float:
    """Seconds of one training step over ``tokens`` = batch x time steps."""
    c = {**DEFAULT, **coefficients().get(model, {})}
    width = (model_params.get("hidden") or c["hidden"]) / c["hidden"]
    layers = (model_params.get("layers") or c["layers"]) / c["layers"]
    return c["step"] + c["token"] * tokens * width ** c["width_power"] * layers


def cell_seconds(cell: Cell) -> float:
    """Upper bound on one cell's wall time: every step of its budget and every evaluation."""
    table = coefficients()
    if cell.is_baseline:
        return table.get("baseline_cell", 1.0)  # a scikit-learn fit: seconds, whatever the model
    train, steps = cell.train, sequence_steps(cell)
    step = step_seconds(cell.model, train.batch_size * steps, cell.model_params)
    per_token = step / (train.batch_size * steps)
    evals = -(-train.steps // train.eval_every)  # ceil: the last step is evaluated too
    evaluation = evals * train.eval_size * steps * per_token * FORWARD_SHARE
    # After training, a horizon-search cell scores its test set once and each multiple k of
    # its length once (about k times the time steps each).
    final = train.test_size + sum(train.extrapolate) * (train.test_size or train.eval_size)
    evaluation += final * steps * per_token * FORWARD_SHARE
    return table.get("cell", 0.0) + train.steps * step + evaluation


def sweep_seconds(cells: list[Cell], workers: int) -> float:
    """Wall time of training ``cells`` on ``workers`` processes, longest cell first: the
    larger of an even share of the total and the longest single cell."""
    times = [cell_seconds(c) for c in cells]
    if not times:
        return 0.0
    startup = coefficients().get("worker_startup", 0.0) if workers > 1 else 0.0
    return startup + max(sum(times) / min(workers, len(times)), max(times))


def duration(seconds: float) -> str:
    """3725 -> '1h 02m', 125 -> '2m 05s', 7.2 -> '7s'."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"
