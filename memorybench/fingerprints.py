"""What code a model given in-process really runs, as one fingerprint.

A factory is rarely the whole model: it builds classes of another module, of a package it
wraps, through a ``functools.partial`` or a closure. ``walk`` follows every object the code
is built from (a partial's target and arguments, a function's closure and the global names
its code reads, a class's bases and methods, the objects a module of the same package
defines) and collects the source of each module it reaches that is not the standard
library or torch, and the installed version of each distribution those modules come from;
a memorybench class counts by its ``version``.
Changing any of them (an upgraded package, a partial pointed at another class, an edited
helper module) changes the fingerprint, and so every cell key that uses the model.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
import types
from dataclasses import dataclass, field
from importlib.metadata import packages_distributions, version

# Top-level packages whose code is versioned elsewhere (the interpreter's, torch's, which a
# result records) or which are not a model's code.
SKIPPED = frozenset(sys.stdlib_module_names) | {"builtins", "torch", "__future__"}


@dataclass
class Code:
    """The parts of a fingerprint: module name -> hash of its source (or of the objects
    reached in it, for a module with no source to read, such as a notebook's), distribution
    -> installed version, and the object's own name with what each partial calls and binds."""

    modules: dict[str, str] = field(default_factory=dict)
    distributions: dict[str, str] = field(default_factory=dict)
    bound: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for part in (sorted(self.modules.items()), sorted(self.distributions.items()),
                     self.bound):
            digest.update(repr(part).encode())
        return "sha256:" + digest.hexdigest()[:16]


def fingerprint(obj) -> str:
    """The fingerprint of everything ``obj`` (a function, class or partial) is built from."""
    return walk(obj).fingerprint()


def walk(obj) -> Code:
    """The modules and distributions ``obj``'s code reaches (see the module docstring)."""
    code, seen = Code(bound=[_name(obj)]), set()
    todo = [obj]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        todo.extend(_visit(item, code))
    return code


def _visit(obj, code: Code) -> list:
    """Record ``obj``'s module in ``code``; return the objects it leads to."""
    if isinstance(obj, functools.partial):  # which callable it calls, and with what
        code.bound.append(repr((_name(obj.func), obj.args, sorted(obj.keywords.items()))))
        return [obj.func, *obj.args, *obj.keywords.values()]
    if isinstance(obj, types.MethodType):
        return [obj.__func__, obj.__self__]
    if isinstance(obj, types.ModuleType):
        return _module(obj, code)
    if not (inspect.isfunction(obj) or isinstance(obj, type)):
        return []
    name = getattr(obj, "__module__", None) or ""
    module = sys.modules.get(name)
    if module is None or (name == "builtins" and getattr(module, obj.__qualname__, None)
                          is not obj):  # code run from text, with no module of its own
        module = types.ModuleType(name or "<unknown>")  # no source: the object's own counts
    elif _skipped(name):
        return []
    if module.__name__.split(".")[0] == "memorybench":  # ours: a class by its version
        if isinstance(obj, type) and hasattr(obj, "version"):
            code.modules[f"{module.__name__}.{obj.__qualname__}"] = f"version {obj.version}"
        return []
    _record(module, obj, code)
    if isinstance(obj, type):
        members = [getattr(v, "__func__", v) for v in vars(obj).values()]
        members += [m.fget for m in members if isinstance(m, property)]
        return [*obj.__mro__[1:], *members]
    cells = [c.cell_contents for c in obj.__closure__ or () if _filled(c)]
    return [*cells, *_globals_read(obj)]


def _module(module: types.ModuleType, code: Code) -> list:
    """A module reached as an object: its source, and what it defines in its own package."""
    if _skipped(module.__name__):
        return []
    _record(module, None, code)
    top = module.__name__.split(".")[0]
    return [v for v in vars(module).values()
            if (inspect.isfunction(v) or isinstance(v, type))
            and (getattr(v, "__module__", None) or "").split(".")[0] == top]


def _record(module: types.ModuleType, obj, code: Code) -> None:
    """The source of ``module`` and its distribution's version; where the module has no
    source to read (a notebook's ``__main__``), the source of ``obj`` alone."""
    name = module.__name__
    try:
        text = inspect.getsource(module)
    except (TypeError, OSError):
        if obj is not None:
            text = object_source(obj)
            name = f"{name}:{obj.__qualname__}"
        else:
            return
    code.modules[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    dist = _distribution(name.split(".")[0])
    if dist:
        code.distributions[dist[0]] = dist[1]


def _globals_read(function) -> list:
    """The functions, classes and modules a function's code (nested code included) reads
    from its globals."""
    names, stack = set(), [function.__code__]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if inspect.iscode(k))
    found = (function.__globals__.get(n) for n in sorted(names))
    return [v for v in found if inspect.isfunction(v) or isinstance(v, type | types.ModuleType
                                                                      | functools.partial)]


def _name(obj) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _filled(cell) -> bool:
    try:
        return cell.cell_contents is not _filled  # read it: an unassigned one raises
    except ValueError:  # a closure variable not assigned yet
        return False


def _skipped(module_name: str) -> bool:
    return module_name.split(".")[0] in SKIPPED


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return dict(packages_distributions())


def _distribution(top: str) -> tuple[str, str] | None:
    names = _distributions().get(top)
    if not names:
        return None
    try:
        return names[0], version(names[0])
    except Exception:  # metadata without a version: the source hashes still count
        return None


def object_source(obj) -> str:
    """The text of a class or function: its source where Python finds it (a notebook's
    functions, not its classes, on Python < 3.13), else its members' source or compiled
    code, so that an edited method still changes the text."""
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError):
        pass
    if not isinstance(obj, type):
        code = getattr(obj, "__code__", None)
        return _code_text(code) if code is not None else obj.__qualname__
    members = ((k, _member_text(v)) for k, v in sorted(vars(obj).items()))
    return obj.__qualname__ + "".join(f"\n{k}: {text}" for k, text in members if text)


def _member_text(value) -> str | None:
    value = getattr(value, "__func__", value)  # staticmethod, classmethod
    if isinstance(value, property):
        value = value.fget
    if inspect.isfunction(value):
        try:
            return inspect.getsource(value)
        except (TypeError, OSError):
            return _code_text(value.__code__)
    if isinstance(value, int | float | str | bool | tuple | None):
        return repr(value)
    return None  # a descriptor, a docstring holder, a cache: not the model's code


def _code_text(code) -> str:
    """Compiled code without its file name or line numbers (which change when a
    notebook cell runs again): instructions, names and constants, nested code included."""
    consts = (_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts)
    return " ".join([code.co_code.hex(), repr(code.co_names), repr(code.co_varnames), *consts])
