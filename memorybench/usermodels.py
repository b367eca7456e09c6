"""Models from outside the registry: a ``Core`` subclass, or a factory of any ``nn.Module``,
given to ``memorybench.run`` or named by ``--model-file path.py:Name``.

A factory is anything that builds a module from keyword arguments: a function, or an
``nn.Module`` subclass itself. Its module maps features (B, T, d) to (B, T, F); memorybench
puts the task's encoder before it and a head after it (``models.base.SequenceModel``), and
reads the last step's features where a task wants one answer per sequence::

    def make_net(hidden: int = 32):             # `hidden`: the width --params sizes
        return MyNet(hidden)                    # (B, T, hidden) -> (B, T, F)

Such objects are registered under their name for one call (``registered``) and keyed by a
fingerprint of their source, so an edited model trains again. Each is built once on a tiny
batch before anything trains: a factory that raises, or a module whose output has the
wrong shape, is one line naming what it got and what was expected.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from memorybench import catalog
from memorybench.errors import UserError, UserTypeError
from memorybench.models import MODELS
from memorybench.models.base import Core
from memorybench.training import train_cell

# Width arguments a factory may have, in the order they are looked for; a factory (or
# class) with another name for it says so with a ``width_arg`` attribute.
WIDTH_NAMES = ("hidden", "d_model", "width", "dim", "hidden_size")
PROBE = (2, 3)  # (batch, time) of the batch every in-process model is checked on
ModelLike = str | type | Callable[..., nn.Module] | tuple[str, Any]  # what `models` takes


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"


def _label(obj) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


def is_core(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, Core)


def factory_core(factory: Callable[..., nn.Module], name: str) -> type[Core]:
    """A ``Core`` whose parameters are the factory's and whose forward pass is the
    module's: (B, T, d) -> (B, T, F) per step, the last step's (B, F) otherwise. A factory
    that takes ``d_in`` is given the encoder's width."""
    label = _label(factory)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        raise UserTypeError(f"model {name}: {label} has no signature to read; expected a "
                            "function or class that builds an nn.Module") from None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = {k: p.default for k, p in signature.parameters.items()
              if p.kind in kinds and k != "d_in"}
    takes_d_in = "d_in" in signature.parameters
    width_arg = getattr(factory, "width_arg", None) or next(
        (n for n in WIDTH_NAMES if n in params), None)
    if width_arg not in params:
        raise UserTypeError(f"model {name}: {label} has no width argument; expected a "
                            f"parameter named {' or '.join(WIDTH_NAMES[:2])} (the features it "
                            "takes), or a width_arg attribute naming one")

    class ModuleCore(Core):
        description = (inspect.getdoc(factory) or f"{label} (in-process)").splitlines()[0]
        version = catalog.source_fingerprint(factory)
        causal = bool(getattr(factory, "causal", True))

        def __init__(self, d_in: int, **kwargs):
            super().__init__()
            self.module = call_factory(name, factory, {**kwargs, **(
                {"d_in": d_in} if takes_d_in else {})})
            if not isinstance(self.module, nn.Module):
                raise UserTypeError(f"model {name}: {label} returned a "
                                    f"{type(self.module).__name__}; expected an nn.Module")
            self.out_features = probe_features(name, self.module, d_in)

        @classmethod
        def parameters_of(cls) -> dict[str, object]:
            return dict(params)

        def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
            out = self.module(h)  # (B, T, F)
            return out if per_step else out[:, -1]  # (B, F): the features after the last step

        def lr_factors(self) -> dict[str, float]:
            factors = getattr(self.module, "lr_factors", None)
            return {f"module.{k}": v for k, v in factors().items()} if callable(factors) else {}

    ModuleCore.width_arg = width_arg
    ModuleCore.__qualname__ = ModuleCore.__name__ = f"ModuleCore[{label}]"
    return ModuleCore


def call_factory(name: str, factory: Callable, kwargs: dict) -> Any:
    try:
        return factory(**kwargs)
    except UserError:
        raise
    except Exception as exc:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise UserError(f"model {name}: {_label(factory)}({args}) raised {_first_line(exc)}; "
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
    except Exception as exc:
        raise UserError(f"model {name}: its module fails on a ({batch}, {time}, {d_in}) batch "
                        f"({_first_line(exc)}); expected it to map (batch, time, {d_in}) "
                        "features to (batch, time, F)") from None
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
    per sequence: the shapes the forward contract promises, before anything trains."""
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
    with torch.random.fork_rng():
        core = call_factory(name, cls, {"d_in": width})
        batch, time = PROBE
        h = torch.zeros(batch, time, width)
        with torch.no_grad():
            for per_step, want in ((True, (batch, time)), (False, (batch,))):
                try:
                    out = core(h, per_step=per_step)
                except Exception as exc:
                    raise UserError(f"model {name}: forward(h, per_step={per_step}) fails on "
                                    f"a {tuple(h.shape)} batch ({_first_line(exc)})") from None
                features = getattr(core, "out_features", None)
                expected = (*want, features)
                if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
                    raise UserError(
                        f"model {name}: forward(h, per_step={per_step}) maps a "
                        f"{tuple(h.shape)} batch to {_shape(out)}; expected "
                        f"{expected} (out_features = {features})")


def name_of(obj) -> str:
    """The name a model given as an object runs under: a Core's own ``name``, else its
    ``__name__`` in lower case."""
    own = vars(obj).get("name") if isinstance(obj, type) else None
    name = own if isinstance(own, str) else getattr(obj, "__name__", "")
    name = name.lower()
    if not name or not name.isprintable() or name.startswith("<"):
        raise UserTypeError(f"model {_label(obj)} has no usable name; expected a named "
                            "function or class, or a (name, model) pair")
    return name


def as_core(obj, name: str) -> type[Core]:
    """A Core class for a Core subclass or a module factory, checked on a tiny batch."""
    if is_core(obj):
        cls = obj
    elif isinstance(obj, nn.Module):
        raise UserTypeError(f"model {type(obj).__name__}(...): an nn.Module instance cannot "
                            "be trained afresh per seed; expected its class or a function "
                            "that builds it")
    elif (callable(obj) and not isinstance(obj, type | str)) or (
            isinstance(obj, type) and issubclass(obj, nn.Module)):
        cls = factory_core(obj, name)
    else:
        raise UserTypeError(f"model {name} ({type(obj).__name__}) is not a model; expected a "
                            "registered name, a Core subclass or a function returning an "
                            "nn.Module")
    check_core(name, cls)
    return cls


def resolve(models) -> tuple[list[str], dict[str, type[Core]]]:
    """Names for ``models`` (registered names, ``path.py:Name`` strings, Core subclasses,
    module factories, or (name, model) pairs), and the Core class of each one that is
    not registered."""
    if isinstance(models, str) or not isinstance(models, list | tuple):
        models = [models]
    names, classes = [], {}
    for item in models:
        if isinstance(item, str) and ".py:" not in item:
            names.append(item)
            continue
        if isinstance(item, str):
            name, obj = load_file(item)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, obj = item
        else:  # something that is no model at all is named by its repr in the error
            named = callable(item) and not isinstance(item, nn.Module)
            name, obj = (name_of(item) if named else repr(item)[:40]), item
        if name in classes:
            raise UserError(f"model name {name!r} is given twice; expected each model once "
                            "(a (name, model) pair gives one another name)")
        classes[name] = as_core(obj, name)
        names.append(name)
    return names, classes


@contextmanager
def registered(classes: dict[str, type[Core]]) -> Iterator[None]:
    """``classes`` in the model registry while the block runs, and gone after it (the
    name each class had, too). A name taken by another model is a one-line error."""
    catalog.spec_files("models")  # cached first, so it never lists the names added here
    added = []
    try:
        for name, cls in classes.items():
            if name in MODELS.names() and MODELS.get(name) is cls:
                continue  # already here: a worker of this process
            if name in catalog.model_names():
                raise UserError(f"model {name!r} is already a registered model; expected "
                                "another name for yours (a (name, model) pair)")
            added.append((name, cls, vars(cls).get("name")))
            MODELS.register(name)(cls)
        yield
    finally:
        for name, cls, old in added:
            MODELS.unregister(name)
            if old is None:
                del cls.name
            else:
                cls.name = old


def load_file(spec: str) -> tuple[str, object]:
    """(name, object) of ``path.py:Name``: the file is run as a module of its own."""
    path_text, sep, attr = spec.rpartition(":")
    where = f"--model-file {spec}"
    if not sep or not path_text.endswith(".py") or not attr.isidentifier():
        raise UserError(f"{where}: expected PATH.py:NAME, e.g. models/mine.py:MyCore")
    path = Path(path_text)
    if not path.is_file():
        raise UserError(f"{where}: no such file {path}; expected a Python file")
    # One module per path and content: an edited file is run again, not taken from cache.
    module_name = "memorybench_model_file_" + hashlib.sha256(
        str(path.resolve()).encode() + path.read_bytes()).hexdigest()[:12]
    module = sys.modules.get(module_name)
    if module is None:
        module = _exec_file(where, path, module_name)
    if not hasattr(module, attr):
        found = [k for k, v in vars(module).items() if not k.startswith("_") and (
            is_core(v) or inspect.isfunction(v) or (isinstance(v, type)
                                                    and issubclass(v, nn.Module)))
                 and getattr(v, "__module__", None) == module_name]
        close = difflib.get_close_matches(attr, found, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserError(f"{where}: {path} has no {attr!r}; {hint}expected one of: "
                        f"{', '.join(sorted(found)) or 'none (no model in the file)'}")
    obj = getattr(module, attr)
    return (name_of(obj) if is_core(obj) else attr.lower()), obj


def _exec_file(where: str, path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None  # a .py path: the source loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise UserError(f"{where}: running {path} raised {_first_line(exc)}") from None
    import cloudpickle  # worker processes cannot import the file by name: send it by value

    cloudpickle.register_pickle_by_value(module)
    return module


class WithModels:
    """``work`` (by default ``train_cell``) with in-process models registered around it:
    in this process, and in a worker process, which receives the classes by value
    (cloudpickle)."""

    def __init__(self, classes: dict[str, type[Core]], work: Callable | None = None):
        self.classes, self.work = classes, work

    def __call__(self, unit, device: str) -> dict:
        with registered(self.classes):
            return (self.work or train_cell)(unit, device)


def from_files(specs) -> tuple[list[str], dict[str, type[Core]]]:
    """``resolve`` of ``--model-file path.py:Name`` values."""
    return resolve([load_file(spec) for spec in specs])


def check_sendable(classes: dict[str, type[Core]], workers: int) -> None:
    """With ``workers`` > 1, each in-process model must reach the worker processes: one
    line naming the model that cannot, before anything trains."""
    if workers <= 1:
        return
    import cloudpickle

    for name, cls in classes.items():
        try:
            cloudpickle.dumps(cls)
        except Exception as exc:
            raise UserError(f"model {name} cannot be sent to worker processes "
                            f"({_first_line(exc)}); expected workers=1, or the model "
                            "defined in an importable module") from None

