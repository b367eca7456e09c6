"""Command-line values to sweeps: comma lists, ``--set SECTION.KEY=VALUE``, the device.

Each parser turns bad text into one ``UserError`` line that says what was expected.
"""

from __future__ import annotations

import math
import sys
import tomllib

import click

from memorybench.errors import UserError, is_integer

EXIT_USAGE = 2


class Cli(click.Group):
    """A click group whose user errors are one line on stderr with exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            self.raw_args = list(sys.argv[1:] if args is None else args)  # for "resume with"
            args = self.raw_args or ["--help"]  # no command: the overview, not an error
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except (UserError, click.ClickException) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            click.echo(f"memorybench: error: {message}", err=True)
            code = EXIT_USAGE
        except (click.Abort, KeyboardInterrupt):
            click.echo("memorybench: interrupted", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


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


def check_device(device: str) -> str:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available here; "
                            "expected --device auto or cpu")
    return device


def sweep_from_flags(suite: str | None, tasks: tuple[str, ...], models: tuple[str, ...],
                     lengths: str | None, seeds: str | None, train: dict,
                     settings: tuple[str, ...], n_params: int | None):
    """The sweep of a suite and/or flags (flags win). With tasks but no models, every
    model runs (and the other way round)."""
    return build_sweep(suite, tasks, models, parse_lengths(lengths),
                       parse_ints("--seeds", seeds, "0,1,2"), train, parse_set(settings),
                       n_params)


def build_sweep(suite: str | None, tasks, models, lengths: list[int] | None,
                seeds: list[int] | None, train: dict, overrides: dict[str, dict],
                n_params: int | None):
    """``sweep_from_flags`` on values already parsed (the Python API's way in):
    ``overrides`` holds the ``train``, ``task`` and ``model`` sections of ``--set``."""
    from memorybench import catalog  # imports torch: only for commands that train
    from memorybench.sweep import Sweep, load_suite

    for length in lengths or []:
        if not is_integer(length) or length < 1:
            raise UserError(f"length {length!r} is invalid; expected integers >= 1 like "
                            "10,50,100")
    overrides = {"train": {}, "task": {}, "model": {}, **overrides}
    sweep = load_suite(suite)[0] if suite else Sweep()
    if tasks or models:
        sweep.tasks = list(tasks) or (sweep.tasks if suite else catalog.task_names())
        sweep.models = list(models) or (sweep.models if suite else catalog.model_names())
    sweep.lengths = list(lengths or []) or sweep.lengths
    sweep.seeds = list(seeds or []) or sweep.seeds
    sweep.override("train", {**overrides["train"],
                             **{k: v for k, v in train.items() if v is not None}})
    sweep.override("task", overrides["task"])
    sweep.model.update(overrides["model"])
    if n_params:
        if "hidden" not in overrides["model"]:
            sweep.model.pop("hidden", None)  # the flag wins over a suite's width
        sweep.params = n_params
    return sweep


class FiniteFloat(click.FloatRange):
    """A number in range that is also finite: NaN passes every comparison a range makes
    (``--margin nan`` once switched the regression gate off), so it is refused here."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number
