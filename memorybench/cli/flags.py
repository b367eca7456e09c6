"""Command-line values to sweeps: comma lists and ``--set SECTION.KEY=VALUE``.

Each parser turns bad text into one ``UserError`` line that says what was expected.
"""

from __future__ import annotations

import tomllib

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


def sweep_from_flags(suite: str | None, tasks: tuple[str, ...], models: tuple[str, ...],
                     lengths: str | None, seeds: str | None, train: dict,
                     settings: tuple[str, ...], n_params: int | None):
    """The sweep of a suite and/or flags (flags win). With tasks but no models, every
    model runs (and the other way round)."""
    from memorybench.sweep import build_sweep  # imports torch: only for commands that train

    return build_sweep(suite, tasks, models, parse_lengths(lengths),
                       parse_ints("--seeds", seeds, "0,1,2"), train, parse_set(settings),
                       n_params)
