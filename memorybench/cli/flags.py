"""Command-line values to requests: comma lists, ``--set SECTION.KEY=VALUE``, the training
flags every training command shares (``training_flags``), and the flags of a training
command as one ``Options`` object.

Each parser turns bad text into one ``UserError`` line that says what was expected.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from memorybench.cli.group import FiniteFloat
from memorybench.config import Request, merged
from memorybench.errors import UserError


def parse_ints(option: str, text: str | None, example: str = "10,50,100") -> list[int] | None:
    """'10,50,100' -> [10, 50, 100]; anything else is a one-line error."""
    if text is None:
        return None
    values = []
    for part in text.split(","):
        part = part.strip()
        digits = part[1:] if part.startswith("-") else part
        try:
            if not (digits.isascii() and digits.isdigit()):  # int() takes "1_0" and "١٠"
                raise ValueError(part)
            values.append(int(part))
        except ValueError:
            raise UserError(f"{option}: {part!r} is not an integer; expected comma-separated "
                            f"integers like {example}") from None
    return values


def parse_lengths(text: str | None) -> list[int] | None:
    lengths = parse_ints("--lengths", text)
    for length in lengths or []:
        if length <= 0:
            raise UserError(f"--lengths: {length} is not a positive length; expected integers "
                            ">= 1 like 10,50,100")
    return lengths


def parse_set(items: tuple[str, ...]) -> dict[str, dict]:
    """``--set train.steps=500 --set model.hidden=64`` -> {"train": {...}, "model": {...}};
    ``--set model.mamba.layers=1`` -> {"model": {"mamba": {"layers": 1}}}: a setting for
    one model (task) only, as a suite's ``[model.mamba]`` table. A name may hold '-'
    (``task.selective-copy.tokens=4``); the key is what follows its last dot."""
    out: dict[str, dict] = {"train": {}, "task": {}, "model": {}}
    for item in items:
        name, sep, raw = item.partition("=")
        section, dot, rest = name.strip().partition(".")
        scope, _, key = rest.rpartition(".")
        if not sep or not dot or section not in out or not key or (_ and not scope):
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE or "
                            "SECTION.NAME.KEY=VALUE with SECTION one of train, task, model "
                            "(e.g. --set train.steps=500, --set model.mamba.layers=1)")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as rmsprop
        table = out[section]
        if scope:
            if not isinstance(table.setdefault(scope, {}), dict):
                raise UserError(f"--set {item!r}: {section}.{scope} was set to a value; "
                                f"expected {section}.{scope}.KEY=VALUE settings only")
            table = table[scope]
        elif isinstance(table.get(key), dict):
            raise UserError(f"--set {item!r}: {section}.{key} names a table of settings "
                            f"({section}.{key}.KEY=VALUE); expected a key of {section}")
        table[key] = value
    return out


# The flags of every command that trains (``run``, ``horizon``, ``diagnose``), one
# definition: each sets train.X at layer 7 of memorybench.config's table, over --set train.X.
TRAINING_HELP = {
    "steps": "Training budget: optimizer steps per cell (train.steps)",
    "batch_size": "Examples per training step (train.batch_size)",
    "lr": "Learning rate (train.lr)",
    "eval_every": "Steps between evaluations on the held-out set (train.eval_every)",
}
SPECS = " [default: the specs' and the suite's]."


def training_flags(steps: int | None = None, steps_note: str = "",
                   lr: bool = True) -> Callable[[Callable], Callable]:
    """``--steps``, ``--batch-size``, ``--lr`` and ``--eval-every`` as click options, with
    one help text each. ``steps``: a default of the command's own (``diagnose``'s short
    budget), explained by ``steps_note``. ``lr=False``: ``--lr`` is hidden and refused by
    the command (``horizon`` searches a grid of rates, ``--lrs``)."""
    steps_default = f" [default: {steps}]." if steps is not None else SPECS
    options = [
        click.option("--steps", type=click.IntRange(min=1), default=steps,
                     help=TRAINING_HELP["steps"] + steps_default + steps_note),
        click.option("--batch-size", type=click.IntRange(min=1),
                     help=TRAINING_HELP["batch_size"] + SPECS),
        click.option("--lr", type=FiniteFloat(min=0, min_open=True), hidden=not lr,
                     help=TRAINING_HELP["lr"] + SPECS),
        click.option("--eval-every", type=click.IntRange(min=1),
                     help=TRAINING_HELP["eval_every"] + SPECS),
    ]

    def apply(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


set_option = click.option(
    "--set", "settings", multiple=True, metavar="SECTION[.NAME].KEY=VALUE",
    help="Override a spec value: train.KEY, task.KEY or model.KEY for every task or model "
    "that takes KEY; task.NAME.KEY, model.NAME.KEY or train.TASK.KEY for that one only, "
    "over the first (e.g. --set model.hidden=64 --set model.mamba.layers=1).")


def train_flags(**flags: Any) -> dict[str, Any]:
    """The training flags given (``training_flags``; None: not given), as train settings."""
    return {k: v for k, v in flags.items() if k in TRAINING_HELP and v is not None}


@dataclass(frozen=True)
class Options:
    """The flags of a command that trains (``run``, ``horizon``), as click parsed them:
    handed on whole. A flag the command does not have keeps its default."""

    db: Path
    suite: str | None = None
    tasks: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    model_files: tuple[str, ...] = ()
    lengths: str | None = None
    seeds: str | None = None
    n_params: int | None = None
    settings: tuple[str, ...] = ()
    # the training flags: layer 7 of memorybench.config's table, over --set train.X
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    eval_every: int | None = None
    # where and how cells train
    workers: int | None = None
    device: str = "auto"
    backend: str = "local"
    scheduler: str | None = None
    dry_run: bool = False
    quiet: bool = False
    retry_failed: bool = False
    rerun: bool = False
    fmt: str = "text"
    # the horizon search's protocol (``memorybench horizon``)
    start: int | None = None
    cap: int | None = None
    factor: float | None = None
    resolution: float | None = None
    lrs: str | None = None
    lr_rungs: str | None = None
    multiples: str | None = None
    test_size: int | None = None
    patience: int | None = None
    min_delta: float | None = None
    control: bool | None = None
    ceiling: int | None = None
    ceiling_tokens: int | None = None
    control_multiple: float | None = None
    lr_beyond: int | None = None
    recipe: str | None = None
    stop_margin: float | None = None
    keep_checkpoints: bool = False

    def request(self, models: Sequence[str] = ()) -> Request:
        """What the flags ask for (``models``: names of the ``--model-file`` models, run
        beside ``--model``)."""
        sets = parse_set(self.settings)
        protocol = {"factor": self.factor, "resolution": self.resolution,
                    "lrs": parse_floats("--lrs", self.lrs), "lr_rungs": self.lr_rungs,
                    "multiples": parse_ints("--multiples", self.multiples, "2,4,8"),
                    "test_size": self.test_size, "patience": self.patience,
                    "min_delta": self.min_delta, "control": self.control,
                    "ceiling": self.ceiling, "ceiling_tokens": self.ceiling_tokens,
                    "control_multiple": self.control_multiple,
                    "lr_beyond": self.lr_beyond, "recipe": self.recipe,
                    "stop_margin": self.stop_margin}
        return Request(self.suite, self.tasks, (*self.models, *models),
                       lengths=parse_lengths(self.lengths),
                       seeds=parse_ints("--seeds", self.seeds, "0,1,2"), params=self.n_params,
                       train=merged(sets["train"], train_flags(**{k: getattr(self, k)
                                                          for k in TRAINING_HELP})),
                       task=sets["task"], model=sets["model"], protocol=protocol)


def parse_floats(option: str, text: str | None) -> tuple[float, ...] | None:
    """'1e-3,3e-3' -> (0.001, 0.003); an empty grid is (), refused by the protocol."""
    if text is None:
        return None
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise UserError(f"{option}: {part!r} is not a number; expected comma-separated "
                            "numbers like 1e-3,3e-3,1e-2") from None
    return tuple(values)
