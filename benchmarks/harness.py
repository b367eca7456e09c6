"""What every benchmark section shares: machine facts, one cell's pieces, Markdown tables."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from memorybench.catalog import build_task, model_class
from memorybench.config import TrainConfig
from memorybench.models.base import SequenceModel
from memorybench.sweep import Sweep
from memorybench.tasks.base import Task
from memorybench.training import make_optimizer


def load() -> str:
    """The 1-minute load average beside the core count: how shared the machine is."""
    return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def machine() -> list[str]:
    return [f"cores: {os.cpu_count()} ({platform.processor() or platform.machine()})",
            f"torch {torch.__version__}, Python {platform.python_version()}, "
            f"one torch thread per process",
            f"load average at the start: {load()}"]


@dataclass
class Table:
    """One section's result: a title, a note on what was measured, columns and rows."""

    title: str
    note: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)

    def add(self, *values) -> None:
        self.rows.append([fmt(v) for v in values])
        print("  " + " | ".join(self.rows[-1]), flush=True)

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.note, "",
                 "| " + " | ".join(self.columns) + " |",
                 "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"


def fmt(value) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


@dataclass
class Setup:
    """The pieces of one cell, built as ``training._train`` builds them."""

    cell: dict
    task: Task
    cfg: TrainConfig
    model: SequenceModel


def setup(task: str, model: str, length: int, train: dict, model_params: dict | None = None,
          seed: int = 0, params: int | None = None) -> Setup:
    """One cell's pieces, its network built from the seed; ``params`` sizes it as
    ``--params`` does."""
    cell = Sweep(tasks=[task], models=[model], lengths=[length], seeds=[seed],
                 train={"early_stop": False, **train}, model=model_params or {},
                 params=params).cells()[0]
    built = build_task(task, cell.task_params)
    torch.manual_seed(seed)
    net = SequenceModel(built.io, model_class(model), **cell.model_params)
    return Setup(cell, built, cell.train, net)


def optimizer(s: Setup) -> torch.optim.Optimizer:
    return make_optimizer(s.model, s.cfg)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def stepper(net: torch.nn.Module, task: Task, cfg: TrainConfig, length: int,
            seed: int = 0, opt: torch.optim.Optimizer | None = None) -> Callable[[], None]:
    """One training step of ``net`` on fresh batches, as ``training.train_steps`` takes it:
    a batch of the seed's stream, forward, loss, backward, clip, the optimizer's step (the
    cell's, ``make_optimizer``, unless ``opt`` is given)."""
    opt, stream = opt or make_optimizer(net, cfg), rng(seed)

    def step() -> None:
        data = task.sample(cfg.batch_size, length, stream)
        loss = task.loss(net(data.x), data)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()

    return step


def least_rounds(sides: dict[str, Callable[[], None]], rounds: int, steps: int
                 ) -> dict[str, float]:
    """Milliseconds per call of each side: its least round of ``steps`` calls, the sides
    alternating round by round so load on a shared machine hits them all."""
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(rounds):
        for name, step in sides.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / steps * 1e3)
    return best
