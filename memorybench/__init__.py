"""memorybench: how far back can a sequence model remember?

Imports run one way, from the front doors down: ``cli`` and ``api`` -> ``console`` ->
``report`` (reads stores and results files; never torch) -> ``horizon`` (``plan``, ``run``;
``rules`` decides every verdict) and ``diagnostics`` -> ``runner`` (many cells) ->
``datasets``, ``costs``, ``usermodels`` -> ``training`` (one cell) and ``sweep`` (suites and
requests to cells) -> ``catalog`` (names, specs, fingerprints) -> ``tasks``, ``models``,
``baselines``, ``store`` -> ``cells`` (``Cell``, ``Result``) -> ``config`` (typed settings and
which wins), ``registry``, ``specs``, ``errors``. ``api`` is the command line's work from
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
