"""memorybench: how far back can a sequence model remember?

The public API (``import memorybench as mb``; each is the command line's command of the same
name, from Python):

- ``mb.horizon(tasks, models, ...)``: search each model's memory horizon on each task; one
  row per (task, model) with its bracket.
- ``mb.run(tasks, models, lengths, seeds, ...)``: train every cell of a sweep not yet stored.
- ``mb.report(db, out)``: write the HTML and Markdown report of a store or results file.
- ``mb.load(path)``: a store's or results file's cells as a pandas DataFrame.
- ``mb.data(task, lengths, ...)`` and ``mb.score(data, predictions)``: a task's examples as
  ``.npz`` files, and predictions made elsewhere scored with the task's metric.
- ``mb.tasks()`` and ``mb.models()``: every name, with its one-line description.

``models`` takes registered names, a ``Core`` subclass, a function or class returning an
``nn.Module``, a ``"path.py:Name"`` string, or a ``(name, model)`` pair
(``docs/your-model.md``; ``docs/quickstart.ipynb`` runs one end to end). These names are the
public, stable ones; the modules below are internal and may change.

Imports run one way, from the front doors down: ``cli`` and ``api`` -> ``console`` ->
``report`` (reads stores and results files; never torch) -> ``horizon`` (``plan``, ``run``;
``rules`` decides every verdict) and ``diagnostics`` -> ``runner`` (many cells) ->
``datasets``, ``costs``, ``usermodels`` -> ``training`` (one cell) and ``sweep`` (suites and
requests to cells) -> ``catalog`` (names, specs, fingerprints) -> ``tasks``, ``models``,
``baselines``, ``store`` -> ``cells`` (``Cell``, ``Result``) -> ``config`` (typed settings and
which wins), ``registry``, ``specs``, ``errors``.
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
