"""Command-line values to requests: comma lists, ``--set SECTION.KEY=VALUE``, and the
flags of a training command as one ``Options`` object.

Each parser turns bad text into one ``UserError`` line that says what was expected.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    """``--set train.steps=500 --set model.hidden=64`` -> {"train": {...}, "model": {...}}."""
    out: dict[str, dict] = {"train": {}, "task": {}, "model": {}}
    for item in items:
        name, sep, raw = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot or section not in out or not key:
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE with SECTION one of "
                            "train, task, model (e.g. --set train.steps=500)")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as rmsprop
        out[section][key] = value
    return out


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
    control_multiple: float | None = None
    lr_beyond: int | None = None
    recipe: str | None = None
    stop_margin: float | None = None
    keep_checkpoints: bool = False

    def request(self, models: Sequence[str] = ()) -> Request:
        """What the flags ask for (``models``: names of the ``--model-file`` models, run
        beside ``--model``)."""
        sets = parse_set(self.settings)
        flags = {k: getattr(self, k) for k in ("steps", "batch_size", "lr", "eval_every")}
        protocol = {"factor": self.factor, "resolution": self.resolution,
                    "lrs": parse_floats("--lrs", self.lrs), "lr_rungs": self.lr_rungs,
                    "multiples": parse_ints("--multiples", self.multiples, "2,4,8"),
                    "test_size": self.test_size, "patience": self.patience,
                    "min_delta": self.min_delta, "control": self.control,
                    "ceiling": self.ceiling, "control_multiple": self.control_multiple,
                    "lr_beyond": self.lr_beyond, "recipe": self.recipe,
                    "stop_margin": self.stop_margin}
        return Request(self.suite, self.tasks, (*self.models, *models),
                       lengths=parse_lengths(self.lengths),
                       seeds=parse_ints("--seeds", self.seeds, "0,1,2"), params=self.n_params,
                       train=merged(sets["train"], {k: v for k, v in flags.items()
                                                    if v is not None}),
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
