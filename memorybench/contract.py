"""The forward contract, checked on a tiny batch before anything trains: a model given
in-process (``usermodels``) is built at its default width and run per step and per
sequence; a factory that raises or exits, or an output of the wrong shape, is one line
naming what it got and what was expected; a model whose earlier outputs move with later
inputs is marked non-causal (``models.checks.first_lookahead``).

A plain module meets the contract through its factory (``factory_core``): a ``Core``
whose parameters are the factory's. A module of fixed size (no width argument) is measured
(``input_width``): the width it declares, else the input of its first layer."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from memorybench import fingerprints
from memorybench.errors import UserError, UserTypeError
from memorybench.models.base import Core
from memorybench.models.checks import LOOKAHEAD_PROBE, first_lookahead
from memorybench.tasks.base import TaskIO

PROBE = (2, 3)  # (batch, time) of the batch every in-process model is checked on
# Width arguments a factory may have, in the order they are looked for; a factory (or
# class) with another name for it says so with a ``width_arg`` attribute.
WIDTH_NAMES = ("hidden", "d_model", "width", "dim", "hidden_size")
# A factory's parameters of these names are given the task's, not set by the user: its input
# vocabulary (features per step, where the inputs are reals) and its classes (the real
# values of one answer, where the targets are reals): ``TaskIO.in_size`` and ``out_size``.
TASK_ARGS = {"vocab": "in_size", "classes": "out_size"}
# The task a model that asks for the task's vocab and classes is checked with.
PROBE_IO = TaskIO(inputs="tokens", in_size=8, targets="class", out_size=8, positions="each")
# Layers whose input width a module of fixed size is measured by, first one found (in the
# order the module defines its layers), and the attribute that holds that width.
FIRST_LAYERS: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.Linear, "in_features"), (nn.RNNBase, "input_size"), (nn.RNNCellBase, "input_size"),
    (nn.MultiheadAttention, "embed_dim"), (nn.Conv1d, "in_channels"),
    (nn.LayerNorm, "normalized_shape"), (nn.RMSNorm, "normalized_shape"))


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


def _positive(value) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return value if ok else None


def _layer_width(layer: nn.Module) -> int | None:
    """The features ``layer`` takes, for a layer of a kind in ``FIRST_LAYERS``."""
    for kind, attr in FIRST_LAYERS:
        if isinstance(layer, kind):
            value = getattr(layer, attr, None)
            if isinstance(value, tuple | list) and value:
                value = value[-1]  # a norm's normalized_shape: its last dimension
            return _positive(value)
    return None


def input_width(name: str, factory: Callable, module: nn.Module) -> tuple[int, str]:
    """(width, where it was found) of a module of fixed size: declared, as an integer
    ``d_in`` attribute of the module or its factory (or the module's ``in_features``), else
    measured, as the input width of its first layer of a kind in ``FIRST_LAYERS`` (an
    ``nn.Linear``'s in_features, an RNN's input_size, ...), in the order its layers are
    defined. None found is a one-line error."""
    for owner, attr in ((module, "d_in"), (factory, "d_in"), (module, "in_features")):
        width = _positive(getattr(owner, attr, None))
        if width is not None:
            return width, f"its {attr} attribute"
    for path, layer in module.named_modules():
        width = _layer_width(layer)
        if width is not None:
            return width, f"its first layer, {path or 'the module'} ({type(layer).__name__})"
    raise UserError(f"model {name}: {label_of(factory)} has no width argument and its input "
                    "width is not found; expected a parameter named hidden or d_model, a "
                    "d_in = N attribute (the features it takes), or a first nn.Linear or RNN")


def probe_features(name: str, module: nn.Module, d_in: int, found: str = "") -> int:
    """F, from one pass of a (2, 3, d_in) batch of zeros through ``module``, which must
    return a (2, 3, F) tensor; anything else is a one-line error with both shapes. ``found``
    says where a module of fixed size's width was read (``input_width``)."""
    batch, time = PROBE
    training = module.training
    try:  # in eval mode: no dropout draw, no batch-norm statistics moved by the probe
        with torch.no_grad():
            out = module.eval()(torch.zeros(batch, time, d_in))
    except BaseException as exc:
        if passes_through(exc):
            raise
        width = f" ({d_in} features, from {found}; declare d_in = N if not)" if found else ""
        raise UserError(f"model {name}: its module {did(exc)} on a ({batch}, {time}, {d_in}) "
                        f"batch{width}; expected it to map (batch, time, {d_in}) features to "
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
    whether it looks ahead (``check_causal``). A core of fixed size says its own width."""
    width = default_width(name, cls)
    with torch.random.fork_rng():
        core = call_factory(name, cls, {"d_in": width, **cls.task_args(PROBE_IO)})
        width = core.in_features if width is None else width
        check_shapes(name, core, width)
        check_causal(name, cls, core, width)


def default_width(name: str, cls: type[Core]) -> int | None:
    """The width ``cls`` is built at by default (None for a core of fixed size, which says
    its own): every parameter needs a default, and the width a positive integer one."""
    params = cls.parameters_of()
    width = None if cls.fixed_size else _positive(params.get(cls.width_arg))
    if width is None and not cls.fixed_size:
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


def origin_of(obj) -> str:
    """Where a model given in-process comes from, for a person to find it again:
    ``path.py:Name`` (a file's, as the path was given), else ``module.Name``; a partial's
    is its target's."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    module_name = getattr(obj, "__module__", None) or "?"
    path = getattr(sys.modules.get(module_name), "__file__", None)
    return f"{path}:{label_of(obj)}" if path else f"{module_name}.{label_of(obj)}"


def factory_core(factory: Callable[..., nn.Module], name: str) -> type[Core]:
    """A ``Core`` whose parameters are the factory's and whose forward pass is the
    module's: (B, T, d) -> (B, T, F) per step, the last step's (B, F) otherwise. A factory
    that takes ``d_in`` is given the encoder's width; one with no width argument builds a
    module of fixed size, whose own input width the encoder is made to (``fixed_size``)."""
    label = label_of(factory)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        raise UserTypeError(f"model {name}: {label} has no signature to read; expected a "
                            "function or class that builds an nn.Module") from None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = {k: p.default for k, p in signature.parameters.items()
              if p.kind in kinds and k != "d_in" and k not in TASK_ARGS}
    asks = [k for k in TASK_ARGS if k in signature.parameters]
    takes_d_in = "d_in" in signature.parameters
    width_arg = getattr(factory, "width_arg", None) or next(
        (n for n in WIDTH_NAMES if n in params), None)
    if width_arg is not None and width_arg not in params:
        raise UserTypeError(f"model {name}: {label}'s width_arg {width_arg!r} is none of its "
                            "parameters; expected the name of the parameter that sets the "
                            "features it takes")
    if width_arg is None and takes_d_in:
        raise UserTypeError(f"model {name}: {label} takes d_in but has no width argument; "
                            f"expected a parameter named {' or '.join(WIDTH_NAMES[:2])} (the "
                            "features it takes), or no d_in (a module of fixed size)")

    class ModuleCore(Core):
        description = (inspect.getdoc(factory) or f"{label} (in-process)").splitlines()[0]
        version = fingerprints.fingerprint(factory)
        built_from = staticmethod(factory) if inspect.isfunction(factory) else factory
        causal = bool(getattr(factory, "causal", True))
        model_source = origin_of(factory)
        fixed_size = width_arg is None

        def __init__(self, d_in: int | None, **kwargs):
            super().__init__()
            self.module = call_factory(name, factory, {**kwargs, **(
                {"d_in": d_in} if takes_d_in else {})})
            if not isinstance(self.module, nn.Module):
                raise UserTypeError(f"model {name}: {label} returned a "
                                    f"{type(self.module).__name__}; expected an nn.Module")
            found = ""
            if d_in is None:  # a module of fixed size: its own input width
                d_in, found = input_width(name, factory, self.module)
            self.in_features = d_in
            self.out_features = probe_features(name, self.module, d_in, found)

        @classmethod
        def parameters_of(cls) -> dict[str, object]:
            return dict(params)

        @classmethod
        def task_args(cls, io: TaskIO) -> dict[str, int]:
            return {k: getattr(io, TASK_ARGS[k]) for k in asks}

        def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
            out = self.module(h)  # (B, T, F)
            return out if per_step else out[:, -1]  # (B, F): the features after the last step

        def lr_factors(self) -> dict[str, float]:
            factors = getattr(self.module, "lr_factors", None)
            return {f"module.{k}": v for k, v in factors().items()} if callable(factors) else {}

    if width_arg is not None:
        ModuleCore.width_arg = width_arg
    ModuleCore.__qualname__ = ModuleCore.__name__ = f"ModuleCore[{label}]"
    return ModuleCore
