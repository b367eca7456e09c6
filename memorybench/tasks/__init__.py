"""The task registry. Every module of this package is imported, and so registers its
tasks (``@TASKS.register("name")``); plugins use the entry-point group
``memorybench.tasks``. Called, ``memorybench.tasks()`` lists every task
name with its description (``memorybench.callables``)."""

import importlib
import pkgutil

from memorybench.callables import callable_package
from memorybench.registry import Registry
from memorybench.tasks.base import Task

TASKS = Registry("task", "memorybench.tasks", Task)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

callable_package(__name__)
