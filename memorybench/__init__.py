"""memorybench: how far back can a sequence model remember?

The package reads in one direction: ``cli -> sweep -> runner -> training -> store``;
``catalog`` names what exists, ``cells`` holds the unit of work and its result, ``tasks``
make data, ``models`` make networks, ``report`` reads the store. ``api`` is the same from
Python: the names below are the public, stable ones; everything else may change.
"""

__version__ = "0.1.0"

import importlib  # noqa: E402

from memorybench.api import data, horizon, load, run, score  # noqa: E402

__all__ = ["data", "horizon", "load", "models", "report", "run", "score", "tasks"]


def __getattr__(name: str):
    """``tasks``, ``models`` and ``report``: subpackages, imported on first use (the first
    two import torch), and callable as the API's functions of those names:
    ``mb.tasks()`` lists every task (``memorybench.api.CallablePackage``)."""
    if name in ("tasks", "models", "report"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
