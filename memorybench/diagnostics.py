"""Why a model forgets: the gradient reaching each step, and what its state still holds.

Accuracy against length says *that* a model forgets. The gradient says why: the gradient of
the loss at the output with respect to the state h_t, d steps earlier, is a product of d
step Jacobians dh_{s+1}/dh_s, so its norm shrinks (or grows) roughly like rho^d for some
per-step factor rho (Hochreiter 1991; Bengio, Simard & Frasconi 1994; Pascanu, Mikolov &
Bengio 2013). A tanh RNN with small weights has rho < 1 and forgets exponentially; the
LSTM's additive cell path and an orthogonal recurrence keep rho near 1.

For one (task, model, length, seed) this module measures, at initialization and after a
short training run with the cell's own protocol (task and model specs, optimizer, data
streams; ``steps`` is the diagnostic budget):

* gradient flow: ||dLoss/dh_t|| for every example of a batch, against the distance
  d = T-1-t from the output step, and the fitted per-step factor rho (a least-squares line
  through log ||dLoss/dh_t|| against d);
* memory probe: how well a linear read-out (scikit-learn ridge regression) recovers the
  task-relevant input at distance d from the final (top-layer) state. For ``adding`` that is the
  marked value, with its marker moved to distance d; for other tasks, the input itself.

The loss is the task's loss at the last step only, summed over the batch, so each example's
gradient is its own and every distance is measured from one output. The gradient is
computed in float64 (a factor of 0.5 over 200 steps is 6e-61, below float32's range).
Only cores with ``recurrent_state`` apply: they expose their per-step state through
``Core.unroll``; attention and windows have no state carried through time.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from memorybench.config import Sweep, TrainConfig, build_task, cell_key, model_class
from memorybench.errors import UserError
from memorybench.models.base import SequenceModel
from memorybench.tasks.base import IGNORE, Batch, Task
from memorybench.training import (
    EVAL_STREAM,
    TRAIN_STREAM,
    evaluate,
    make_optimizer,
    train_steps,
    versions,
)

VERSION = 1  # bump when a measurement changes: stored diagnostics stop matching
DIAG_STREAM = 2  # data seed of the measured batches: SeedSequence([seed, 2])
GRAD_BATCH = 64  # examples whose gradients are measured
PROBE_EXAMPLES = 600  # per probed distance; 2/3 fit the probe, 1/3 score it
PROBE_POINTS = 10  # probed distances, spaced geometrically from 0 to T-1
BAND = (10, 90)  # percentiles of the examples' gradient norms drawn as a band


def applies(model: str) -> bool:
    """Whether ``model`` carries a per-step recurrent state (and so can be diagnosed)."""
    cls = model_class(model)
    return bool(getattr(cls, "recurrent_state", False))


def diagnostic_config(task: str, model: str, length: int, seed: int, steps: int,
                      overrides: dict | None = None) -> dict:
    """The cell config of (task, model, length, seed) with training budget ``steps``, plus
    the measurement settings; its ``key`` is a hash of all of it."""
    overrides = overrides or {"train": {}, "task": {}, "model": {}}
    sweep = Sweep(tasks=[task], models=[model], lengths=[length], seeds=[seed],
                  train={**overrides["train"], "steps": steps}, task=dict(overrides["task"]),
                  model=dict(overrides["model"]))
    cell = sweep.cells()[0]
    del cell["key"]
    cell["diagnostics"] = {"version": VERSION, "grad_batch": GRAD_BATCH,
                           "probe_examples": PROBE_EXAMPLES, "probe_points": PROBE_POINTS}
    cell["key"] = cell_key(cell)
    return cell


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
def probe_distances(length: int) -> list[int]:
    return sorted({int(round(v)) - 1 for v in np.geomspace(1, length, PROBE_POINTS)})


def probe_data(task: Task, length: int, distance: int, rng) -> tuple[torch.Tensor, np.ndarray]:
    """Inputs and the probe target: what the state should hold from ``distance`` steps back."""
    batch = task.sample(PROBE_EXAMPLES, length, rng)
    pos = length - 1 - distance
    if task.name == "adding":
        # The marked value, its marker moved to distance d; the other marker stays in the
        # other half, so the example is still a valid adding sequence.
        x = batch.x.clone()
        half = length // 2
        other = rng.integers(half, length, len(x)) if pos < half \
            else rng.integers(0, half, len(x))
        x[..., 1] = 0.0
        x[:, pos, 1] = 1.0
        x[np.arange(len(x)), other, 1] = 1.0
        return x, x[:, pos, 0].numpy()[:, None]
    if task.io.inputs == "tokens":
        return batch.x, F.one_hot(batch.x[:, pos], task.io.in_size).double().numpy()
    return batch.x, batch.x[:, pos].double().numpy()


@torch.no_grad()
def final_state(model: SequenceModel, x: torch.Tensor) -> np.ndarray:
    """The state the read-out sees after the last step (the top layer's): (B, hidden). The
    core's own forward, fused where it can be: the probe needs no step-wise graph."""
    return model.core(model.encode(x), per_step=False).double().numpy()


def probe_fit(features: np.ndarray, target: np.ndarray) -> float:
    """R² of a ridge read-out fitted on the first 2/3 of the examples, scored on the rest
    (variance-weighted over target columns; 0 = no better than the mean)."""
    split = 2 * len(features) // 3
    mu, sd = features[:split].mean(0), features[:split].std(0) + 1e-8
    z = (features - mu) / sd
    ridge = Ridge(alpha=1.0).fit(z[:split], target[:split])
    return float(r2_score(target[split:], ridge.predict(z[split:]),
                          multioutput="variance_weighted"))


def memory_probe(model: SequenceModel, task: Task, length: int, seed: int) -> list[float]:
    rng = np.random.default_rng([seed, DIAG_STREAM, 1])
    model = copy.deepcopy(model).cpu().eval()
    r2 = []
    for d in probe_distances(length):
        x, target = probe_data(task, length, d, rng)
        r2.append(round(probe_fit(final_state(model, x), target), 6))
    return r2


# --- one diagnostic --------------------------------------------------------------------------
def train(model: SequenceModel, task: Task, cfg: TrainConfig, length: int, seed: int) -> None:
    """The cell's training loop (memorybench.training) for ``cfg.steps`` steps, without its
    evaluations: same optimizer, clipping and data stream."""
    optimizer = make_optimizer(model, cfg)
    rng = np.random.default_rng([seed, TRAIN_STREAM])
    params = [p for p in model.parameters() if p.requires_grad]
    # A vanishing gradient is, in float32, a subnormal one past ~1e-38, which the CPU
    # computes many times slower (memorybench.training flushes them too).
    torch.set_flush_denormal(True)
    try:
        if train_steps(model, optimizer, params, task, cfg, length, rng, 1, cfg.steps,
                       torch.device("cpu")):
            raise FloatingPointError("the training loss is not finite")
    finally:
        torch.set_flush_denormal(False)  # the measurements run in float64, unflushed


def diagnose(config: dict) -> dict:
    """Measure one diagnostic config (from ``diagnostic_config``); returns its store row.
    Never raises for a model's fault: a failure is a ``failed`` row with the error."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    row = {"key": config["key"], "task": config["task"], "model": config["model"],
           "length": config["length"], "seed": config["seed"],
           "steps": config["train"]["steps"], "status": "ok", "error": None,
           "config": config, "versions": versions(), "result": {}}
    try:
        row["result"] = _measure(config)
    except Exception as exc:  # recorded, not raised, like a failed cell
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    row["wall_time"] = time.perf_counter() - start
    row["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return row


def _measure(config: dict) -> dict:
    task = build_task(config["task"], config["task_params"])
    cfg = TrainConfig(**config["train"])
    length, seed = config["length"], config["seed"]
    torch.manual_seed(seed)  # the same initial weights as the cell's
    model = SequenceModel(task.io, model_class(config["model"]), **config["model_params"])
    result = {"distances": list(range(length)), "probe_distances": probe_distances(length),
              "metric_name": task.metric}
    result["init"] = {"gradient": gradient_flow(model, task, length, seed),
                      "probe": memory_probe(model, task, length, seed)}
    train(model, task, cfg, length, seed)
    held_out = task.sample(min(cfg.eval_size, 500), length,
                           np.random.default_rng([seed, EVAL_STREAM]))
    metrics = evaluate(model, task, held_out)
    result["trained"] = {"gradient": gradient_flow(model, task, length, seed),
                         "probe": memory_probe(model, task, length, seed),
                         "metric": metrics[task.metric], "loss": metrics["loss"]}
    return result
