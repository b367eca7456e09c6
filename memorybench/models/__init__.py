"""The model registry. Built-in cores register here; plugins use the entry-point group
``memorybench.models``."""

from memorybench.models.base import Core
from memorybench.registry import Registry

MODELS = Registry("model", "memorybench.models", Core)

# Importing a module registers its cores.
from memorybench.models import (  # noqa: E402,F401
    attention,
    lru,
    mamba,
    minrnn,
    mlstm,
    orthogonal,
    recurrent,
    retnet,
    s4d,
    window,
)
