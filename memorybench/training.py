"""Train and evaluate one cell: the unit of work of every sweep.

``train_cell`` never raises (but on Ctrl-C): a cell whose loss turns NaN/inf is a
``diverged`` result, a cell whose code raises (or whose model calls ``sys.exit()``) is a
``failed`` result with the error, and both are stored like any other result.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch

from memorybench import cells
from memorybench.catalog import (
    baseline_class_of,
    core_class_of,
    task_of,
    versions,
)
from memorybench.cells import EVAL_STREAM, TRAIN_STREAM, Cell, Result
from memorybench.checkpoints import Checkpoint, Saved
from memorybench.config import TrainConfig
from memorybench.evaluation import evaluate, extrapolation
from memorybench.models.base import SequenceModel, count_parameters
from memorybench.tasks.base import Batch, Task, input_rows, sample_unseen


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def param_groups(model: torch.nn.Module, lr: float) -> list[dict[str, Any]]:
    """One optimizer group per learning rate: ``lr`` times the factor the core gives a
    parameter in ``Core.lr_factors`` (1 for all others)."""
    core = getattr(model, "core", None)
    factors = {f"core.{k}": v for k, v in (core.lr_factors() if core is not None else {}).items()}
    by_lr: dict[float, list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            by_lr.setdefault(lr * factors.get(name, 1.0), []).append(p)
    return [{"params": ps, "lr": group_lr} for group_lr, ps in by_lr.items()]


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.lr)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr)
    return torch.optim.Adam(groups, lr=cfg.lr)


def train_cell(cell: Cell, device: str = "cpu", checkpoints: str | None = None
               ) -> dict[str, Any]:
    """Train the model of ``cell`` on its task and return the result row for the store;
    with a ``checkpoints`` folder, continuing the latest checkpoint of its run
    (``memorybench.checkpoints``) and saving its own."""
    setup_worker()
    start = time.perf_counter()
    dev = resolve_device(device)
    result = Result.of(cell, device=str(dev), versions=versions(cell),
                       host=socket.gethostname())
    try:
        _train(cell, dev, result, checkpoints)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # recorded, not raised: one broken cell must not stop a
        # sweep, nor a model's sys.exit() end it with nothing stored
        result.status = "failed"
        result.error = error_text(exc)
        assert result.metrics is not None  # Result.of starts it as {}; _train keeps a dict
        result.metrics["traceback"] = traceback.format_exc(limit=8)
    note_source(cell, result)
    result.wall_time = time.perf_counter() - start
    result.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return result.row()


def error_text(exc: BaseException) -> str:
    """A failed cell's error: the exception's type and text; a sys.exit() said as such."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: the model's code called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def note_source(cell: Cell, result: Result) -> None:
    """Where a model given in-process comes from (its class's ``model_source``, set by
    ``memorybench.usermodels``), kept in the metrics: not part of the key, it names the
    file when another model later claims the name in the same store."""
    if cell.is_baseline:
        return
    try:
        source = getattr(core_class_of(cell), "model_source", None)
    except Exception:  # a model not registered: its cell has failed already
        return
    if source is not None:
        assert result.metrics is not None  # Result.of starts it as {}; _train keeps a dict
        result.metrics["model_source"] = source


@dataclass(frozen=True)
class Continuing:
    """The runner's ``work`` for a horizon search: ``train_cell`` with the checkpoints
    kept in ``folder``, so that an extended cell continues the shorter one's run."""

    folder: str

    def __call__(self, cell: Cell, device: str) -> dict[str, Any]:
        return train_cell(cell, device, self.folder)


def setup_worker() -> None:
    torch.set_num_threads(1)  # one thread per worker, one worker per core
    # Vanishing gradients (an Elman RNN at long lengths) reach float32 denormals, which the
    # CPU computes many times slower; flushing them to zero costs nothing measurable.
    torch.set_flush_denormal(True)


def build_model(cell: Cell, task: Task) -> SequenceModel:
    """The cell's network with its seeded initial weights."""
    torch.manual_seed(cell.seed)
    return SequenceModel(task.io, core_class_of(cell), **cell.model_params)


def _train(cell: Cell, dev: torch.device, result: Result, checkpoints: str | None = None
           ) -> None:
    task = task_of(cell)
    result.metric_name, result.chance = task.metric, task.chance(cell.length)
    result.solved_threshold = task.solved
    if cell.is_baseline:
        return _fit_baseline(cell, task, result)
    model = build_model(cell, task).to(dev)
    result.params = count_parameters(model)
    result.state_size = state_size(model)
    run = train_network(model, task, cell.train, cell.length, cell.seed, dev,
                        Checkpoint(checkpoints, cell) if checkpoints else None)
    result.steps, result.status = run.steps, run.status
    result.diverged_step, result.steps_to_solve = run.diverged_step, run.steps_to_solve
    if run.metrics:
        result.metric, result.loss = run.metrics[task.metric], run.metrics["loss"]
        result.metrics = dict(run.metrics)
        result.solved = run.solved
    if run.metrics and cell.train.test_size:
        # The reported metric comes from the test set; the held-out set, which chose when
        # to stop (and, in a horizon search, the learning rate), is "validation".
        test = evaluate(model, task, test_set(task, cell.train, cell.length, cell.seed).to(dev))
        result.metrics = {**test, "validation": dict(run.metrics)}
        result.metric, result.loss = test[task.metric], test["loss"]
        result.solved = result.metric >= task.solved
    assert result.metrics is not None  # Result.of starts it as {}; set to dicts above
    if run.metrics:  # a model that looks ahead is ranked apart (usermodels.check_causal)
        result.metrics["causal"] = bool(getattr(model.core, "causal", True))
    if run.metrics and cell.train.extrapolate and run.status == "ok":
        result.metrics["extrapolation"] = extrapolation(model, task, cell, dev)
    result.metrics["curve"] = run.curve
    if run.stopped_step is not None:
        result.metrics["no_progress_step"] = run.stopped_step


def state_size(model: SequenceModel) -> int | None:
    """Floats the core carries per sequence from one step to the next (None: no fixed
    state, as in attention), where the core says."""
    size = getattr(model.core, "state_size", None)
    return size() if callable(size) else None


@dataclass
class Run:
    """How a network's training went: ``status`` ok or diverged, the last held-out
    metrics, and the curve of (step, held-out metric, held-out loss)."""

    status: str = "ok"
    steps: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    curve: list[list[float]] = field(default_factory=list)  # [step, metric, loss] rows
    solved: bool = False
    steps_to_solve: int | None = None
    diverged_step: int | None = None
    stopped_step: int | None = None  # where the no-progress rule ended the run


def held_out_set(task: Task, cfg: TrainConfig, length: int, seed: int) -> Batch:
    """The examples a cell is evaluated on while it trains (and never trained on): early
    stopping, and the reported metric unless the cell has a test set."""
    return task.sample(cfg.eval_size, length, np.random.default_rng([seed, EVAL_STREAM]))


def test_set(task: Task, cfg: TrainConfig, length: int, seed: int) -> Batch:
    """The examples the reported metric is scored on when ``cfg.test_size`` is on: never
    trained on, never used to stop or to choose."""
    return task.sample(cfg.test_size, length, np.random.default_rng([seed, cells.TEST_STREAM]))


def no_progress(losses: list[float], patience: int, min_delta: float) -> bool:
    """The no-progress rule: the last ``patience`` held-out losses all stayed above
    (1 - ``min_delta``) x the best loss before them. Off when ``patience`` is 0."""
    if patience < 1 or len(losses) <= patience:
        return False
    best = min(losses[:-patience])
    return min(losses[-patience:]) > (1 - min_delta) * best


def train_network(model: torch.nn.Module, task: Task, cfg: TrainConfig, length: int,
                  seed: int, dev: torch.device, checkpoint: Checkpoint | None = None) -> Run:
    """The one training loop: ``cfg.steps`` optimizer steps on fresh batches of the
    seed's training stream, none of them an example of the held-out set, evaluating on
    that set every ``eval_every`` steps and at the end, stopping early once the held-out
    metric reaches the task's solved threshold (``cfg.early_stop``; at the
    ``cfg.solved_evals``-th evaluation in a row that does, and ``cfg.stop_margin`` of the
    way from the threshold to 1 past it). A non-finite loss or
    held-out metric ends the run as ``diverged`` at the step where it happened. With a
    ``checkpoint``, the run goes on from the latest one of its lineage (the same run at a
    shorter budget, or this one interrupted) and saves as it goes: the result is the
    same as a run from step 0 (``memorybench.checkpoints``)."""
    optimizer = make_optimizer(model, cfg)
    train_rng = np.random.default_rng([seed, TRAIN_STREAM])
    held_out = held_out_set(task, cfg, length, seed)
    unseen = input_rows(task, held_out)  # never trained on: see `train_steps`
    if cfg.test_size:
        unseen |= input_rows(task, test_set(task, cfg, length, seed))
    held_out = held_out.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    run = Run()
    step = streak = 0  # streak: evaluations in a row at or above the stop's level
    stop_level = task.solved + cfg.stop_margin * (1 - task.solved)
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved.model)
        optimizer.load_state_dict(saved.optimizer)
        train_rng.bit_generator.state = saved.rng
        fields = {f.name for f in dataclasses.fields(Run)}
        run = Run(**{k: v for k, v in saved.run.items() if k in fields})
        step, streak = saved.step, int(saved.run.get("streak", 0))
        if saved.run.get("ended"):  # it stopped before its budget: a longer one stops there
            return run
    ended = False
    while step < cfg.steps:
        first, step = step + 1, min((step // cfg.eval_every + 1) * cfg.eval_every, cfg.steps)
        bad_step = train_steps(model, optimizer, params, task, cfg, length, train_rng,
                               first, step, dev, exclude=unseen)  # first non-finite loss, or 0
        ended = True
        if bad_step:
            run.status, run.diverged_step, run.steps = "diverged", bad_step, bad_step
            break
        run.steps = step
        metrics = evaluate(model, task, held_out)
        if not all(math.isfinite(v) for v in metrics.values() if isinstance(v, float)):
            run.status, run.diverged_step = "diverged", step
            break
        run.curve.append([step, metrics[task.metric], metrics["loss"]])
        run.metrics, run.solved = metrics, metrics[task.metric] >= task.solved
        streak = streak + 1 if metrics[task.metric] >= stop_level else 0
        if run.solved:
            if run.steps_to_solve is None:
                run.steps_to_solve = step
            if cfg.early_stop and streak >= cfg.solved_evals:
                break
        elif no_progress([loss for _, _, loss in run.curve], cfg.patience, cfg.min_delta):
            run.stopped_step = step
            break
        ended = False
        if checkpoint is not None and step < cfg.steps and checkpoint.due():
            checkpoint.save(snapshot(model, optimizer, train_rng, step, run, streak, False))
    if checkpoint is not None and step > (saved.step if saved else 0):
        checkpoint.save(snapshot(model, optimizer, train_rng, step, run, streak, ended))
    return run


def snapshot(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             rng: np.random.Generator, step: int, run: Run, streak: int,
             ended: bool) -> Saved:
    """A run's state at an evaluation (``ended``: it stopped there before its budget)."""
    return Saved(step, model.state_dict(), optimizer.state_dict(), dict(rng.bit_generator.state),
                 {**dataclasses.asdict(run), "streak": streak, "ended": ended})


def train_steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                params: list[torch.nn.Parameter],
                task: Task, cfg: TrainConfig, length: int, rng: np.random.Generator,
                first: int, last: int, dev: torch.device,
                exclude: frozenset[bytes] = frozenset()) -> int:
    """Training steps ``first`` to ``last``, each on a fresh batch; returns the first of them
    whose loss was not finite, or 0. The losses stay on the device until the end: one host
    sync per call, not one per step. A training example whose inputs are in ``exclude``
    (the held-out set's, from ``tasks.base.input_rows``) is replaced by a fresh one on the
    host, before the batch moves to the device: a model is never scored on an example it
    was trained on, which at short lengths of small token tasks would otherwise happen."""
    losses = []
    for _ in range(first, last + 1):
        batch = sample_unseen(task, cfg.batch_size, length, rng, exclude).to(dev)
        loss = task.loss(model(batch.x), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        optimizer.step()
        losses.append(loss.detach())
    finite = torch.isfinite(torch.stack(losses))  # (last - first + 1,)
    if bool(finite.all()):
        return 0
    return first + int(torch.argmin(finite.int()))


def _fit_baseline(cell: Cell, task: Task, result: Result) -> None:
    """A baseline cell: the same training stream and held-out set as a model's, and the
    same row (params = fitted coefficients, steps = training examples)."""
    baseline = baseline_class_of(cell)(**cell.model_params)
    held_out = (test_set if cell.train.test_size else held_out_set)(
        task, cell.train, cell.length, cell.seed)  # a fit chooses nothing on held-out data
    metrics = baseline.fit_score(task, cell.length,
                                 np.random.default_rng([cell.seed, TRAIN_STREAM]), held_out)
    metric = metrics[task.metric]
    result.params, result.steps = metrics["coefficients"], metrics["train_examples"]
    result.metric, result.metrics, result.solved = metric, metrics, metric >= task.solved
    if result.solved:
        result.steps_to_solve = result.steps
