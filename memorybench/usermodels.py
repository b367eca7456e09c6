"""Models from outside the registry: a ``Core`` subclass, or a factory of any ``nn.Module``,
given to ``memorybench.run`` or named by ``--model-file path.py:Name``.

A factory is anything that builds a module from keyword arguments: a function, or an
``nn.Module`` subclass itself. Its module maps features (B, T, d) to (B, T, F); memorybench
puts the task's encoder before it and a head after it (``models.base.SequenceModel``), and
reads the last step's features where a task wants one answer per sequence::

    def make_net(hidden: int = 32):             # `hidden`: the width --params sizes
        return MyNet(hidden)                    # (B, T, hidden) -> (B, T, F)

Such objects are registered under their name for one call (``registered``) and keyed by a
fingerprint of their source. A store binds a name to one fingerprint (``check_bound``): an
edited model is another model there, to be given another name or another store. Each is
built once on a tiny batch before anything trains: a factory that raises (or exits), or a
module whose output has the wrong shape, is one line naming what it got and what was
expected; a model whose earlier outputs move with later inputs is ranked as non-causal.
Whatever model code prints goes to standard error: standard output is kept for results.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import torch
from torch import nn

from memorybench import catalog, fingerprints
from memorybench.cells import Cell
from memorybench.contract import (
    call_factory,
    check_core,
    did,
    first_line,
    label_of,
    passes_through,
    probe_features,
)
from memorybench.errors import UserError, UserTypeError
from memorybench.models import MODELS
from memorybench.models.base import Core
from memorybench.training import error_text, train_cell

# Width arguments a factory may have, in the order they are looked for; a factory (or
# class) with another name for it says so with a ``width_arg`` attribute.
WIDTH_NAMES = ("hidden", "d_model", "width", "dim", "hidden_size")
ModelLike = str | type | Callable[..., nn.Module] | tuple[str, Any]  # what `models` takes
SOURCE = "model_source"  # the attribute naming where an in-process model's class comes from


@contextmanager
def to_stderr() -> Iterator[None]:
    """Model code's prints go to standard error while the block runs: standard output is
    kept for what memorybench prints there (``run --format json``)."""
    with redirect_stdout(sys.stderr):
        yield


def origin_of(obj) -> str:
    """Where a model given in-process comes from, for a person to find it again:
    ``path.py:Name`` (a file's, as the path was given), else ``module.Name``; a partial's
    is its target's."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    module_name = getattr(obj, "__module__", None) or "?"
    path = getattr(sys.modules.get(module_name), "__file__", None)
    return f"{path}:{label_of(obj)}" if path else f"{module_name}.{label_of(obj)}"


def is_core(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, Core)


def factory_core(factory: Callable[..., nn.Module], name: str) -> type[Core]:
    """A ``Core`` whose parameters are the factory's and whose forward pass is the
    module's: (B, T, d) -> (B, T, F) per step, the last step's (B, F) otherwise. A factory
    that takes ``d_in`` is given the encoder's width."""
    label = label_of(factory)
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
        version = fingerprints.fingerprint(factory)
        built_from = staticmethod(factory) if inspect.isfunction(factory) else factory
        causal = bool(getattr(factory, "causal", True))
        model_source = origin_of(factory)

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


def name_of(obj) -> str:
    """The name a model given as an object runs under: a Core's own ``name``, else its
    ``__name__`` in lower case."""
    own = vars(obj).get("name") if isinstance(obj, type) else None
    name = own if isinstance(own, str) else getattr(obj, "__name__", "")
    name = name.lower()
    if not name or not name.isprintable() or name.startswith("<"):
        raise UserTypeError(f"model {label_of(obj)} has no usable name; expected a named "
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
    with to_stderr():
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
        if isinstance(item, str):  # the file and the name in it, as the user named them
            path, _, attr = item.rpartition(":")
            setattr(classes[name], SOURCE, f"{Path(path).resolve()}:{attr}")
        names.append(name)
    return names, classes


@contextmanager
def registered(classes: dict[str, type[Core]]) -> Iterator[None]:
    """``classes`` in the model registry while the block runs, and gone after it (the
    name each class had, too). A name taken by another model is a one-line error. Each
    class says where it comes from (``model_source``, ``origin_of``) while registered:
    training stores it with the cell's metrics."""
    catalog.spec_files("models")  # cached first, so it never lists the names added here
    added = []
    try:
        for name, cls in classes.items():
            if name in MODELS.names() and MODELS.get(name) is cls:
                continue  # already here: a worker of this process
            if name in catalog.model_names():
                raise UserError(f"model {name!r} is already a registered model; expected "
                                "another name for yours (a (name, model) pair)")
            added.append((name, cls, vars(cls).get("name"), SOURCE in vars(cls)))
            MODELS.register(name)(cls)
            if not added[-1][3]:  # a worker's copy of a class brings the parent's along
                setattr(cls, SOURCE, origin_of(cls))
        yield
    finally:
        for name, cls, old, had_source in added:
            MODELS.unregister(name)
            if old is None:
                del cls.name
            else:
                cls.name = old
            if not had_source:
                delattr(cls, SOURCE)


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
        with to_stderr():
            spec.loader.exec_module(module)
    except BaseException as exc:  # a sys.exit() too: one line, not a silent exit
        del sys.modules[module_name]
        if passes_through(exc):
            raise
        raise UserError(f"{where}: running {path} {did(exc)}; expected a file that defines "
                        "models") from None
    import cloudpickle  # worker processes cannot import the file by name: send it by value

    cloudpickle.register_pickle_by_value(module)
    return module


class WithModels:
    """``work`` (by default ``train_cell``) with in-process models registered around it:
    in this process, and in a worker process, which receives the classes by value
    (cloudpickle). What the models print goes to standard error; a ``sys.exit()`` in
    their code that ``work`` lets through fails the unit, not the sweep (``train_cell``
    stores it as the cell's error itself)."""

    def __init__(self, classes: dict[str, type[Core]], work: Callable | None = None):
        self.classes, self.work = classes, work

    def __call__(self, unit, device: str) -> dict:
        try:
            with registered(self.classes), to_stderr():
                return (self.work or train_cell)(unit, device)
        except BaseException as exc:
            if isinstance(exc, Exception | KeyboardInterrupt):
                raise
            return unit.failure(error_text(exc))


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
                            f"({first_line(exc)}); expected workers=1, or the model "
                            "defined in an importable module") from None


def check_bound(store, units: Iterable) -> None:
    """A store binds a model's name to one model: before ``units`` train into ``store``,
    an in-process model (its class has a ``model_source``) whose name the store already holds
    from another file or object is one line naming both; otherwise both would be read as
    seeds of one model. The same model edited (its file, or the code it is built from) is a
    new version of it: its cells train, and the report shows its newest version's
    (``report.latest``). Registered models are not bound: their versions are the code's
    history."""
    mine, names = {}, set(MODELS.names())
    for cell in units:
        if isinstance(cell, Cell) and cell.model_type in names:
            source = getattr(MODELS.get(cell.model_type), SOURCE, None)
            if source is not None:
                mine[cell.model] = (cell.model_version, source)
    if not mine:
        return
    frame = store.frame()
    for row in frame[frame["model"].isin(mine)].itertuples():
        version, source = mine[row.model]
        stored = _json(row.config).get("model_version")
        held = _json(row.metrics).get(SOURCE)
        if held != source and (held is not None or stored != version):
            raise UserError(
                f"model {row.model}: this store already holds {row.model} from "
                f"{held or '(file not recorded)'} ({stored}); this is {source} ({version}), "
                "another model under the same name; expected another name for it (rename "
                "it, or a (name, model) pair) or another --db")


def _json(text) -> dict:
    value = json.loads(text) if isinstance(text, str) else text
    return value if isinstance(value, dict) else {}
