"""Why a model forgets: the gradient reaching each step, and what its state still holds.

Accuracy against length says *that* a model forgets. The gradient says why: the gradient of
the loss at the output with respect to the state h_t, d steps earlier, is a product of d
step Jacobians dh_{s+1}/dh_s, so its norm shrinks (or grows) roughly like rho^d for some
per-step factor rho (Hochreiter 1991; Bengio, Simard & Frasconi 1994; Pascanu, Mikolov &
Bengio 2013). A tanh RNN with small weights has rho < 1 and forgets exponentially; the
LSTM's additive cell path and an orthogonal recurrence keep rho near 1.

For one (task, model, length, seed) this module measures, at initialization and after
training with the cell's own protocol (task and model specs, optimizer, data streams,
held-out evaluation every ``eval_every`` steps and early stopping once solved), for at most
``steps`` steps (the diagnostic budget):

* gradient flow: ||dLoss/dh_t|| for every example of a batch, against the distance
  d = N-1-t from the last step of the sequence (N steps: the task's length T for most tasks,
  T + 20 for copy), and the fitted per-step factor rho (a least-squares line through
  log ||dLoss/dh_t|| against d);
* memory probe: how well a linear read-out (scikit-learn ridge regression, its penalty chosen
  by leave-one-out cross-validation) recovers the task-relevant input at distance d from the
  final (top-layer) state. For ``adding`` that is the marked value, with its marker moved to
  distance d; for other tasks, the input itself, at the distances where inputs vary
  between examples (for copy: its ten symbols).

Beside them it stores the held-out metric after training, the task's chance level and its
solved threshold, so a reader sees whether "after training" means a model that learned.

The loss is the task's loss at the last step only, summed over the batch, so each example's
gradient is its own and every distance is measured from one output. The gradient is
computed in float64 (a factor of 0.5 over 200 steps is 6e-61, below float32's range).
Only cores with ``recurrent_state`` apply: they expose their per-step state through
``Core.unroll``; attention and windows have no state carried through time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import torch

from memorybench import catalog
from memorybench.catalog import model_class_of, task_of, versions
from memorybench.cells import Cell, cell_key
from memorybench.diagnostics.measure import (  # noqa: F401  (the measurements, re-exported)
    BAND,
    DIAG_STREAM,
    GRAD_BATCH,
    PROBE_ALPHAS,
    PROBE_EXAMPLES,
    PROBE_POINTS,
    fit_factor,
    gradient_flow,
    gradient_norms,
    input_at,
    last_step_loss,
    memory_probe,
    probe_distances,
    probe_fit,
    sequence_steps,
)
from memorybench.errors import UserError
from memorybench.models.base import Core
from memorybench.models.checks import require_build
from memorybench.runner import Plan, SweepInterrupted, run_plan
from memorybench.store import Store
from memorybench.sweep import Sweep
from memorybench.training import build_model, setup_worker, train_network

VERSION = 3  # bump when a measurement changes: stored diagnostics stop matching


def applies(model: str) -> bool:
    """Whether ``model`` carries a per-step recurrent state (and so can be diagnosed)."""
    return bool(getattr(catalog.model_class(model), "recurrent_state", False))


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic: a cell (its training budget the diagnostic's), the measurement
    settings, and the user's overrides (``--set``, kept so a report can name what a run
    changed); its ``key`` is a hash of all of it."""

    cell: Cell
    settings: dict
    key: str = ""

    def __post_init__(self):
        if not self.key:
            object.__setattr__(self, "key", cell_key(self.config(with_key=False)))

    def config(self, with_key: bool = True) -> dict:
        out = self.cell.config(with_key=False)
        out["diagnostics"] = {"version": VERSION, "grad_batch": GRAD_BATCH,
                              "probe_examples": PROBE_EXAMPLES, "probe_points": PROBE_POINTS,
                              "settings": self.settings}
        return {**out, "key": self.key} if with_key else out

    def row(self, status: str = "ok", error: str | None = None, result: dict | None = None,
            wall_time: float = 0.0) -> dict:
        """The store row (``store.DIAGNOSTIC_COLUMNS``)."""
        cell = self.cell
        return {"key": self.key, "task": cell.task, "model": cell.model,
                "length": cell.length, "seed": cell.seed, "steps": cell.train.steps,
                "status": status, "error": error, "config": self.config(),
                "versions": versions(), "result": result or {}, "wall_time": wall_time,
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}

    def failure(self, error: str) -> dict:
        return self.row("failed", error)

    def not_applicable(self) -> dict:
        """The row of a model without a per-step state: kept so a report can say so."""
        return self.row("not applicable", "no per-step recurrent state: nothing is carried "
                        "from step to step")


def plan(task: str, model: str, length: int, seed: int, steps: int,
         overrides: dict | None = None) -> Diagnostic:
    """The diagnostic of (task, model, length, seed) with training budget ``steps``: the
    cell the sweep makes of them, with the user's overrides."""
    overrides = overrides or {"train": {}, "task": {}, "model": {}}
    sweep = Sweep(tasks=[task], models=[model], lengths=[length], seeds=[seed],
                  train={**overrides["train"], "steps": steps}, task=dict(overrides["task"]),
                  model=dict(overrides["model"]))
    cell = sweep.cells()[0]
    settings = {f"{section}.{key}": value for section in ("task", "model", "train")
                for key, value in sorted(overrides.get(section, {}).items())}
    return Diagnostic(cell, settings)


def check_builds(diag: Diagnostic) -> None:
    """Build the model once, so a parameter no model can have (a width of 0) is a one-line
    error before any training, not a failed diagnostic after it."""
    cell = diag.cell
    mcls = model_class_of(cell)
    assert issubclass(mcls, Core)  # only a model with a recurrent state is diagnosed
    require_build(cell.model, task_of(cell).io, mcls, cell.model_params)


# --- one diagnostic --------------------------------------------------------------------------
def diagnose(diag: Diagnostic, device: str = "cpu") -> dict:
    """Measure one diagnostic; returns its store row. Never raises for a model's fault: a
    failure is a ``failed`` row with the error, a diverged training a ``diverged`` row with
    the measurements at initialization."""
    setup_worker()
    start = time.perf_counter()
    status, error = "ok", None
    result: dict[str, Any] = {}
    try:
        status = _measure(diag.cell, result)  # flushes denormals while training only
        if status == "diverged":
            error = f"training diverged at step {result['diverged_step']}"
    except Exception as exc:  # recorded, not raised, like a failed cell
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        torch.set_flush_denormal(False)
    return diag.row(status, error, result, time.perf_counter() - start)


def _measure(cell: Cell, result: dict) -> str:
    """Fill ``result`` with the measurements; return the training status."""
    task = task_of(cell)
    length, seed = cell.length, cell.seed
    model = build_model(cell, task)  # the same initial weights as the cell's
    steps, probed = sequence_steps(task, length), probe_distances(task, length)
    result.update({"distances": list(range(steps)), "sequence_steps": steps,
                   "probe_distances": probed, "metric_name": task.metric,
                   "chance": task.chance(length), "solved_threshold": task.solved})
    # The measurements run in float64, unflushed: a factor of 0.5 over 200 steps is 6e-61.
    torch.set_flush_denormal(False)
    result["init"] = {"gradient": gradient_flow(model, task, length, seed),
                      "probe": memory_probe(model, task, length, seed, probed)}
    torch.set_flush_denormal(True)
    run = train_network(model, task, cell.train, length, seed, torch.device("cpu"))
    torch.set_flush_denormal(False)
    if run.status != "ok" or not run.metrics:
        result["diverged_step"] = run.diverged_step
        return "diverged"
    metrics = run.metrics
    result["trained"] = {"gradient": gradient_flow(model, task, length, seed),
                         "probe": memory_probe(model, task, length, seed, probed),
                         "metric": metrics[task.metric], "loss": metrics["loss"],
                         "steps": run.steps, "curve": run.curve, "solved": run.solved}
    return "ok"


def plan_models(task: str, models: list[str], length: int, seeds: list[int], steps: int,
                overrides: dict) -> tuple[list[Diagnostic], list[Diagnostic], list[str]]:
    """The diagnostics to measure, those of models without a per-step state (stored as not
    applicable, so a report says so), and the names of those models. Unknown names, a bad
    --set and a model that cannot be built are one-line errors here, before any training."""
    if length <= 0:
        raise UserError(f"--length {length} is not a positive length; expected an integer "
                        ">= 2 such as 100")
    catalog.task_spec(task)  # an unknown task is a one-line error, whatever the models
    skipped = [n for n in models if not applies(n)]  # unknown: "unknown model"
    if len(skipped) == len(models):
        raise UserError(f"nothing to diagnose: {', '.join(skipped)} carr"
                        f"{'ies' if len(skipped) == 1 else 'y'} no per-step recurrent state "
                        "(nothing is carried from step to step); expected a recurrent model "
                        "such as elman, lstm, gru or orthogonal")
    todo, not_applicable = [], []
    for name in models:
        per_seed = [plan(task, name, length, seed, steps, overrides) for seed in seeds]
        if name in skipped:
            not_applicable += per_seed
        else:
            check_builds(per_seed[0])  # a bad --set is an error before training
            todo += per_seed
    return todo, not_applicable, skipped


def run(todo: list[Diagnostic], not_applicable: list[Diagnostic], db, workers: int,
        work=None):
    """Measure the diagnostics of ``todo`` not stored yet in ``db`` through the runner's
    pool (its crash recovery and Ctrl-C handling), each stored as it arrives, and store the
    rows of ``not_applicable``. Returns the store's diagnostics and the counts by status,
    or None for the counts when interrupted. ``work`` measures one (default ``diagnose``)."""
    import click


    def said(row: dict) -> None:
        click.echo(f"{row['model']} seed {row['seed']}: {row['status']}"
                   + (f" ({row['error']})" if row["error"] else "")
                   + f" in {row['wall_time']:.0f}s", err=True)

    with Store(db) as store:
        for diag in not_applicable:
            store.put_diagnostic(diag.not_applicable())  # so the report says so too
        stored = store.diagnostic_keys()
        plan = Plan(todo, [d for d in todo if d.key not in stored],
                    [d for d in todo if d.key in stored])
        click.echo(f"{len(todo)} diagnostics: {len(plan.todo)} to run, "
                   f"{len(plan.stored)} already stored in {db}", err=True)
        try:
            counts = run_plan(plan, store, workers=workers, work=work or diagnose,
                              put=store.put_diagnostic, on_result=said, progress=False)
        except SweepInterrupted as stop:
            click.echo(f"memorybench: interrupted; {sum(stop.counts.values())} diagnostics "
                       f"stored in {db} before it; run the same command to resume", err=True)
            return store.diagnostics(), None
        return store.diagnostics(), counts
