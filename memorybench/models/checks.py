"""Checks a model's parameters pass before any cell trains: each has the type of its
default, and the model builds for the task (its own checks raise one-line errors)."""

from __future__ import annotations

import functools
import json

from memorybench.errors import UserError, expected_type
from memorybench.models.base import Core, SequenceModel
from memorybench.tasks.base import TaskIO


def check_model_params(name: str, mcls: type[Core], params: dict) -> None:
    """Each parameter has the type of its default (an int where the default is an int, a
    number where it is a float, ...): a wrong type is a one-line error before training."""
    defaults = {"embed": 1, **mcls.parameters_of()}
    for key, value in params.items():
        expected = None if value is None else expected_type(defaults.get(key), value)
        if expected:
            raise UserError(f"model {name}: parameter {key}={value!r} is invalid; expected "
                            f"{expected} (default {defaults[key]!r})")


@functools.cache
def _builds(io: TaskIO, mcls: type[Core], params_json: str) -> None:
    SequenceModel(io, mcls, **json.loads(params_json))


def model_build_error(io: TaskIO, mcls: type[Core], params: dict) -> Exception | None:
    """Build the model once for the task (once per process for the same parameters), so
    out-of-range parameters (a width of 0, a width that is not a multiple of the heads) are
    caught before any cell trains: the model's own checks raise their one-line errors. Any
    other exception is returned, for the caller to decide: `run` leaves it to training,
    which stores the cell as failed; `diagnose` refuses the model."""
    try:
        _builds(io, mcls, json.dumps(params, sort_keys=True))
    except UserError:
        raise
    except Exception as exc:
        return exc
    return None


def require_build(name: str, io: TaskIO, mcls: type[Core], params: dict) -> None:
    """``model_build_error`` as a one-line error (for commands that refuse such a model)."""
    exc = model_build_error(io, mcls, params)
    if exc is not None:
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UserError(f"model {name}: parameters {params} do not build "
                        f"({type(exc).__name__}: {detail}); expected values like those in "
                        f"models/{name}.toml")
