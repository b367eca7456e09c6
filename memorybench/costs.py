"""What a sweep will cost before it runs: an upper bound on each cell's seconds.

One training step of a batch of B sequences of T time steps, on one torch thread, costs

    step + layers * (seq * T + token * B * T * w ** width_power + pair * B * T**2 * w)

seconds, with w = hidden / hidden_ref the width against the one the coefficients were
measured at. ``seq`` is what each time step costs whatever the batch and width: the calls a
model that loops over time makes per step, which dominate a small network; ``token`` the
arithmetic per sequence and step, growing with width (matrix products: power 2); ``pair``
the part of attention that grows with T squared. A forward pass alone (evaluation) costs
about a third of that, per pass of at most ``evaluation.EVAL_TOKENS`` time steps. The
coefficients of every model are data, ``memorybench/costs.toml``, fitted by ``python -m
benchmarks --write-costs`` (the growth section) on a 2-core CPU; scale them if your cores
are faster. The bound assumes the whole step budget: early stopping makes most cells
shorter.
"""

from __future__ import annotations

import functools
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from memorybench.cells import Cell
from memorybench.evaluation import EVAL_TOKENS, EXTRAPOLATION_TOKENS, eval_chunk
from memorybench.tasks import TASKS

COSTS_FILE = Path(__file__).with_name("costs.toml")
FORWARD_SHARE = 1 / 3  # a forward pass is about a third of forward + backward + update
DEFAULT = {"step": 2e-3, "seq": 1e-4, "token": 1e-6, "pair": 0.0, "hidden": 64,
           "width_power": 2.0, "layers": 1}


@functools.cache
def coefficients() -> dict[str, Any]:  # seconds, and a table of them per model
    with COSTS_FILE.open("rb") as f:
        return tomllib.load(f)


@functools.cache
def _sequence_steps(task_type: str, params_json: str, length: int) -> int:
    task = TASKS.get(task_type)(**json.loads(params_json))
    return task.sample(1, length, np.random.default_rng(0)).x.shape[1]


def sequence_steps(cell: Cell) -> int:
    """Time steps of one example of the cell's task at the cell's length."""
    return _sequence_steps(cell.task_type, json.dumps(cell.task_params, sort_keys=True),
                           cell.length)


def _model(model: str, model_params: dict) -> tuple[dict, float, float]:
    c = {**DEFAULT, **coefficients().get(model, {})}
    width = (model_params.get("hidden") or c["hidden"]) / c["hidden"]
    layers = (model_params.get("layers") or c["layers"]) / c["layers"]
    return c, width, layers


def pass_seconds(model: str, batch: int, time_steps: int, model_params: dict) -> float:
    """Forward + backward + update of one batch, without the fixed cost of a step."""
    c, w, layers = _model(model, model_params)
    return layers * time_steps * (c["seq"] + c["token"] * batch * w ** c["width_power"]
                                  + c["pair"] * batch * time_steps * w)


def step_seconds(model: str, batch: int, time_steps: int, model_params: dict) -> float:
    """Seconds of one training step on ``batch`` sequences of ``time_steps`` steps."""
    c, _, _ = _model(model, model_params)
    return c["step"] + pass_seconds(model, batch, time_steps, model_params)


def evaluation_seconds(model: str, examples: int, time_steps: int, model_params: dict,
                       tokens: int = EVAL_TOKENS) -> float:
    """Forward passes over ``examples`` sequences, in chunks as ``evaluation.evaluate``."""
    if not examples:
        return 0.0
    chunk = min(eval_chunk(time_steps, tokens=tokens), examples)
    passes = math.ceil(examples / chunk)
    return FORWARD_SHARE * passes * pass_seconds(model, chunk, time_steps, model_params)


def cell_seconds(cell: Cell) -> float:
    """Upper bound on one cell's wall time: every step of its budget and every evaluation."""
    table = coefficients()
    if cell.is_baseline:
        return table.get("baseline_cell", 1.0)  # a scikit-learn fit: seconds, whatever the model
    train, steps, params = cell.train, sequence_steps(cell), cell.model_params
    training = train.steps * step_seconds(cell.model, train.batch_size, steps, params)
    evals = -(-train.steps // train.eval_every)  # ceil: the last step is evaluated too
    evaluation = evals * evaluation_seconds(cell.model, train.eval_size, steps, params)
    # After training, a horizon-search cell scores its test set once and each multiple k of
    # its length once (about k times the time steps each, in longer passes).
    evaluation += evaluation_seconds(cell.model, train.test_size, steps, params)
    for k in train.extrapolate:
        evaluation += evaluation_seconds(cell.model, train.test_size or train.eval_size,
                                         k * steps, params, tokens=EXTRAPOLATION_TOKENS)
    return table.get("cell", 0.0) + training + evaluation


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
