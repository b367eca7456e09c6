"""memorybench: how far back can a sequence model remember?

The package reads in one direction: ``cli -> sweep -> runner -> training -> store``;
``catalog`` names what exists, ``cells`` holds the unit of work and its result, ``tasks``
make data, ``models`` make networks, ``report`` reads the store. ``api`` is the same from
Python: the names below are the public, stable ones; everything else may change.
"""

__version__ = "0.1.0"

import importlib  # noqa: E402

from memorybench.api import data, horizon, load, report, run, score  # noqa: E402

__all__ = ["data", "horizon", "load", "models", "report", "run", "score", "tasks"]


def __getattr__(name: str):
    """``tasks`` and ``models``: the registry packages, imported on first use (they import
    torch), and callable: ``mb.tasks()`` lists every task."""
    if name in ("tasks", "models"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
