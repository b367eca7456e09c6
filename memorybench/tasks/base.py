"""What every task provides: seeded batches, a loss, a score, and its chance level.

A task is a small frozen dataclass whose fields are its parameters (set from its TOML spec
in ``tasks/``); ``sample`` draws a batch of a given memory distance ("length") from a
numpy generator, so the same seed always gives the same data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from memorybench.config import MAX_LENGTH
from memorybench.errors import UserError, expected_type

IGNORE = -100  # target value at positions that carry no label (PyTorch's cross-entropy default)


@dataclass(frozen=True)
class TaskIO:
    """The shapes a model must accept and produce for a task."""

    inputs: str  # "tokens": x is (B, T) int64 | "reals": x is (B, T, in_size) float32
    in_size: int  # vocabulary size, or features per step
    targets: str  # "class": logits over out_size classes | "real": out_size real values
    out_size: int
    positions: str  # "last": one output per sequence | "each": one output per step


@dataclass
class Batch:
    """Inputs, targets and per-example facts (e.g. attractor counts) for slicing scores."""

    x: torch.Tensor
    y: torch.Tensor  # (B,) classes | (B, out) reals | (B, T) classes with IGNORE where unlabelled
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.x.to(device), self.y.to(device), self.meta)


@dataclass(frozen=True)
class Task:
    """Base class of every task. Subclasses set the class variables and implement
    ``io``, ``sample``, ``score`` and ``chance``; their dataclass fields are parameters."""

    name: ClassVar[str] = "task"  # set by the registry
    description: ClassVar[str] = ""
    length_meaning: ClassVar[str] = ""
    metric: ClassVar[str] = "accuracy"  # the score plotted against length; higher is better
    version: ClassVar[int] = 1  # bump when the generator changes: old results stop matching
    balanced: ClassVar[bool] = False  # every class equally frequent in every batch

    solved: float = 0.9  # metric at or above which a cell counts as solved

    def __post_init__(self):
        self.check_types()
        self.require("solved", 0.0 < self.solved <= 1.0, "0 < solved <= 1")
        self.validate()

    def check_types(self) -> None:
        """Every parameter has the type of its default: true/false, an integer (not a
        bool), a number (an integer is stored as a float, so ``tolerance=1`` and
        ``tolerance=1.0`` are the same cell) or a string."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.generic):  # a numpy scalar, e.g. from a numpy sweep
                value = value.item()
            expected = expected_type(f.default, value)
            if expected:
                raise UserError(f"task {self.name}: parameter {f.name}={value!r} has the "
                                f"wrong type; expected {expected}")
            if isinstance(f.default, float):
                value = float(value)
            object.__setattr__(self, f.name, value)  # frozen: set it directly

    def validate(self) -> None:
        """Check parameters; raise through ``require``."""

    def require(self, name: str, ok: bool, expected: str) -> None:
        if not ok:
            value = getattr(self, name)
            raise UserError(f"task {self.name}: parameter {name}={value!r} is out of range; "
                            f"expected {expected}")

    @classmethod
    def parameters(cls) -> dict[str, object]:
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @property
    def min_length(self) -> int:
        """The shortest length the task can make: a constant a task class sets
        (``min_length = 2``), or one computed from its parameters (``recall``'s pairs)."""
        return 1

    def check_length(self, length: int) -> None:
        """An integer from ``min_length`` to ``MAX_LENGTH``, or one line saying why not."""
        if isinstance(length, bool) or not isinstance(length, int) or length < self.min_length:
            raise UserError(f"task {self.name}: length {length!r} is invalid; expected an "
                            f"integer >= {self.min_length} ({self.length_meaning})")
        if length > MAX_LENGTH:
            raise UserError(f"task {self.name}: length {length:,} is too long; expected at "
                            f"most {MAX_LENGTH:,} (memorybench.config.MAX_LENGTH)")

    # --- to implement -------------------------------------------------------------------
    @property
    def io(self) -> TaskIO:
        raise NotImplementedError

    def sample(self, n: int, length: int, rng: np.random.Generator) -> Batch:
        raise NotImplementedError

    def score(self, out: torch.Tensor, batch: Batch) -> dict[str, Any]:
        """Metrics of model outputs on a batch; must include ``self.metric``, a number.
        Others may be breakdowns (``agreement``'s accuracy per attractor count)."""
        raise NotImplementedError

    def chance(self, length: int) -> float:
        """The metric a model with no memory of the deciding input scores at ``length``."""
        raise NotImplementedError

    def probe(self, n: int, length: int, rng: np.random.Generator) -> tuple[Batch, Batch, Batch]:
        """Three batches that prove the target needs memory of ``length`` steps.

        ``base``; ``deciding``: base with only the deciding input changed (the one about
        ``length`` steps before the output that reads it), so every example's target
        changes; ``filler``: base with only inputs the target must not depend on changed,
        so every target stays the same. The shared test battery checks all three.
        """
        raise NotImplementedError

    # --- shared defaults ----------------------------------------------------------------
    def sequence_steps(self, length: int) -> int:
        """Time steps of one input sequence at ``length``, without drawing one that long:
        a line through two short samples (tasks whose extra steps grow with a parameter,
        such as copy's symbols, say so themselves)."""
        short = max(self.min_length, 8)
        rng = np.random.default_rng(0)
        a, b = (self.sample(1, n, rng).x.shape[1] for n in (short, 2 * short))
        return a + (b - a) * (length - short) // short

    def memory_target(self, batch: Batch, distance: int, rng: np.random.Generator
                      ) -> tuple[torch.Tensor, np.ndarray] | None:
        """For the memory probe of ``memorybench.diagnostics``: inputs whose final state
        should hold a value from ``distance`` steps before the last, and that value (B, k).
        None (the default): the input at that distance is itself what to read back."""
        return None

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Cross-entropy for classes (unlabelled positions ignored), MSE for reals."""
        if self.io.targets == "real":
            return F.mse_loss(out, batch.y)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), batch.y.reshape(-1),
                               ignore_index=IGNORE)


def balanced_labels(n: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """Class labels 0..classes-1 in random order, each as frequent as the others (+-1)."""
    return rng.permutation((np.arange(n) + rng.integers(classes)) % classes)


def lined_up(rows: dict[str, object]) -> str:
    """Rows of values printed as aligned columns, for the examples in task docstrings."""

    def cell(v) -> str:
        if isinstance(v, float | np.floating):
            return f"{v:.2f}"
        return str(v.item() if hasattr(v, "item") else v)

    cells = {k: [cell(v) for v in np.asarray(vals).tolist()] for k, vals in rows.items()}
    width = max(len(c) for cs in cells.values() for c in cs)
    label = max(len(k) for k in cells)
    return "\n".join(f"{k:<{label}} " + " ".join(c.rjust(width) for c in cs)
                     for k, cs in cells.items())


def input_rows(task: Task, batch: Batch) -> frozenset[bytes]:
    """The distinct input rows of a batch of a token task, as bytes to look up; empty for
    real-valued inputs, whose rows never repeat."""
    if task.io.inputs != "tokens":
        return frozenset()
    return frozenset(_row_bytes(batch.x))


def held_out_share(task: Task, length: int, size: int, seed: int = 0) -> float:
    """The share of fresh inputs at ``length`` that repeat an input of a held-out set of
    ``size`` examples drawn before them: near 0 where a task has many more inputs than
    that, near 1 where a held-out set that big is nearly every input it has (parity at
    length 2 has 4). Real-valued inputs never repeat: 0."""
    if task.io.inputs != "tokens" or size < 1:
        return 0.0
    rng = np.random.default_rng(seed)
    held = input_rows(task, task.sample(size, length, rng))
    fresh = _row_bytes(task.sample(size, length, rng).x)
    return sum(row in held for row in fresh) / len(fresh)


def _row_bytes(x: torch.Tensor) -> list[bytes]:
    rows = np.ascontiguousarray(x.cpu().numpy())
    return [row.tobytes() for row in rows]


def sample_unseen(task: Task, n: int, length: int, rng: np.random.Generator,
                  excluded: frozenset[bytes]) -> Batch:
    """``task.sample`` without the examples whose inputs are in ``excluded`` (e.g. the
    held-out set's, from ``input_rows``): rows that repeat one are replaced by fresh draws
    from the same generator. With nothing to exclude the batch is ``task.sample``'s, drawn
    from the generator exactly as before."""
    batch = task.sample(n, length, rng)
    if not excluded:
        return batch
    kept, count, drawn = [], 0, n
    while True:
        new = np.array([row not in excluded for row in _row_bytes(batch.x)])
        kept.append(_rows(batch, new))
        count += int(new.sum())
        if count >= n:
            break
        if drawn >= 100 * n:  # under 1% of draws are new: the held-out set is the task
            raise UserError(f"task {task.name} at length {length}: {count} of {drawn} "
                            "training examples were not held-out examples; it has too few "
                            "distinct inputs for a separate held-out set")
        batch = task.sample(n, length, rng)
        drawn += n
    if len(kept) == 1:
        return kept[0]
    meta = {k: np.concatenate([b.meta[k] for b in kept])[:n] for k in kept[0].meta}
    return Batch(torch.cat([b.x for b in kept])[:n], torch.cat([b.y for b in kept])[:n], meta)


def _rows(batch: Batch, mask: np.ndarray) -> Batch:
    if mask.all():
        return batch
    where = torch.from_numpy(mask)
    return Batch(batch.x[where], batch.y[where], {k: v[mask] for k, v in batch.meta.items()})
