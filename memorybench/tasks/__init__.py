"""The task registry. Built-in tasks register here; plugins use the entry-point group
``memorybench.tasks``."""

from memorybench.registry import Registry
from memorybench.tasks.base import Task

TASKS = Registry("task", "memorybench.tasks", Task)

from memorybench.tasks import (  # noqa: E402,F401  (registers the built-ins)
    adding,
    agreement,
    copy,
    flipflop,
    forecasting,
    induction,
    parity,
    permutation,
    recall,
    selective_copy,
    sentiment,
)
