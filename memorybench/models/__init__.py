"""The model registry. Every module of this package is imported, and so registers its
cores (``@MODELS.register("name")``); plugins use the entry-point group
``memorybench.models``."""

import importlib
import pkgutil

from memorybench.models.base import Core
from memorybench.registry import Registry

MODELS = Registry("model", "memorybench.models", Core)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
