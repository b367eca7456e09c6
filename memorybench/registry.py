"""Name -> class registries for tasks and models, open to plugins through entry points."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import ClassVar, Generic, Protocol, TypeVar

from memorybench.errors import UserError


def unknown_name(kind: str, name: str, known: list[str]) -> UserError:
    """The error for a name nobody registered, with the closest matches first."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return UserError(f"unknown {kind} {name!r}{hint} known: {', '.join(known)}")


class Named(Protocol):
    """What a registered class carries: the name the registry gives it."""

    name: ClassVar[str]


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Maps short lowercase names to subclasses of ``base``.

    Built-in entries register with the ``register`` decorator; third-party packages add
    entries through the entry-point ``group`` (e.g. ``memorybench.models``) without
    editing this repository. Names are unique: a second registration of a name fails.
    """

    def __init__(self, kind: str, group: str, base: type[T]):
        self.kind, self.group, self.base = kind, group, base
        self._entries: dict[str, type[T]] = {}
        self._broken: dict[str, str] = {}  # plugin name -> why it did not load
        self._plugins_loaded = False

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def add(cls: type[T]) -> type[T]:
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise UserError(f"{self.kind} {name!r} must be a subclass of {self.base.__name__}")
            if self._entries.get(name) is cls:  # a plugin that also self-registers
                return cls
            if name in self._entries:
                owner = self._entries[name].__module__
                raise UserError(f"{self.kind} {name!r} is already registered by {owner}; "
                                "choose another name")
            self._entries[name] = cls
            cls.name = name
            return cls
        return add

    def unregister(self, name: str) -> None:
        """Remove ``name``: an in-process model is registered for one call only."""
        self._entries.pop(name, None)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.group):
            try:
                self.register(ep.name)(ep.load())
            except Exception as exc:  # a broken plugin fails alone: the others keep working
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                why = f"{self.kind} plugin {ep.name!r} ({ep.value}) failed to load: " \
                      f"{type(exc).__name__}: {first}"
                self._broken[ep.name] = why
                sys.stderr.write(f"memorybench: warning: {why}; skipped\n")

    def why_broken(self, name: str) -> str | None:
        """Why the plugin ``name`` did not load, or None."""
        self._load_plugins()
        return self._broken.get(name)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def get(self, name: str) -> type[T]:
        self._load_plugins()
        if name in self._broken and name not in self._entries:
            raise UserError(self._broken[name])
        if name not in self._entries:
            raise unknown_name(self.kind, name, self.names())
        return self._entries[name]
