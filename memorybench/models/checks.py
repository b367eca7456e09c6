"""Checks a model's parameters pass before any cell trains: each has the type of its
default, and the model builds for the task (its own checks raise one-line errors)."""

from __future__ import annotations

import functools
import json

from memorybench.errors import UserError, expected_type
from memorybench.models.base import Core, SequenceModel
from memorybench.tasks.base import TaskIO


def check_model_params(name: str, mcls: type[Core], params: dict) -> None:
    """Each parameter has the type of its default (an int where the default is an int, a
    number where it is a float, ...): a wrong type is a one-line error before training."""
    defaults = {"embed": 1, **mcls.parameters_of()}
    for key, value in params.items():
        expected = None if value is None else expected_type(defaults.get(key), value)
        if expected:
            raise UserError(f"model {name}: parameter {key}={value!r} is invalid; expected "
                            f"{expected} (default {defaults[key]!r})")


@functools.cache
def _builds(io: TaskIO, mcls: type[Core], params_json: str) -> None:
    SequenceModel(io, mcls, **json.loads(params_json))


def model_build_error(io: TaskIO, mcls: type[Core], params: dict) -> Exception | None:
    """Build the model once for the task (once per process for the same parameters), so
    out-of-range parameters (a width of 0, a width that is not a multiple of the heads) are
    caught before any cell trains: the model's own checks raise their one-line errors. Any
    other exception is returned, for the caller to decide: `run` leaves it to training,
    which stores the cell as failed; `diagnose` refuses the model."""
    try:
        params_json = json.dumps(params, sort_keys=True)
        _builds(io, mcls, params_json)  # type: ignore[arg-type]  # python/mypy#11470
    except UserError:
        raise
    except Exception as exc:
        return exc
    return None


def require_build(name: str, io: TaskIO, mcls: type[Core], params: dict) -> None:
    """``model_build_error`` as a one-line error (for commands that refuse such a model)."""
    exc = model_build_error(io, mcls, params)
    if exc is not None:
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UserError(f"model {name}: parameters {params} do not build "
                        f"({type(exc).__name__}: {detail}); expected values like those in "
                        f"models/{name}.toml")


# Bytes per trainable parameter while training: the weight, its gradient and Adam's two
# moments, in float32. Bytes per activation: a float32 value of every (example, step,
# feature) that autograd keeps, about ACTIVATIONS_PER_WIDTH times the width per layer
# (gates, norms and the head keep several such tensors each).
BYTES_PER_PARAMETER = 16
ACTIVATIONS_PER_WIDTH = 16


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2 ** 30


LARGE = 2 ** 16  # a size beyond which a model is counted without being built


def parameter_count(io: TaskIO, mcls: type[Core], params: dict) -> int | None:
    """Trainable parameters of the model. Where a width, a count or the task's vocabulary
    exceeds ``LARGE`` it is counted on torch's meta device (no memory is allocated, so a
    width of 10^9 is counted, not built); None if it cannot be built there."""
    sizes = [v for v in params.values() if isinstance(v, int) and not isinstance(v, bool)]
    meta = max([io.in_size, io.out_size, *sizes]) > LARGE
    params_json = json.dumps(params, sort_keys=True)
    return _count(io, mcls, params_json, meta)  # type: ignore[arg-type]  # python/mypy#11470


@functools.cache
def _count(io: TaskIO, mcls: type[Core], params_json: str, meta: bool) -> int | None:
    import torch

    try:
        with torch.device("meta" if meta else "cpu"), torch.random.fork_rng():
            model = SequenceModel(io, mcls, **json.loads(params_json))
    except UserError:
        raise
    except Exception as exc:  # too large even to describe, or not buildable on meta
        return 2 ** 62 if "overflow" in str(exc).lower() else None
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def memory_estimate(io: TaskIO, mcls: type[Core], params: dict, batch: int,
                    length: int) -> int | None:
    """Bytes one training step of the cell needs, at least: its parameters with their
    gradients and optimizer state, and the activations of a batch of ``length`` steps."""
    count = parameter_count(io, mcls, params)
    if count is None:
        return None
    width = max([v for k, v in params.items() if k in ("hidden", "embed", "d_model",
                                                       mcls.width_arg)
                 and isinstance(v, int)] or [1])
    layers = params.get("layers", 1) if isinstance(params.get("layers", 1), int) else 1
    return (BYTES_PER_PARAMETER * count
            + 4 * ACTIVATIONS_PER_WIDTH * batch * length * width * max(layers, 1))


def check_fits(name: str, io: TaskIO, mcls: type[Core], params: dict, batch: int,
               length: int, steps: int) -> None:
    """Refuse, before any training, a cell whose tensors cannot fit in this machine's
    memory (``memory_estimate`` of a batch of ``steps``-step sequences against
    ``machine_memory``)."""
    need = memory_estimate(io, mcls, params, batch, steps)
    have = machine_memory()
    if need is not None and need > have:
        raise UserError(f"model {name} at length {length} ({steps} steps), batch {batch}, "
                        "parameters "
                        f"{params}: needs about {need / 2 ** 30:,.0f} GiB to train, more than "
                        f"this machine's {have / 2 ** 30:,.0f} GiB; expected smaller values")


# The causality probe's batch: (batch, time). Six steps leave room to look ahead by up to
# five; a real look-ahead moves earlier outputs by far more than the float32 rounding of a
# parallel scan or an FFT convolution (the tolerances).
LOOKAHEAD_PROBE = (2, 6)
LOOKAHEAD_RTOL, LOOKAHEAD_ATOL = 1e-3, 1e-4


def first_lookahead(core: Core, d_in: int) -> int | None:
    """The first step whose output changes when only later inputs change, or None for a
    core that is causal in fact: per cut t, inputs equal up to t and random after it, the
    outputs at steps <= t compared, in eval mode and in train mode (the same dropout draws
    in both passes). The core's mode and the global random state are left as they were."""
    import torch

    batch, time = LOOKAHEAD_PROBE
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, time, d_in, generator=g)  # (B, T, d_in)
    training = core.training
    try:
        for mode in (False, True):
            core.train(mode)
            for t in range(time - 1):
                later = x.clone()
                later[:, t + 1:] = torch.randn(batch, time - t - 1, d_in, generator=g)
                step = _first_change(_per_step(core, x)[:, :t + 1],
                                     _per_step(core, later)[:, :t + 1])
                if step is not None:
                    return step
    finally:
        core.train(training)
    return None


def _per_step(core: Core, h):
    import torch

    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same dropout draws for both inputs
        return core(h, per_step=True)  # (B, T, F)


def _first_change(a, b) -> int | None:
    """The first step (dimension 1) at which (B, T, F) outputs ``a`` and ``b`` differ."""
    changed = (a - b).abs() > LOOKAHEAD_ATOL + LOOKAHEAD_RTOL * a.abs()  # (B, T, F)
    steps = changed.any(dim=2).any(dim=0).nonzero()  # (n, 1): the steps that changed
    return int(steps[0, 0]) if len(steps) else None
