"""memorybench: how far back can a sequence model remember?

The package reads in one direction: ``cli -> sweep -> runner -> training -> store``;
``catalog`` names what exists, ``cells`` holds the unit of work and its result, ``tasks``
make data, ``models`` make networks, ``report`` reads the store. ``api`` is the same from
Python: the names below are the public, stable ones; everything else may change.
"""

import importlib

__version__ = "0.1.0"
__all__ = ["data", "horizon", "load", "models", "report", "run", "score", "tasks"]

# Imported on first use, so that `import memorybench` (and `python -m memorybench`, which
# must answer Ctrl-C at any moment) stays instant. tasks, models and report are subpackages
# too, callable as the API's functions (memorybench.callables).
_SUBPACKAGES = ("tasks", "models", "report", "horizon")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in __all__:
        return getattr(importlib.import_module(f"{__name__}.api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
