"""The typed settings of the benchmark: how one cell trains (``TrainConfig``) and how a
horizon is searched (``Protocol``). Each is a frozen dataclass validated where it is built,
so a bad value is one ``UserError`` line before any work starts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from memorybench.errors import UserError


@dataclass(frozen=True)
class TrainConfig:
    """How one cell is trained. Task and model specs set these; flags override them."""

    steps: int = 2000  # budget of optimizer steps, each on a fresh batch
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | rmsprop
    clip: float = 1.0  # max gradient norm
    eval_every: int = 250  # steps between evaluations on the held-out set
    eval_size: int = 1000  # held-out examples (drawn from a different seed)
    early_stop: bool = True  # stop as soon as the held-out metric reaches `solved`
    # Settings added after results were stored and keyed; each default means "off" and a
    # setting at its default is left out of the cell's config and key (``OPTIONAL_TRAIN``),
    # so the keys of every cell stored before them stay what they were.
    test_size: int = 0  # > 0: score the reported metric on a separate test set this big,
    # seen by no early stop or selection; the held-out set's metrics become "validation"
    extrapolate: tuple[int, ...] = ()  # score the trained network at these multiples of
    # its length too (metrics["extrapolation"])
    patience: int = 0  # > 0: stop a run whose held-out loss has not fallen below
    # (1 - min_delta) x its best for this many evaluations in a row (no progress)
    min_delta: float = 0.01
    solved_evals: int = 1  # evaluations in a row at or above the threshold before an early
    # stop: 1 stops at the first; more leave a margin for a separate test set to judge, as
    # a run stopped the moment its validation metric touches the threshold scores about the
    # threshold on the test set and fails it as often as not

    def __post_init__(self):
        object.__setattr__(self, "extrapolate", tuple(self.extrapolate))
        positive_ints = ("steps", "batch_size", "eval_every", "eval_size", "solved_evals")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"train.{name}={value!r} is invalid; expected an integer >= 1")
        for name in ("lr", "clip"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value <= 0):
                raise UserError(f"train.{name}={value!r} is invalid; expected a finite "
                                "number > 0")
        if self.optimizer not in ("adam", "rmsprop"):
            raise UserError(f"train.optimizer={self.optimizer!r} is invalid; "
                            "expected 'adam' or 'rmsprop'")
        if not isinstance(self.early_stop, bool):
            raise UserError(f"train.early_stop={self.early_stop!r}; expected true or false")
        for name in ("test_size", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UserError(f"train.{name}={value!r} is invalid; expected an integer >= 0 "
                                "(0: off)")
        for multiple in self.extrapolate:
            if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
                raise UserError(f"extrapolation multiple {multiple!r} is invalid; expected "
                                "integers >= 1, e.g. 2,4,8")
        if (isinstance(self.min_delta, bool) or not isinstance(self.min_delta, int | float)
                or not 0 <= self.min_delta < 1):
            raise UserError(f"train.min_delta={self.min_delta!r} is invalid; expected a "
                            "number from 0 to below 1")

    def config(self) -> dict:
        """The settings as stored and hashed: those of ``OPTIONAL_TRAIN`` only when on."""
        out = dataclasses.asdict(self)
        out["extrapolate"] = list(self.extrapolate)
        return {k: v for k, v in out.items()
                if k not in OPTIONAL_TRAIN or v != OPTIONAL_TRAIN[k]}


TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}
# The rule that keeps old keys: these fields are stored (and hashed) only away from these
# values (``min_delta`` only matters with ``patience`` on).
OPTIONAL_TRAIN = {"test_size": 0, "extrapolate": [], "patience": 0, "min_delta": 0.01,
                  "solved_evals": 1}



@dataclass(frozen=True)
class Protocol:
    """How a horizon is searched (a suite's ``[horizon]`` table; flags override it)."""

    factor: float = 2.0  # ladder ratio
    resolution: float = 1.5  # refine until the bracket's ratio is at most this: one
    # geometric midpoint of a x2 rung, a bracket of about sqrt(2) = 1.41
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)  # learning-rate grid; a model spec may
    # give its own (``horizon = { lrs = [...] }``)
    lr_rungs: str = "every"  # where the grid is trained: "every" rung, or the "first" rung
    # only, its chosen rate then held up the ladder (a grid's cost at the cheapest length)
    multiples: tuple[int, ...] = (2, 4, 8)  # extrapolation: test at k x the length
    test_size: int = 1000  # examples of the test set (the validation set is eval_size)
    patience: int = 0  # the no-progress stop (TrainConfig.patience); 0: off
    min_delta: float = 0.01  # its improvement: held-out loss below (1 - this) x its best
    solved_evals: int = 2  # an early stop needs this many evaluations in a row at or above
    # the threshold (TrainConfig.solved_evals): stopped at the first, a run's test metric
    # sits at the threshold and fails it about half the time

    def __post_init__(self):
        check_protocol(self)


def check_protocol(p: Protocol) -> None:
    """Bad protocol values, one line each."""
    def number(v) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if not number(p.factor) or p.factor <= 1:
        raise UserError(f"horizon factor {p.factor!r} is invalid; expected a number > 1, "
                        "e.g. 2")
    if not number(p.resolution) or p.resolution <= 1:
        raise UserError(f"horizon resolution {p.resolution!r} is invalid; expected a number "
                        "> 1, e.g. 1.4")
    if p.lr_rungs not in ("every", "first"):
        raise UserError(f"horizon lr_rungs {p.lr_rungs!r} is invalid; expected \"every\" "
                        "(the grid at every rung) or \"first\" (the grid at the first rung, "
                        "its rate then held)")
    if not p.lrs:
        raise UserError("the learning-rate grid is empty; expected at least one rate, e.g. "
                        "--lrs 1e-3,3e-3,1e-2")
    for lr in p.lrs:
        if not number(lr) or lr <= 0:
            raise UserError(f"learning rate {lr!r} is invalid; expected numbers > 0, e.g. "
                            "--lrs 1e-3,3e-3,1e-2")
    for k in p.multiples:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UserError(f"extrapolation multiple {k!r} is invalid; expected integers "
                            ">= 1, e.g. --multiples 2,4,8")
    if not number(p.min_delta) or not 0 <= p.min_delta < 1:
        raise UserError(f"horizon min_delta {p.min_delta!r} is invalid; expected a number in "
                        "[0, 1), e.g. 0.01")
    for name in ("test_size", "patience", "solved_evals"):
        value, least = getattr(p, name), int(name == "solved_evals")
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UserError(f"horizon {name} {value!r} is invalid; expected an integer >= "
                            f"{least}")
