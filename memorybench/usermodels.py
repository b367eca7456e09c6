"""Models from outside the registry: a ``Core`` subclass, or a factory of any ``nn.Module``,
given to ``memorybench.run`` or named by ``--model-file path.py:Name``.

A factory is anything that builds a module from keyword arguments: a function, or an
``nn.Module`` subclass itself. Its module maps features (B, T, d) to (B, T, F); memorybench
puts the task's encoder before it and a head after it (``models.base.SequenceModel``), and
reads the last step's features where a task wants one answer per sequence::

    def make_net(hidden: int = 32):             # `hidden`: the width --params sizes
        return MyNet(hidden)                    # (B, T, hidden) -> (B, T, F)

A factory with no width argument builds a module of fixed size: it trains at that size, the
encoder made as wide as the module's input (``contract.input_width``), and ``--params`` is
refused for it. A factory's ``vocab`` and ``classes`` parameters, if it has them, are given
the task's (``contract.TASK_ARGS``).

Such objects are registered under their name for one call (``registered``) and keyed by a
fingerprint of what their code is built from (``fingerprints``). A store binds a name to one
model, a file's object or an object's module and name (``check_bound``): another model
under it is refused; the same one edited trains as a new version. Each is
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
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from torch import nn

from memorybench import catalog
from memorybench.cells import Cell
from memorybench.contract import (
    check_core,
    did,
    factory_core,
    first_line,
    label_of,
    origin_of,
    passes_through,
)
from memorybench.errors import UserError, UserTypeError
from memorybench.models import MODELS
from memorybench.models.base import Core
from memorybench.training import error_text, train_cell

ModelLike = str | type | Callable[..., nn.Module] | tuple[str, Any]  # what `models` takes
MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # what an alias may be
SOURCE = "model_source"  # the attribute naming where an in-process model's class comes from


@contextmanager
def to_stderr() -> Iterator[None]:
    """Model code's prints go to standard error while the block runs: standard output is
    kept for what memorybench prints there (``run --format json``)."""
    with redirect_stdout(sys.stderr):
        yield


def is_core(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, Core)


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
    """Names for ``models`` (registered names, ``path.py:Name`` or ``path.py:Name=alias``
    strings, Core subclasses, module factories, or (name, model) pairs), and the Core class
    of each one that is not registered."""
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
            check_name(name, f"model ({name!r}, {label_of(obj)})", "a name")
        else:  # something that is no model at all is named by its repr in the error
            named = callable(item) and not isinstance(item, nn.Module)
            name, obj = (name_of(item) if named else repr(item)[:40]), item
        if name in classes:
            raise UserError(f"model name {name!r} is given twice; expected each model once "
                            "(an alias, PATH.py:NAME=ALIAS, or a (name, model) pair gives one "
                            "another name)")
        if name in catalog.model_names():
            raise UserError(f"model {name!r} is already a registered model; expected another "
                            f"name for yours, e.g. a ('my-{name}', model) pair")
        classes[name] = as_core(obj, name)
        if isinstance(item, str):  # the file and the name in it, as the user named them
            path, attr, _ = parse_spec(item)
            setattr(classes[name], SOURCE, f"{path.resolve()}:{attr}")
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
                                "another name for yours (PATH.py:NAME=ALIAS, or a (name, "
                                "model) pair)")
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


def check_name(name: str, where: str, what: str = "an alias") -> None:
    """A name a user gives a model must be one a user can type: a one-line error else."""
    if not MODEL_NAME.fullmatch(name):
        raise UserError(f"{where}: {name!r} is not a model name; expected {what} made of "
                        "lowercase letters, digits, '-' and '_' (at most 64 characters, the "
                        "first a letter or digit), e.g. my-net")


def parse_spec(spec: str) -> tuple[Path, str, str | None]:
    """(path, name in the file, alias or None) of ``path.py:Name`` or ``path.py:Name=alias``;
    a malformed one, or an alias that is no model name, is a one-line error."""
    where = f"--model-file {spec}"
    cut = spec.rfind(".py:")
    attr, sep, alias = spec[cut + 4:].partition("=")
    if cut < 0 or not attr.isidentifier():
        raise UserError(f"{where}: expected PATH.py:NAME (or PATH.py:NAME=ALIAS, to run it "
                        "under another name), e.g. models/mine.py:MyCore")
    if sep:
        check_name(alias, where)
    return Path(spec[:cut + 3]), attr, alias if sep else None


def load_file(spec: str) -> tuple[str, object]:
    """(name, object) of ``path.py:Name`` (or ``path.py:Name=alias``, named ``alias``): the
    file is run as a module of its own."""
    path, attr, alias = parse_spec(spec)
    where = f"--model-file {spec}"
    if not path.is_file():
        raise UserError(f"{where}: no such file {path}; expected a Python file")
    # One module per path and content: an edited file is run again, not taken from cache.
    module_name = "memorybench_model_file_" + hashlib.sha256(
        str(path.resolve()).encode() + path.read_bytes()).hexdigest()[:12]
    module = sys.modules.get(module_name)
    if module is None:
        module = _exec_file(where, path, module_name)
    if not hasattr(module, attr):
        found = candidates(module)
        lower = {k.lower(): k for k in found}  # Gru finds GRU
        close = difflib.get_close_matches(attr.lower(), lower, n=1)
        hint = f"did you mean {lower[close[0]]!r}? " if close else ""
        shown = ", ".join(found[:20]) + (f" ({len(found) - 20} more)" if len(found) > 20 else "")
        raise UserError(f"{where}: {path} has no {attr!r}; {hint}expected one of: "
                        f"{shown or 'none (no model in the file)'}")
    obj = getattr(module, attr)
    name = alias or (name_of(obj) if is_core(obj) else attr.lower())
    if alias is None:
        check_name(name, where, f"an alias ({path}:{attr}=ALIAS)")
    if name in catalog.model_names():
        raise UserError(f"{where}: model {name!r} is already a registered model; expected "
                        f"another name for yours, an alias: {path}:{attr}=my-{name}")
    return name, obj


def candidates(module) -> list[str]:
    """The names in a model file's namespace that could be models, its own and those it
    imports: Core and nn.Module subclasses, functions (not the standard library's) and
    partials."""

    def could_be(value) -> bool:
        if isinstance(value, type):
            return issubclass(value, nn.Module) and value not in (nn.Module, Core)
        stdlib = getattr(value, "__module__", "").split(".")[0] in sys.stdlib_module_names
        return isinstance(value, functools.partial) or (inspect.isfunction(value)
                                                        and not stdlib)

    return sorted(k for k, v in vars(module).items() if not k.startswith("_") and could_be(v))


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
