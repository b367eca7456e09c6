"""The model registry. Built-in cores register here; plugins use the entry-point group
``memorybench.models``."""

from memorybench.models.base import Core
from memorybench.registry import Registry

MODELS = Registry("model", "memorybench.models", Core)

from memorybench.models import recurrent  # noqa: E402,F401  (registers the built-ins)
