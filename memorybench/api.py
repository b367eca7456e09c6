"""The Python API: what the command line does, called from a script or a notebook.

    >>> import memorybench as mb
    >>> sorted(mb.tasks())[:3]
    ['adding', 'agreement', 'copy']

Each function runs the same code as its command (``run``, ``horizon``, ``report``,
``data``, ``score``, and ``list`` as ``mb.tasks()`` and ``mb.models()``); bad input
raises ``ValueError`` (``TypeError`` for an object that is not a model) with the one line
the command would print, before anything is stored. Each function imports what it runs
when it is called, so ``import memorybench`` stays instant and loads no torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from memorybench.config import Request
from memorybench.errors import UserError
from memorybench.store import DEFAULT_DB

if TYPE_CHECKING:  # usermodels imports torch: not for `import memorybench`
    from memorybench.usermodels import ModelLike

__all__ = ["data", "horizon", "load", "report", "run", "score"]


@contextmanager
def _python_errors() -> Iterator[None]:
    """A ``UserError`` as the exception a Python caller expects, with the same text."""
    try:
        yield
    except UserError as exc:
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(str(exc)) from None


def _names(value) -> list:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def run(tasks: str | Sequence[str] | None = None,
        models: ModelLike | Sequence[ModelLike] | None = None,
        lengths: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
        params: int | None = None, db: str | Path = DEFAULT_DB, suite: str | None = None,
        workers: int = 1, device: str = "auto", task: dict | None = None,
        model: dict | None = None, retry_failed: bool = False, rerun: bool = False,
        progress: bool = True, **train) -> pd.DataFrame:
    """Train every cell of a sweep not stored yet in ``db``; return the sweep's rows.

    Parameters
    ----------
    tasks, models : names, as ``memorybench run --task/--model``; ``models`` also takes
        a ``Core`` subclass, a factory returning an ``nn.Module`` that maps (batch, time,
        features) to (batch, time, out), a ``"path.py:Name"`` (or
        ``"path.py:Name=alias"``) string, or a ``(name, model)`` pair. Such a model runs
        under its lower-cased ``__name__`` and is keyed by a fingerprint of what its code
        is built from (``memorybench.fingerprints``). A store binds that name to one
        model: another model under it is refused before anything trains (give it another
        name, or another ``db``); the same one edited trains as its new version. One
        whose earlier outputs move with later inputs is stored and ranked as non-causal.
    lengths, seeds : default: each task's spec lengths, seed 0.
    params : about this many trainable parameters per model (``--params``).
    db : the results store. ``suite``: a suite the other arguments override.
    workers : cells trained at once; in-process models must then be picklable
        (cloudpickle sends a notebook's by value).
    task, model : task and model parameters (``--set task.X=...``, ``--set model.X=...``):
        a plain key sets every selected task (model) that takes it, and a table named
        after a selected one sets that one only, over the plain keys (``--set
        model.mamba.layers=1``): ``model={"hidden": 32, "mamba": {"layers": 1}}``. A key
        no selected task (model) takes, or a table naming one not selected, is an error.
    **train : training settings, e.g. ``steps=500, batch_size=32, lr=1e-3`` (``--set
        train.X=...``).

    Returns
    -------
    The stored rows of the sweep's cells, one per cell (the table ``load`` gives).

    Examples
    --------
    >>> df = mb.run(tasks=["copy"], models=["lstm", MyCore], lengths=[8, 16],
    ...             seeds=[0, 1], params=5000, steps=200, db="results/mine.db")  # doctest: +SKIP
    """
    from memorybench import usermodels  # the training path imports torch: only when called
    from memorybench.console import print_outcome
    from memorybench.runner import check_device, run_sweep
    from memorybench.store import results
    from memorybench.sweep import build_sweep

    with _python_errors():
        names, classes = usermodels.resolve(_names(models))
        with usermodels.registered(classes), usermodels.to_stderr():  # a model's prints
            sweep = build_sweep(Request(suite, tuple(_names(tasks)), tuple(names),
                                        lengths=lengths, seeds=seeds, params=params,
                                        train=train, task=task or {}, model=model or {}))
            cells = sweep.cells()
            usermodels.check_sendable(classes, workers)
            outcome = run_sweep(cells, db, workers=workers, device=check_device(device),
                                retry_failed=retry_failed, rerun=rerun, progress=progress,
                                resume="the same call", work=usermodels.WithModels(classes))
        if outcome.code == 130:
            raise KeyboardInterrupt
        print_outcome(outcome, db, summary=False)
        frame = results.load(db)
    keys = {c.key for c in cells}
    return frame[frame["key"].isin(keys)].reset_index(drop=True)


PROTOCOL = ("factor", "resolution", "lrs", "lr_rungs", "multiples", "test_size", "patience",
            "control", "ceiling", "control_multiple", "lr_beyond", "recipe", "stop_margin")


def horizon(tasks: str | Sequence[str] | None = None,
            models: ModelLike | Sequence[ModelLike] | None = None,
            seeds: Sequence[int] | None = None, params: int | None = None,
            db: str | Path = DEFAULT_DB, suite: str | None = None, workers: int = 1,
            device: str = "auto", start: int | None = None, cap: int | None = None,
            task: dict | None = None, model: dict | None = None, progress: bool = True,
            **settings) -> pd.DataFrame:
    """Search each model's memory horizon on each task (``memorybench horizon``).

    Arguments as in ``run``; ``start`` and ``cap`` bound every task's ladder of lengths;
    ``settings`` holds the protocol (``factor``, ``resolution``, ``lrs``, ``lr_rungs``,
    ``multiples``, ``test_size``, ``patience``, ``control``, ``ceiling``,
    ``control_multiple``, ``lr_beyond``, ``recipe``, ``stop_margin``:
    ``memorybench.config.Protocol``) and
    training settings (``steps=...``; not ``lr``, which the grid ``lrs`` sets). Seeds
    default to 0, 1, 2. Training checkpoints live beside ``db`` while the searches run and
    are removed once they close.

    Returns
    -------
    One row per (task, model): ``solved`` (the longest length a majority of seeds solved,
    None if the first failed), ``failed`` (the shortest they failed, None if none up to
    ``cap``), ``bracket`` as text, the learning rate chosen at ``solved``, ``closed``,
    ``causal`` and the ``lengths_trained``.
    """
    from memorybench import usermodels
    from memorybench.checkpoints import folder_of
    from memorybench.horizon.plan import plan_searches, search_sweep
    from memorybench.horizon.protocol import refuse_lr
    from memorybench.horizon.run import brackets, run_searches
    from memorybench.runner import check_device
    from memorybench.training import Continuing

    flags = {k: settings.pop(k) for k in PROTOCOL if k in settings}
    with _python_errors():
        refuse_lr(settings)
        names, classes = usermodels.resolve(_names(models))
        with usermodels.registered(classes):
            with usermodels.to_stderr():  # a model's prints; the brackets print as they close
                sweep, protocol = search_sweep(Request(
                    suite, tuple(_names(tasks)), tuple(names), seeds=seeds, params=params,
                    train=settings, task=task or {}, model=model or {}, protocol=flags))
                searches = plan_searches(sweep, protocol, start, cap,
                                         lrs_given="lrs" in flags)
            usermodels.check_sendable(classes, workers)
            code = run_searches(searches, protocol, db, workers, device=check_device(device),
                                progress=progress, work=usermodels.WithModels(
                                    classes, Continuing(str(folder_of(db)))))
        if code == 130:
            raise KeyboardInterrupt
        return pd.DataFrame(brackets(searches, protocol, db))


def report(db: str | Path = DEFAULT_DB, out: str | Path = "reports/latest",
           tasks: Sequence[str] = (), models: Sequence[str] = (),
           formats: Sequence[str] = ("html", "md")) -> list[Path]:
    """Write the report of the store (or results file) ``db`` into the folder ``out``
    (``memorybench report``); returns the files written."""
    from memorybench.report.pages import render_report

    with _python_errors():
        return render_report(db, out, tuple(tasks), tuple(models), tuple(formats))


def load(path: str | Path) -> pd.DataFrame:
    """The results of a store (``.db``) or an exported ``.csv``/``.json``/``.jsonl``/
    ``.parquet`` file, one row per cell, as the same table."""
    from memorybench.store import results

    with _python_errors():
        return results.load(path)


def data(task: str, lengths: Sequence[int], seeds: Sequence[int] = (0,),
         out: str | Path = "data", train_size: int = 10_000,
         validation_size: int | None = None, test_size: int = 1000,
         params: dict | None = None, batch_size: int | None = None) -> list[Path]:
    """Write ``task``'s train, validation and test examples, one ``.npz`` file per
    (length, seed), with a ``manifest.json``, into the folder ``out`` (``memorybench
    data``): the examples a cell of that length and seed sees. ``params``: task
    parameters; ``validation_size`` and ``batch_size`` default to the task spec's.
    Returns the files written."""
    from memorybench import datasets

    with _python_errors():
        return datasets.write(task, list(lengths), list(seeds), Path(out), train_size,
                              validation_size, test_size, params, batch_size)


def score(data: str | Path, predictions, split: str = "test") -> dict:
    """Score ``predictions`` made elsewhere (an array, or a ``.npy``/``.npz`` file) on the
    ``split`` set of a file written by ``data``, with the task's own metric: a dict with
    ``metric``, ``value``, ``chance``, ``solved`` and every metric the task computes
    (``memorybench score``). Predictions are logits (B, classes) or (B, T, classes) for
    class targets, values of the targets' shape for real ones."""
    from memorybench import datasets

    with _python_errors():
        return datasets.score(data, predictions, split)


def tasks() -> dict[str, str]:
    """Every task name, with its one-line description (``memorybench list``)."""
    from memorybench.catalog import describe, task_names

    return {name: describe("task", name) for name in task_names()}


def models() -> dict[str, str]:
    """Every model and baseline name, with its one-line description."""
    from memorybench.catalog import describe, model_names

    return {name: describe("model", name) for name in model_names()}
