"""The model registry. Every module of this package is imported, and so registers its
cores (``@MODELS.register("name")``); plugins use the entry-point group
``memorybench.models``. Called, ``memorybench.models()`` lists every model
name with its description (``memorybench.callables``)."""

import importlib
import pkgutil

from memorybench.callables import callable_package
from memorybench.models.base import Core
from memorybench.registry import Registry

MODELS = Registry("model", "memorybench.models", Core)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

callable_package(__name__)
