"""Scoring a trained network: on a held-out set in large batches without autograd, and at
multiples of its training length (extrapolation)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from memorybench import cells
from memorybench.cells import Cell
from memorybench.models.base import SequenceModel
from memorybench.tasks.base import Batch, Task

EVAL_TOKENS = 2 ** 16  # time steps per evaluation forward pass: large, but bounded so that
# attention's (chunk, heads, T, T) weights stay near 0.5 GB at T = 500 (2 GB with 500 rows)
EVAL_CHUNK = 500  # examples per evaluation forward pass, at most


def eval_chunk(time_steps: int, chunk: int = EVAL_CHUNK, tokens: int = EVAL_TOKENS) -> int:
    """Examples per evaluation forward pass: ``chunk``, fewer for long sequences (at most
    ``tokens`` time steps per pass)."""
    return max(1, min(chunk, tokens // time_steps))


@torch.inference_mode()
def evaluate(model: torch.nn.Module, task: Task, data: Batch, chunk: int = EVAL_CHUNK,
             tokens: int = EVAL_TOKENS) -> dict[str, Any]:
    """Held-out metrics and loss, computed in large batches without autograd: ``chunk``
    examples per forward pass, fewer for long sequences (at most ``tokens`` time steps)."""
    model.eval()
    chunk = eval_chunk(data.x.shape[1], chunk, tokens)
    out = torch.cat([model(data.x[i:i + chunk]) for i in range(0, len(data), chunk)])
    model.train()
    metrics = task.score(out, data)
    metrics["loss"] = task.loss(out, data).item()
    return metrics


LONGEST_WITHOUT_STATE = 2 ** 13  # longest extrapolated input a core without a recurrent
# state is scored at: attention's evaluation memory grows with T squared
EXTRAPOLATION_TOKENS = 2 ** 20  # time steps per extrapolation pass of a recurrent core


def extrapolation(model: SequenceModel, task: Task, cell: Cell, dev: torch.device
                  ) -> dict[str, Any]:
    """The task metric of the trained network at each multiple k of its training length,
    on a fresh set (``EXTRAPOLATION_STREAM``) of ``test_size`` (or ``eval_size``) examples
    of length k x L: {"2": 0.97, "4": 0.41, ...}. None where the model cannot take that
    length (a core's ``max_length``, a task that refuses it, or a forward pass that
    raises), with the reason under "n/a"."""
    out: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    size = cell.train.test_size or cell.train.eval_size
    limit = getattr(model.core, "max_length", None)
    for k in cell.train.extrapolate:
        length = k * cell.length
        try:
            rng = np.random.default_rng([cell.seed, cells.EXTRAPOLATION_STREAM, k])
            data = task.sample(size, length, rng)
            steps = data.x.shape[1]
            if limit is not None and steps > limit:
                raise ValueError(f"the model takes at most {limit} time steps")
            if not getattr(model.core, "recurrent_state", True) and steps > \
                    LONGEST_WITHOUT_STATE:
                raise ValueError(f"{steps} time steps exceed {LONGEST_WITHOUT_STATE} for a "
                                 "model without a recurrent state")
            if getattr(model.core, "recurrent_state", True):
                # A state carried step by step: memory grows with chunk x T only, and
                # fewer, wider passes spare a core that loops over time most of its calls.
                chunk, tokens = EVAL_CHUNK, EXTRAPOLATION_TOKENS
            else:  # attention's weights: chunk x heads x T x T floats
                chunk, tokens = max(1, 2 ** 24 // steps ** 2), EVAL_TOKENS
            out[str(k)] = evaluate(model, task, data.to(dev), chunk, tokens)[task.metric]
        except Exception as exc:  # n/a for this model, not a failed cell
            out[str(k)] = None
            reasons[str(k)] = f"{type(exc).__name__}: {exc}"[:200]
    if reasons:
        out["n/a"] = reasons
    return out
