"""Subpackages named like API functions: ``memorybench.tasks``, ``models`` and ``report``
are packages, and ``mb.tasks()``, ``mb.models()`` and ``mb.report(db=...)`` call the
front door's functions of those names.

Python binds an imported subpackage to the attribute of its name on the package, so
``mb.report`` is the package once anything imported it, and the package must do what the
function does. This module is a leaf: the front door sits at the top of the package and is
looked up by name only when a package is called, so nothing below it imports it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any


class CallablePackage(types.ModuleType):
    """A package that, called, is the API function of its name."""

    def _function(self) -> Callable[..., Any]:
        front = importlib.import_module(f"{__package__}.api")  # at call time: it is the top
        function: Callable[..., Any] = getattr(front, self.__name__.rpartition(".")[2])
        return function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._function())


def callable_package(name: str) -> None:
    """Make the package ``name`` (``__name__`` of its ``__init__``) a ``CallablePackage``."""
    sys.modules[name].__class__ = CallablePackage
