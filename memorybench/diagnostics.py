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
from datetime import UTC, datetime

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from memorybench.config import (
    Sweep,
    TrainConfig,
    build_task,
    cell_key,
    model_build_error,
    model_class,
)
from memorybench.errors import UserError
from memorybench.models.base import SequenceModel
from memorybench.tasks.base import IGNORE, Batch, Task, input_rows
from memorybench.training import (
    EVAL_STREAM,
    TRAIN_STREAM,
    evaluate,
    make_optimizer,
    train_steps,
    versions,
)

VERSION = 2  # bump when a measurement changes: stored diagnostics stop matching
DIAG_STREAM = 2  # data seed of the measured batches: SeedSequence([seed, 2])
GRAD_BATCH = 64  # examples whose gradients are measured
# Per probed distance; 2/3 fit the probe, 1/3 score it. With 400 fitted examples and 128 to
# 190 state features, a lightly penalised read-out overfit (held-out R² down to -0.9); 667
# fitted examples and a cross-validated penalty keep an empty state near R² = 0.
PROBE_EXAMPLES = 1000
PROBE_ALPHAS = np.logspace(-2, 5, 15)  # ridge penalties tried on standardised features
PROBE_POINTS = 10  # probed distances, spaced geometrically from 0 to N-1
BAND = (10, 90)  # percentiles of the examples' gradient norms drawn as a band
EVAL_EXAMPLES = 500  # held-out examples behind the trained metric (at most the spec's)


def applies(model: str) -> bool:
    """Whether ``model`` carries a per-step recurrent state (and so can be diagnosed)."""
    cls = model_class(model)
    return bool(getattr(cls, "recurrent_state", False))


def diagnostic_config(task: str, model: str, length: int, seed: int, steps: int,
                      overrides: dict | None = None) -> dict:
    """The cell config of (task, model, length, seed) with training budget ``steps``, plus
    the measurement settings and the user's overrides (``--set``, kept so a report can
    name what a run changed); its ``key`` is a hash of all of it."""
    overrides = overrides or {"train": {}, "task": {}, "model": {}}
    sweep = Sweep(tasks=[task], models=[model], lengths=[length], seeds=[seed],
                  train={**overrides["train"], "steps": steps}, task=dict(overrides["task"]),
                  model=dict(overrides["model"]))
    cell = sweep.cells()[0]
    del cell["key"]
    settings = {f"{section}.{key}": value for section in ("task", "model", "train")
                for key, value in sorted(overrides.get(section, {}).items())}
    cell["diagnostics"] = {"version": VERSION, "grad_batch": GRAD_BATCH,
                           "probe_examples": PROBE_EXAMPLES, "probe_points": PROBE_POINTS,
                           "settings": settings}
    cell["key"] = cell_key(cell)
    return cell


def check_builds(config: dict) -> None:
    """Build the model of ``config`` once, so a parameter no model can have (a width of 0)
    is a one-line error before any training, not a failed diagnostic after it."""
    task = build_task(config["task"], config["task_params"])
    exc = model_build_error(task, model_class(config["model"]), config["model_params"])
    if exc is not None:
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UserError(f"model {config['model']}: parameters {config['model_params']} do not "
                        f"build ({type(exc).__name__}: {detail}); expected values like those "
                        f"in models/{config['model']}.toml") from None


def not_applicable(config: dict) -> dict:
    """The store row of a model without a per-step state: kept so a report can say so."""
    return {"key": config["key"], "task": config["task"], "model": config["model"],
            "length": config["length"], "seed": config["seed"],
            "steps": config["train"]["steps"], "status": "not applicable",
            "error": "no per-step recurrent state: nothing is carried from step to step",
            "config": config, "versions": versions(), "result": {}, "wall_time": 0.0,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}


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


def adding_probe(batch: Batch, distance: int, rng) -> tuple[torch.Tensor, np.ndarray]:
    """Adding: the marked value, its marker moved to ``distance``; the other marker stays in
    the other half, so the example is still a valid adding sequence."""
    x = batch.x.clone()
    length = x.shape[1]
    pos, half = length - 1 - distance, length // 2
    other = rng.integers(half, length, len(x)) if pos < half else rng.integers(0, half, len(x))
    x[..., 1] = 0.0
    x[:, pos, 1] = 1.0
    x[np.arange(len(x)), other, 1] = 1.0
    return x, x[:, pos, 0].numpy()[:, None]


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
    """Probe R² at each of ``distances`` (default: ``probe_distances``). Adding needs a
    batch per distance (the marker moves); any other task reads every distance from the
    inputs of one batch."""
    rng = np.random.default_rng([seed, DIAG_STREAM, 1])
    model = copy.deepcopy(model).cpu().eval()
    batch = task.sample(PROBE_EXAMPLES, length, rng)
    distances = probe_distances(task, length) if distances is None else distances
    shared = None if task.name == "adding" else final_state(model, batch.x)
    r2 = []
    for d in distances:
        if shared is None:
            x, target = adding_probe(batch, d, rng)
            value = probe_fit(final_state(model, x), target)
        else:
            value = probe_fit(shared, input_at(task, batch.x, d))
        r2.append(None if value is None else round(value, 6))
    return r2


# --- one diagnostic --------------------------------------------------------------------------
def train(model: SequenceModel, task: Task, cfg: TrainConfig, held_out: Batch, length: int,
          seed: int) -> dict:
    """The cell's training protocol (memorybench.training) for at most ``cfg.steps`` steps:
    same optimizer, clipping and data stream, the held-out metric every ``eval_every`` steps
    and at the end, stopping early once it reaches the task's solved threshold. Returns the
    steps trained, the last held-out metrics and the curve (step, metric, loss)."""
    optimizer = make_optimizer(model, cfg)
    rng = np.random.default_rng([seed, TRAIN_STREAM])
    params = [p for p in model.parameters() if p.requires_grad]
    unseen = input_rows(task, held_out)  # as in a cell: never trained on
    step, metrics, curve = 0, {}, []
    # A vanishing gradient is, in float32, a subnormal one past ~1e-38, which the CPU
    # computes many times slower (memorybench.training flushes them too).
    torch.set_flush_denormal(True)
    try:
        while step < cfg.steps:
            first, step = step + 1, min((step // cfg.eval_every + 1) * cfg.eval_every,
                                        cfg.steps)
            bad = train_steps(model, optimizer, params, task, cfg, length, rng, first, step,
                              torch.device("cpu"), exclude=unseen)
            if bad:
                raise FloatingPointError(f"the training loss is not finite at step {bad}")
            metrics = evaluate(model, task, held_out)
            curve.append([step, metrics[task.metric], metrics["loss"]])
            if cfg.early_stop and metrics[task.metric] >= task.solved:
                break
    finally:
        torch.set_flush_denormal(False)  # the measurements run in float64, unflushed
    return {"steps": step, "metrics": metrics, "curve": curve}


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
    steps, probed = sequence_steps(task, length), probe_distances(task, length)
    result = {"distances": list(range(steps)), "sequence_steps": steps,
              "probe_distances": probed, "metric_name": task.metric,
              "chance": task.chance(length), "solved_threshold": task.solved}
    result["init"] = {"gradient": gradient_flow(model, task, length, seed),
                      "probe": memory_probe(model, task, length, seed, probed)}
    held_out = task.sample(min(cfg.eval_size, EVAL_EXAMPLES), length,
                           np.random.default_rng([seed, EVAL_STREAM]))
    trained = train(model, task, cfg, held_out, length, seed)
    metrics = trained["metrics"]
    result["trained"] = {"gradient": gradient_flow(model, task, length, seed),
                         "probe": memory_probe(model, task, length, seed, probed),
                         "metric": metrics[task.metric], "loss": metrics["loss"],
                         "steps": trained["steps"], "curve": trained["curve"],
                         "solved": metrics[task.metric] >= task.solved}
    return result
