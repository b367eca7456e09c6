"""What every model is: encode the inputs, run a core over time, read out with a head.

    tokens (B, T) -> Embedding | reals (B, T, in) -> Linear      (B, T, d)
    core                                                         (B, T, F) or (B, F)
    head: Linear                                                 (B, T, out) or (B, out)

A registered model is a ``Core``; its constructor arguments are the model's parameters
(set from its TOML spec in ``models/``). The encoder and head come from the task's
``TaskIO``, so every core runs on every task kind.
"""

from __future__ import annotations

import inspect
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.parametrizations import _OrthMaps, _Orthogonal

from memorybench.errors import UserError
from memorybench.tasks.base import TaskIO


class Core(nn.Module):
    """Maps encoded inputs (B, T, d_in) to features: (B, T, F) per step, or (B, F) for
    the whole sequence. Subclasses set ``out_features`` in ``__init__``."""

    name: ClassVar[str] = "core"  # set by the registry
    description: ClassVar[str] = ""
    # The code version, part of every cell key: bump it when a change alters what the model
    # computes or learns, so stored results of the old code are not reused. A core that
    # declares none (a plugin) is fingerprinted by its module's source instead, and one made
    # in-process (``memorybench.usermodels``) carries that fingerprint, a text, as its version.
    version: ClassVar[int | str] = 1
    # The output at step t depends on inputs at steps <= t only; an instance may say
    # otherwise (attention's ``causal`` parameter).
    causal: bool = True
    # True when the core carries a state from step to step and ``unroll`` exposes it
    # (memorybench.diagnostics); attention and windows have no such state.
    recurrent_state: ClassVar[bool] = False
    # The constructor argument that sets the core's width: ``--params`` sizes the model by
    # it, and the encoder is this wide unless ``embed`` says otherwise.
    width_arg: ClassVar[str] = "hidden"
    # An integer parameter ``--params`` may move away from the spec's value when no
    # width alone lands within 10% of the target (memorybench.models.sizing).
    sizing_knob: ClassVar[str | None] = None
    # True for a core whose input width is its own, not an argument (a module of fixed size
    # given in-process, memorybench.usermodels): it is built with d_in=None, sets
    # ``in_features``, and the encoder is made that wide; --params cannot size it.
    fixed_size: ClassVar[bool] = False
    in_features: int
    out_features: int

    def forward(self, h: torch.Tensor, per_step: bool) -> torch.Tensor:
        raise NotImplementedError

    def unroll(self, h: torch.Tensor) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor]:
        """Run the recurrence one step at a time, for diagnostics (a recurrent core only).

        Returns ``states``, T tuples of (B, S) tensors (one per layer; S = hidden for the
        classic RNNs, the whole state flattened for the modern cores, a complex or matrix
        state as real floats): the state after step t, exactly the tensors step t+1 is
        computed from, so the gradient of a loss with respect to ``states[t]`` is
        dLoss/dh_t through every later step; and the
        per-step features (B, T, F) computed from those states, equal to
        ``forward(h, per_step=True)``.
        """
        raise NotImplementedError(f"model {self.name} carries no per-step recurrent state")

    def state_size(self) -> int | None:
        """Floats one sequence carries from one step to the next (all layers together; a
        complex entry counts 2); None for a core that carries no fixed-size state (attention
        looks back at every step). The default, None, suits stateless cores only: every
        core with a state says how large it is."""
        return None

    def lr_factors(self) -> dict[str, float]:
        """Learning-rate multipliers of some of this core's parameters, by name relative to
        the core (e.g. expRNN trains its orthogonal matrix 10x slower); others get 1."""
        return {}

    @classmethod
    def parameters_of(cls) -> dict[str, object]:
        """Constructor parameters and their defaults (``d_in`` is supplied by the model)."""
        sig = inspect.signature(cls.__init__)
        return {k: p.default for k, p in sig.parameters.items() if k not in ("self", "d_in")}

    @classmethod
    def task_args(cls, io: TaskIO) -> dict[str, int]:
        """Constructor arguments taken from the task, not set by the user (none by default;
        a module given in-process may ask for the task's ``vocab`` and ``classes``)."""
        return {}


class SequenceModel(nn.Module):
    """A core between an input encoder and an output head sized for one task."""

    def __init__(self, io: TaskIO, core_cls: type[Core], embed: int | None = None,
                 target_params: int | None = None, **params):
        """``embed``: encoder width (default: the core's width, ``Core.width_arg``; a core
        of fixed size takes its own, ``Core.fixed_size``).
        ``target_params``: the ``--params`` budget the width was chosen for; recorded with
        the cell, unused here."""
        super().__init__()
        known = core_cls.parameters_of()
        for key in params:
            if key not in known:
                raise UserError(f"model {core_cls.name}: unknown parameter {key!r}; expected "
                                f"one of: {', '.join(sorted(['embed', *known]))}")
        task_args = core_cls.task_args(io)
        core = None
        if core_cls.fixed_size:  # built first: its own input width sets the encoder's
            if embed is not None:
                raise UserError(f"model {core_cls.name} has a fixed size: embed cannot change "
                                "the width it takes; expected no model.embed")
            core = core_cls(d_in=None, **params, **task_args)
        width = core.in_features if core is not None else (
            embed or params.get(core_cls.width_arg) or known.get(core_cls.width_arg))
        if not isinstance(width, int) or width < 1:
            raise UserError(f"model {core_cls.name}: embed/{core_cls.width_arg} must be a "
                            "positive integer")
        self.encode: nn.Embedding | nn.Linear
        if io.inputs == "tokens":
            self.encode = nn.Embedding(io.in_size, width)
        else:
            self.encode = nn.Linear(io.in_size, width)
        self.core = core if core is not None else core_cls(d_in=width, **params, **task_args)
        self.head = nn.Linear(self.core.out_features, io.out_size)
        self.per_step = io.positions == "each"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encode(x)  # (B, T, d)
        feats = self.core(h, per_step=self.per_step)  # (B, T, F) or (B, F)
        return self.head(feats)  # (B, T, out) or (B, out)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, counted as degrees of freedom: an (n, n) orthogonal matrix
    stored by torch as a full square of which only the strict lower triangle is used
    (``parametrizations.orthogonal`` with matrix_exp or cayley) counts n (n - 1) / 2."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for module in model.modules():
        for plist in getattr(module, "parametrizations", {}).values():
            orth = plist[0]
            if isinstance(orth, _Orthogonal) and orth.orthogonal_map != _OrthMaps.householder:
                original = plist.original
                n, k = original.shape[-2:]
                if n == k and original.requires_grad:
                    matrices = original.numel() // (n * n)
                    total -= original.numel() - matrices * n * (n - 1) // 2
    return total
