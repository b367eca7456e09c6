"""The typed settings of the benchmark, and the one rule for which of them wins.

``TrainConfig`` is how one cell trains, ``Protocol`` how a horizon is searched, and
``Request`` what a command or an API call asks for before any spec is read. Each is a frozen
dataclass validated where it is built, so a bad value is one ``UserError`` line before any
work starts.

Where a setting comes from, lowest first (a later layer wins, key by key; ``merged``)::

    layer                         train settings            task params     model params
    1 defaults                    TrainConfig's fields      the task class  the core class
    2 the task's spec             tasks/T.toml [train]      [params]        -
    3 the model's spec            models/M.toml [train]     -               [params]
    4 a suite, every task/model   [train]                   [task]          [model]
    5 a suite, one task/model     [train.T]                 [task.T]        [model.M]
    6 the search only             [horizon.train], [horizon.train.T], [horizon.task],
                                  [horizon.model] (``memorybench horizon``; ``run`` skips them)
    7 the command line / the API  --steps, --lr, ..., --set train.X / task.X / model.X,
      (``task={"copy": {...}}``)  --set train.T.X / task.T.X / model.M.X
    8 the search's protocol       lr of the grid, test_size, extrapolate, patience,
                                  min_delta, solved_evals, stop_margin (``Protocol``,
                                  a horizon's cells)

Within a layer a value for one task or model (a table named after it: ``[model.mamba]``,
``--set model.mamba.layers=1``, ``model={"mamba": {"layers": 1}}``) beats the value for
all (scoped beats unscoped); a value for all applies to every selected task or model that
takes the key, and a key none of them takes, a key the named one lacks, or a table naming
one not selected is an error.

A model's width chosen by ``--params`` replaces a width from layers 1-5 but not one given
at layer 7. A learning-rate *grid* (``memorybench horizon``) is, lowest first: ``Protocol``'s
default, a suite's ``[horizon] lrs``, a model spec's ``horizon = { lrs = [...] }``, ``--lrs``;
each cell of a rung then takes one rate of it (layer 8).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from memorybench.errors import UserError


def merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Settings from ``layers``, lowest first: a key of a later layer wins."""
    out: dict[str, Any] = {}
    for layer in layers:
        out.update(layer)
    return out


# The largest learning rate accepted: far above any rate that trains (a rate this large
# diverges, which is a result), and below float32's range, past which the optimizer's step
# itself overflows and the cell fails (a rate of 1e300 is refused, not trained).
MAX_LR = 1e30

# The bounds of what a command may ask for, each refused with one line before any work
# (``memorybench data``, ``run``, ``horizon`` and the API alike):
#
# - MAX_LENGTH, the longest memory distance ("length"): a thousand times the longest ladder
#   of any suite or task spec (1,024), and still one every task generates (one example is
#   at most about 2 x 10^6 steps, some MB); past it one sequence alone would outgrow a
#   machine's memory long before a network could train on it.
# - MAX_RUNGS, the most lengths one ladder climbs: a x2 ladder from 1 to MAX_LENGTH has 21
#   and x1.1 has 146; each rung trains rates x seeds cells, so a factor so close to 1 that
#   its ladder needs more is a typo, not a search (and its plan alone would be huge).
# - MAX_SEED: numpy's and torch's generators take seeds from 0 up to it.
# - DATA_COPIES: ``memorybench data`` holds about this many copies of one file's arrays at
#   once (the batches drawn, their concatenation, the bytes hashed), so one file may take
#   at most this share of the machine's memory.
MAX_LENGTH = 10 ** 6
MAX_RUNGS = 200
MAX_SEED = 2 ** 63 - 1
DATA_COPIES = 3


def _whole(value: object, least: int) -> bool:
    """An integer (not a bool, which Python counts as one) of at least ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _finite(value: object) -> bool:
    """A number that is not a bool, NaN or infinite."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def check_distinct(what: str, values: Sequence[Any], example: str) -> None:
    """Each value once, equal numbers being the same value (1e-2 and 0.01): a value given
    twice would train the same cells twice over and count them twice."""
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            shown = (f"{value:g} is given twice (equal numbers are one value)"
                     if isinstance(value, float) else f"{value!r} is given twice")
            raise UserError(f"{what}: {shown}; expected distinct values, e.g. {example}")
        seen.add(value)


def check_seeds(seeds: Sequence[Any], where: str = "--seeds") -> None:
    """Distinct integers from 0 to ``MAX_SEED``, or one line naming the first that is not."""
    for seed in seeds:
        if not _whole(seed, 0) or seed > MAX_SEED:
            raise UserError(f"{where}: seed {seed!r} is invalid; expected an integer from 0 to "
                            "2**63 - 1, e.g. 0,1,2")
    check_distinct(where, seeds, "0,1,2")


def check_lengths(lengths: Sequence[Any], where: str = "--lengths") -> None:
    """Distinct integers from 1 to ``MAX_LENGTH`` (a task may ask for more than 1: its
    ``check_length``), or one line naming the first that is not."""
    for length in lengths:
        if not _whole(length, 1) or length > MAX_LENGTH:
            raise UserError(f"{where}: length {length!r} is invalid; expected integers from 1 "
                            f"to {MAX_LENGTH:,}, e.g. 10,50,100")
    check_distinct(where, lengths, "10,50,100")


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
    stop_margin: float = 0.0  # an early stop needs the held-out metric this fraction of the
    # way from the threshold to 1 (0.2 at a threshold of 0.9: 0.92); the cell is still
    # judged solved at the threshold. 0: stop at the threshold itself

    def __post_init__(self) -> None:
        object.__setattr__(self, "extrapolate", tuple(self.extrapolate))
        for name in ("steps", "batch_size", "eval_every", "eval_size", "solved_evals"):
            if not _whole(getattr(self, name), 1):
                raise UserError(f"train.{name}={getattr(self, name)!r} is invalid; expected an "
                                "integer >= 1")
        for name in ("lr", "clip"):
            if not _finite(getattr(self, name)) or getattr(self, name) <= 0:
                raise UserError(f"train.{name}={getattr(self, name)!r} is invalid; expected a "
                                "finite number > 0")
        if self.lr > MAX_LR:
            raise UserError(f"train.lr={self.lr!r} is invalid; expected a learning rate from 0 "
                            f"to {MAX_LR:g}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise UserError(f"train.optimizer={self.optimizer!r} is invalid; "
                            "expected 'adam' or 'rmsprop'")
        if not isinstance(self.early_stop, bool):
            raise UserError(f"train.early_stop={self.early_stop!r}; expected true or false")
        for name in ("test_size", "patience"):
            if not _whole(getattr(self, name), 0):
                raise UserError(f"train.{name}={getattr(self, name)!r} is invalid; expected an "
                                "integer >= 0 (0: off)")
        for multiple in self.extrapolate:
            if not _whole(multiple, 1):
                raise UserError(f"extrapolation multiple {multiple!r} is invalid; expected "
                                "integers >= 1, e.g. 2,4,8")
        for name in ("min_delta", "stop_margin"):
            if not _finite(getattr(self, name)) or not 0 <= getattr(self, name) < 1:
                raise UserError(f"train.{name}={getattr(self, name)!r} is invalid; expected a "
                                "number from 0 to below 1")

    def config(self) -> dict[str, Any]:
        """The settings as stored and hashed: those of ``OPTIONAL_TRAIN`` only when on."""
        out = dataclasses.asdict(self)
        out["extrapolate"] = list(self.extrapolate)
        return {k: v for k, v in out.items()
                if k not in OPTIONAL_TRAIN or v != OPTIONAL_TRAIN[k]}


TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}
# The rule that keeps old keys: these fields are stored (and hashed) only away from these
# values (``min_delta`` only matters with ``patience`` on).
OPTIONAL_TRAIN = {"test_size": 0, "extrapolate": [], "patience": 0, "min_delta": 0.01,
                  "solved_evals": 1, "stop_margin": 0.0}



@dataclass(frozen=True)
class Protocol:
    """How a horizon is searched (a suite's ``[horizon]`` table; flags override it)."""

    factor: float = 2.0  # ladder ratio
    resolution: float = 1.5  # refine until the bracket's ratio is at most this: one
    # geometric midpoint of a x2 rung, a bracket of about sqrt(2) = 1.41
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)  # learning-rate grid; a model spec may
    # give its own (``horizon = { lrs = [...] }``)
    lr_rungs: str = "every"  # where the grid is trained: "every" rung, or the "first" rung,
    # its chosen rate then held up the ladder (a grid's cost at the cheapest length) and the
    # grid trained again at a rung that fails at it, before it counts as failed;
    # "first-only" holds the rate at failing rungs too (leaderboard v2's protocol)
    multiples: tuple[int, ...] = (2, 4, 8)  # extrapolation: test at k x the length
    test_size: int = 1000  # examples of the test set (the validation set is eval_size)
    patience: int = 0  # the no-progress stop (TrainConfig.patience); 0: off
    min_delta: float = 0.01  # its improvement: held-out loss below (1 - this) x its best
    control: bool = True  # train each network's search at its task's control length first
    # (the shortest memory distance the task takes): a model that does not learn it there
    # has no horizon to measure, and reads "not learned", not "< start"
    ceiling: int = 8  # a failing rung's budget is doubled, each cell continuing from its
    # checkpoint, while its seeds were still learning or had fewer than control_multiple x
    # the steps the control took, up to ceiling x the base budget; 1: never extended
    ceiling_tokens: int = 0  # above the control, a failing rung's budget doubles only
    # while each seed's budget stays within this many training tokens (steps x batch size x
    # the time steps of one example), so a rung is given the same tokens whatever the
    # model; 0: the step ceiling alone. A failure cut by it while still learning reads
    # "≥ a (budget)", as at the ceiling
    control_multiple: float = 4.0  # k: a length counts as failed only after k x the steps
    # its seeds needed to solve the control (the ladder's first rung), or at the ceiling
    lr_beyond: int = 2  # at a failing rung whose best rate is the grid's edge, rates tried
    # one grid step beyond it, up to this many per side; 0: the grid only
    recipe: str = "common"  # "common": every network trains with Adam at the grid's rates,
    # one tuning procedure; "model": each with its spec's optimizer (the orthogonal RNN's
    # RMSprop: leaderboard v2's protocol)
    solved_evals: int = 2  # an early stop needs this many evaluations in a row at or above
    # the threshold (TrainConfig.solved_evals): stopped at the first, a run's test metric
    # sits at the threshold and fails it about half the time
    stop_margin: float = 0.2  # ... and a held-out metric this fraction of the way from the
    # threshold to 1 (TrainConfig.stop_margin): a stop at the threshold's edge leaves a test
    # metric under it and nothing to continue (python -m benchmarks.stop_margin)

    def __post_init__(self) -> None:
        check_protocol(self)


def check_protocol(p: Protocol) -> None:
    """Bad protocol values, one line each."""
    number = _finite
    if not number(p.factor) or p.factor <= 1:
        raise UserError(f"horizon factor {p.factor!r} is invalid; expected a number > 1, "
                        "e.g. 2")
    if not number(p.resolution) or p.resolution <= 1:
        raise UserError(f"horizon resolution {p.resolution!r} is invalid; expected a number "
                        "> 1, e.g. 1.4")
    if not isinstance(p.control, bool):
        raise UserError(f"horizon control {p.control!r} is invalid; expected true (train the "
                        "task's control length first) or false")
    if p.lr_rungs not in ("every", "first", "first-only"):
        raise UserError(f"horizon lr_rungs {p.lr_rungs!r} is invalid; expected \"every\" "
                        "(the grid at every rung), \"first\" (the grid at the first rung, "
                        "its rate then held, the grid again at a failing rung) or "
                        "\"first-only\" (its rate held at failing rungs too)")
    if p.recipe not in ("common", "model"):
        raise UserError(f"horizon recipe {p.recipe!r} is invalid; expected \"common\" (every "
                        "network with Adam at the grid's rates) or \"model\" (each with its "
                        "spec's optimizer)")
    if not number(p.control_multiple) or p.control_multiple < 0:
        raise UserError(f"horizon control_multiple {p.control_multiple!r} is invalid; "
                        "expected a number >= 0, e.g. 4")
    if not p.lrs:
        raise UserError("the learning-rate grid is empty; expected at least one rate, e.g. "
                        "--lrs 1e-3,3e-3,1e-2")
    for lr in p.lrs:
        if not number(lr) or not 0 < lr <= MAX_LR:
            raise UserError(f"learning rate {lr!r} is invalid; expected numbers above 0 and "
                            f"at most {MAX_LR:g}, e.g. --lrs 1e-3,3e-3,1e-2")
    for k in p.multiples:
        if not _whole(k, 1):
            raise UserError(f"extrapolation multiple {k!r} is invalid; expected integers "
                            ">= 1, e.g. --multiples 2,4,8")
    check_distinct("learning rates", p.lrs, "--lrs 1e-3,3e-3,1e-2")
    check_distinct("extrapolation multiples", p.multiples, "--multiples 2,4,8")
    for name, example in (("min_delta", "0.01"), ("stop_margin", "0.2")):
        if not number(getattr(p, name)) or not 0 <= getattr(p, name) < 1:
            raise UserError(f"horizon {name} {getattr(p, name)!r} is invalid; expected a "
                            f"number in [0, 1), e.g. {example}")
    # test_size >= 1: a search judges solved-or-not on a test set, not on the stop's own set
    for name in ("test_size", "patience", "solved_evals", "ceiling", "lr_beyond",
                 "ceiling_tokens"):
        value, least = getattr(p, name), int(name in ("solved_evals", "ceiling", "test_size"))
        if not _whole(value, least):
            raise UserError(f"horizon {name} {value!r} is invalid; expected an integer >= "
                            f"{least}")


@dataclass(frozen=True)
class Request:
    """What a command or an API call asks to run, before any spec is read: a suite and/or
    names, lengths, seeds and a parameter budget, and the values of layer 7 of the table
    above (``train``, ``task``, ``model``: ``--set SECTION.KEY=VALUE``, ``--set
    SECTION.NAME.KEY=VALUE`` as a table ``{NAME: {KEY: VALUE}}``, and the training flags;
    ``protocol``: the horizon flags ``--factor``, ``--lrs``, ...). ``None`` and empty mean
    "not given": the suite's, or the specs'."""

    suite: str | None = None
    tasks: Sequence[str] = ()
    models: Sequence[str] = ()
    lengths: Sequence[int] | None = None
    seeds: Sequence[int] | None = None
    params: int | None = None
    train: Mapping[str, Any] = field(default_factory=dict)
    task: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    protocol: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("tasks", "models"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        for name in ("lengths", "seeds"):
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(value) if value else None)
        check_seeds(self.seeds or ())
        check_lengths(self.lengths or ())
        for name in ("train", "task", "model"):
            check_table(name, getattr(self, name))
        given = {k: v for k, v in self.train.items() if v is not None}
        object.__setattr__(self, "train", given)


def check_table(section: str, values: object) -> None:
    """Settings of ``section`` as a ``Request`` takes them: a mapping of keys to values,
    and of task or model names to such mappings (one level: ``{"copy": {"symbols": 4}}``)."""
    example = {"train": '{"steps": 500, "copy": {"steps": 900}}',
               "task": '{"symbols": 4, "copy": {"symbols": 8}}',
               "model": '{"hidden": 64, "mamba": {"layers": 1}}'}[section]
    wrong = UserError(f"{section} settings {values!r} are invalid; expected a dict of "
                      f"values and of tables named after a task or model, e.g. {example}")
    if not isinstance(values, Mapping):
        raise wrong
    for key, value in values.items():
        if not isinstance(key, str):
            raise wrong
        if isinstance(value, Mapping) and (
                not all(isinstance(k, str) for k in value)
                or any(isinstance(v, Mapping) for v in value.values())):
            raise wrong
