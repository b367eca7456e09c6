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

import copy
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from memorybench import catalog
from memorybench.cells import Cell, cell_key
from memorybench.errors import UserError
from memorybench.models.base import SequenceModel
from memorybench.models.checks import require_build
from memorybench.sweep import Sweep
from memorybench.tasks.base import IGNORE, Batch, Task
from memorybench.training import build_model, setup_worker, train_network, versions

VERSION = 3  # bump when a measurement changes: stored diagnostics stop matching
DIAG_STREAM = 2  # data seed of the measured batches: SeedSequence([seed, 2])
GRAD_BATCH = 64  # examples whose gradients are measured
# Per probed distance; 2/3 fit the probe, 1/3 score it. With 400 fitted examples and 128 to
# 190 state features, a lightly penalised read-out overfit (held-out R² down to -0.9); 667
# fitted examples and a cross-validated penalty keep an empty state near R² = 0.
PROBE_EXAMPLES = 1000
PROBE_ALPHAS = np.logspace(-2, 5, 15)  # ridge penalties tried on standardised features
PROBE_POINTS = 10  # probed distances, spaced geometrically from 0 to N-1
BAND = (10, 90)  # percentiles of the examples' gradient norms drawn as a band


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
    require_build(cell.model, cell.build_task().io, cell.model_class(), cell.model_params)


# --- gradient flow ---------------------------------------------------------------------------
def last_step_loss(task: Task, out: torch.Tensor, batch: Batch) -> torch.Tensor:
    """The task's loss at the last output step, summed over examples (so the gradient with
    respect to one example's state is that example's own). ``out``: (B, out_size)."""
    y = batch.y[:, -1] if task.io.positions == "each" else batch.y
    if task.io.targets == "real":
        return F.mse_loss(out, y.to(out.dtype).reshape(out.shape), reduction="sum")
    if bool((y == IGNORE).all()):
        raise UserError(f"task {task.name}: no example has a label at the last step; the "
                        "gradient flow is measured from the last step's loss")
    return F.cross_entropy(out, y, ignore_index=IGNORE, reduction="sum")


def gradient_norms(model: SequenceModel, task: Task, batch: Batch) -> np.ndarray:
    """||dLoss/dh_t|| per example and distance: (B, T), column d is the state d steps
    before the output step (all layers' states together)."""
    states, feats = model.core.unroll(model.encode(batch.x))  # T x layers x (B, H); (B, T, F)
    loss = last_step_loss(task, model.head(feats[:, -1]), batch)
    flat = [s for step in states for s in step]
    grads = torch.autograd.grad(loss, flat, allow_unused=True)
    per_layer = len(states[0])
    sq = torch.stack([torch.zeros(len(batch), dtype=torch.float64) if g is None
                      else g.double().pow(2).sum(-1) for g in grads])  # (T layers, B)
    sq = sq.reshape(len(states), per_layer, -1).sum(1)  # (T, B)
    return sq.sqrt().flip(0).T.numpy()  # (B, T): distance 0 = the last step


def fit_factor(norms: np.ndarray) -> float | None:
    """Per-step factor rho of a line through log ||dLoss/dh_t|| against distance d, over
    d >= 1 (d = 0 is the read-out, not a recurrent step); None with < 2 usable points."""
    d = np.arange(len(norms))[1:]
    with np.errstate(divide="ignore"):  # a norm of exactly 0 (a dead network) is left out
        logs = np.log(np.asarray(norms[1:], dtype=float))
    ok = np.isfinite(logs)
    if ok.sum() < 2:
        return None
    slope = np.polyfit(d[ok], logs[ok], 1)[0]
    return float(np.exp(slope))


def gradient_flow(model: SequenceModel, task: Task, length: int, seed: int) -> dict:
    """Geometric mean and percentile band of ||dLoss/dh_t|| over a batch, per distance, and
    the fitted per-step factor; measured on a float64 copy of ``model``."""
    batch = task.sample(GRAD_BATCH, length, np.random.default_rng([seed, DIAG_STREAM]))
    x = batch.x.double() if batch.x.is_floating_point() else batch.x
    y = batch.y.double() if batch.y.is_floating_point() else batch.y
    probe_model = copy.deepcopy(model).cpu().double()
    norms = gradient_norms(probe_model, task, Batch(x, y, batch.meta))  # (B, T)
    with np.errstate(divide="ignore"):
        logs = np.log(norms)
    geo = np.exp(logs.mean(0))  # (T,)
    lo, hi = np.percentile(norms, BAND, axis=0)  # (T,) each
    return {"mean": _round(geo), "lo": _round(lo), "hi": _round(hi),
            "factor": fit_factor(geo)}


def _round(values) -> list[float]:
    return [float(f"{v:.6g}") for v in np.asarray(values, dtype=float)]


# --- memory probe ----------------------------------------------------------------------------
def probe_distances(task: Task, length: int) -> list[int]:
    """Distances from the last step to probe: those whose input varies between examples
    (copy's blanks and delimiter never do: there is nothing to read back), spaced
    geometrically, at most ``PROBE_POINTS`` of them."""
    x = task.sample(200, length, np.random.default_rng(0)).x
    varies = (x.reshape(len(x), x.shape[1], -1).double().std(0) > 0).any(-1)  # (N,)
    steps = len(varies)
    candidates = [d for d in range(steps) if varies[steps - 1 - d]]
    picks = {int(round(v)) - 1 for v in np.geomspace(1, len(candidates), PROBE_POINTS)}
    return [candidates[i] for i in sorted(picks)]


def sequence_steps(task: Task, length: int) -> int:
    """Steps of one input sequence at ``length`` (T for most tasks, T + 20 for copy)."""
    return int(task.sample(1, length, np.random.default_rng(0)).x.shape[1])


def input_at(task: Task, x: torch.Tensor, distance: int) -> np.ndarray:
    """The input ``distance`` steps before the last: one-hot for tokens, (B, features)."""
    pos = x.shape[1] - 1 - distance
    if task.io.inputs == "tokens":
        return F.one_hot(x[:, pos], task.io.in_size).double().numpy()
    return x[:, pos].double().numpy()


@torch.no_grad()
def final_state(model: SequenceModel, x: torch.Tensor) -> np.ndarray:
    """The state the read-out sees after the last step (the top layer's): (B, hidden). The
    core's own forward, fused where it can be: the probe needs no step-wise graph."""
    return model.core(model.encode(x), per_step=False).double().numpy()


def probe_fit(features: np.ndarray, target: np.ndarray) -> float | None:
    """R² of a ridge read-out fitted on the first 2/3 of the examples, scored on the rest
    (variance-weighted over target columns; 0 = no better than the mean). The penalty is
    chosen among ``PROBE_ALPHAS`` by leave-one-out error on the fitted part. None when the
    target does not vary (e.g. copy's blanks): there is nothing to read back."""
    split = 2 * len(features) // 3
    if not (target[:split].std(0) > 0).any() or not (target[split:].std(0) > 0).any():
        return None
    mu, sd = features[:split].mean(0), features[:split].std(0) + 1e-8
    z = (features - mu) / sd
    ridge = RidgeCV(alphas=PROBE_ALPHAS).fit(z[:split], target[:split])
    return float(r2_score(target[split:], ridge.predict(z[split:]),
                          multioutput="variance_weighted"))


def memory_probe(model: SequenceModel, task: Task, length: int, seed: int,
                 distances: list[int] | None = None) -> list[float | None]:
    """Probe R² at each of ``distances`` (default: ``probe_distances``). A task whose
    relevant input must be moved to each distance (``Task.memory_target``: adding moves its
    marker) needs a batch per distance; any other reads every distance from the inputs of
    one batch."""
    rng = np.random.default_rng([seed, DIAG_STREAM, 1])
    model = copy.deepcopy(model).cpu().eval()
    batch = task.sample(PROBE_EXAMPLES, length, rng)
    distances = probe_distances(task, length) if distances is None else distances
    shared, r2 = None, []
    for d in distances:
        moved = task.memory_target(batch, d, rng)
        if moved is not None:
            value = probe_fit(final_state(model, moved[0]), moved[1])
        else:
            shared = final_state(model, batch.x) if shared is None else shared
            value = probe_fit(shared, input_at(task, batch.x, d))
        r2.append(None if value is None else round(value, 6))
    return r2


# --- one diagnostic --------------------------------------------------------------------------
def diagnose(diag: Diagnostic, device: str = "cpu") -> dict:
    """Measure one diagnostic; returns its store row. Never raises for a model's fault: a
    failure is a ``failed`` row with the error, a diverged training a ``diverged`` row with
    the measurements at initialization."""
    setup_worker()
    start = time.perf_counter()
    status, error, result = "ok", None, {}
    try:
        torch.set_flush_denormal(True)  # training as a cell trains
        status = _measure(diag.cell, result)
        if status == "diverged":
            error = f"training diverged at step {result['diverged_step']}"
    except Exception as exc:  # recorded, not raised, like a failed cell
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        torch.set_flush_denormal(False)
    return diag.row(status, error, result, time.perf_counter() - start)


def _measure(cell: Cell, result: dict) -> str:
    """Fill ``result`` with the measurements; return the training status."""
    task = cell.build_task()
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
