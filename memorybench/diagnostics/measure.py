"""The measurements of a diagnostic: gradient flow through time and the memory probe.

See ``memorybench.diagnostics`` for what they mean and where they come from.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from memorybench.errors import UserError
from memorybench.models.base import SequenceModel
from memorybench.tasks.base import IGNORE, Batch, Task

DIAG_STREAM = 2  # data seed of the measured batches: SeedSequence([seed, 2])
GRAD_BATCH = 64  # examples whose gradients are measured
# Per probed distance; 2/3 fit the probe, 1/3 score it. With 400 fitted examples and 128 to
# 190 state features, a lightly penalised read-out overfit (held-out R² down to -0.9); 667
# fitted examples and a cross-validated penalty keep an empty state near R² = 0.
PROBE_EXAMPLES = 1000
PROBE_ALPHAS = np.logspace(-2, 5, 15)  # ridge penalties tried on standardised features
PROBE_POINTS = 10  # probed distances, spaced geometrically from 0 to N-1
BAND = (10, 90)  # percentiles of the examples' gradient norms drawn as a band


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
