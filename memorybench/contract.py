"""The forward contract, checked on a tiny batch before anything trains: a model given
in-process (``usermodels``) is built at its default width and run per step and per
sequence; a factory that raises or exits, or an output of the wrong shape, is one line
naming what it got and what was expected; a model whose earlier outputs move with later
inputs is marked non-causal (``models.checks.first_lookahead``)."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from memorybench.errors import UserError, UserTypeError
from memorybench.models.base import Core
from memorybench.models.checks import LOOKAHEAD_PROBE, first_lookahead

PROBE = (2, 3)  # (batch, time) of the batch every in-process model is checked on


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"


def did(exc: BaseException) -> str:
    """What model code did instead of returning: called sys.exit(0), or raised X: ..."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    return f"raised {first_line(exc)}"


def passes_through(exc: BaseException) -> bool:
    """An exception model code must not turn into a one-line error: Ctrl-C, or our own."""
    return isinstance(exc, KeyboardInterrupt | UserError)


def label_of(obj) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


def call_factory(name: str, factory: Callable, kwargs: dict) -> Any:
    try:
        return factory(**kwargs)
    except BaseException as exc:  # a sys.exit() too: one line, not a silent exit
        if passes_through(exc):
            raise
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise UserError(f"model {name}: {label_of(factory)}({args}) {did(exc)}; "
                        "expected it to build the module") from None


def _shape(out) -> str:
    if isinstance(out, torch.Tensor):
        return str(tuple(out.shape))
    if isinstance(out, tuple | list):
        return f"a {type(out).__name__} ({', '.join(_shape(o) for o in out)})"
    return f"a {type(out).__name__}"


def probe_features(name: str, module: nn.Module, d_in: int) -> int:
    """F, from one pass of a (2, 3, d_in) batch of zeros through ``module``, which must
    return a (2, 3, F) tensor; anything else is a one-line error with both shapes."""
    batch, time = PROBE
    training = module.training
    try:  # in eval mode: no dropout draw, no batch-norm statistics moved by the probe
        with torch.no_grad():
            out = module.eval()(torch.zeros(batch, time, d_in))
    except BaseException as exc:
        if passes_through(exc):
            raise
        raise UserError(f"model {name}: its module {did(exc)} on a ({batch}, {time}, {d_in}) "
                        f"batch; expected it to map (batch, time, {d_in}) features to "
                        "(batch, time, F)") from None
    finally:
        module.train(training)
    if not (isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[:2] == PROBE
            and out.shape[2] >= 1):
        raise UserError(f"model {name}: its module maps a ({batch}, {time}, {d_in}) batch to "
                        f"{_shape(out)}; expected ({batch}, {time}, F), one F-wide output "
                        "per time step (a tensor, not a tuple)")
    return int(out.shape[2])


def check_core(name: str, cls: type[Core]) -> None:
    """Build ``cls`` at its default parameters and run it on a tiny batch, per step and
    per sequence: the shapes the forward contract promises, before anything trains; then
    whether it looks ahead (``check_causal``)."""
    width = default_width(name, cls)
    with torch.random.fork_rng():
        core = call_factory(name, cls, {"d_in": width})
        check_shapes(name, core, width)
        check_causal(name, cls, core, width)


def default_width(name: str, cls: type[Core]) -> int:
    """The width ``cls`` is built at by default: every parameter needs a default, and the
    width a positive integer one."""
    params = cls.parameters_of()
    width = params.get(cls.width_arg)
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise UserTypeError(f"model {name}: its width argument {cls.width_arg!r} has no "
                            "positive integer default; expected e.g. "
                            f"{cls.width_arg}: int = 32 (or a width_arg naming another)")
    missing = [k for k, v in params.items() if v is inspect.Parameter.empty]
    if missing:
        raise UserTypeError(f"model {name}: parameter {missing[0]!r} has no default; expected "
                            "a default for every constructor argument")
    return width


def check_shapes(name: str, core: Core, width: int) -> None:
    batch, time = PROBE
    h = torch.zeros(batch, time, width)
    with torch.no_grad():
        for per_step, want in ((True, (batch, time)), (False, (batch,))):
            try:
                out = core(h, per_step=per_step)
            except BaseException as exc:
                if passes_through(exc):
                    raise
                raise UserError(f"model {name}: forward(h, per_step={per_step}) {did(exc)} "
                                f"on a {tuple(h.shape)} batch") from None
            features = getattr(core, "out_features", None)
            expected = (*want, features)
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
                raise UserError(
                    f"model {name}: forward(h, per_step={per_step}) maps a "
                    f"{tuple(h.shape)} batch to {_shape(out)}; expected "
                    f"{expected} (out_features = {features})")


def check_causal(name: str, cls: type[Core], core: Core, width: int) -> None:
    """A model that does not declare ``causal = False`` is probed (``first_lookahead``);
    one whose earlier outputs move with later inputs is marked non-causal, so that its
    results are stored as such and ranked apart from causal models, and a note says so."""
    if not getattr(core, "causal", True):
        return
    try:
        step = first_lookahead(core, width)
    except BaseException as exc:
        if passes_through(exc):
            raise
        raise UserError(f"model {name}: forward(h, per_step=True) {did(exc)} on a "
                        f"{(*LOOKAHEAD_PROBE, width)} batch of random inputs; expected it to "
                        "run in train and in eval mode") from None
    if step is not None:
        cls.causal = False
        print(f"model {name}: its outputs at step {step} change when later inputs change; "
              "it is ranked as non-causal (declare causal = False to say so)", file=sys.stderr)
