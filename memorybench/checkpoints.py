"""Checkpoints of training runs, so that a longer budget continues a run where it stopped.

A horizon search extends a failing rung by training its cells on at twice the budget
(``horizon.failure.extendable``). The longer cell is a new cell (its key holds its budget),
yet its run is the shorter one's continued: same weights, optimizer state, position in the
training stream and learning curve. A checkpoint holds all of that, keyed by the cell's
*lineage* (its key without the budget), in safetensors files (tensors, and JSON for the
rest: nothing is unpickled) in a folder beside the store. A run resumes from the latest
checkpoint of its lineage at or below its budget; without one it starts from step 0 and
ends the same, so a checkpoint only saves time, never changes a result.

A run saves at an evaluation once ``every`` seconds have passed since its last save, and
when it ends: an interrupted cell (Ctrl-C, kill -9) resumes from its last save. A file is
written whole to a temporary name and renamed, so a kill never leaves half of one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from memorybench.cells import Cell, cell_key

FOLDER_SUFFIX = ".checkpoints"


def folder_of(db: str | Path) -> Path:
    """The checkpoints of the store ``db``: ``results/x.db`` -> ``results/x.checkpoints``."""
    path = Path(db)
    return path.with_name(path.stem + FOLDER_SUFFIX)


def lineage(cell: Cell) -> str:
    """The key of ``cell`` without its budget: every budget of one run shares it."""
    config = cell.config(with_key=False)
    config["train"] = {k: v for k, v in config["train"].items() if k != "steps"}
    return cell_key(config)


@dataclasses.dataclass
class Saved:
    """What a run needs to go on: its step, the model's and optimizer's state, the
    training stream's generator state, and ``run``: the fields of ``training.Run`` with
    the streak of solved evaluations and whether the run ended before its budget."""

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: dict[str, Any]
    run: dict[str, Any]


class Checkpoint:
    """The checkpoints of one cell's lineage in ``folder``."""

    def __init__(self, folder: str | Path, cell: Cell, every: float = 60.0):
        self.folder, self.budget, self.every = Path(folder), cell.train.steps, every
        self.name = lineage(cell)
        self.last = time.monotonic()

    def files(self) -> dict[int, Path]:
        """Step -> file of this lineage's checkpoints."""
        out = {}
        for path in self.folder.glob(f"{self.name}-*.safetensors"):
            step = path.stem.rsplit("-", 1)[1]
            if step.isdigit():
                out[int(step)] = path
        return out

    def load(self) -> Saved | None:
        """The latest checkpoint at or below this cell's budget; None if there is none, or
        it does not read (a damaged file is set aside, and the run starts over)."""
        usable = {s: p for s, p in self.files().items() if s <= self.budget}
        if not usable:
            return None
        step = max(usable)
        try:
            return read(usable[step])
        except Exception:  # a damaged checkpoint costs time, never a result
            usable[step].unlink(missing_ok=True)
            return None

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every

    def save(self, saved: Saved) -> None:
        """Write ``saved`` whole, then drop this lineage's checkpoints of fewer steps."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.name}-{saved.step}.safetensors"
        write(path, saved)
        for step, old in self.files().items():
            if step < saved.step:
                old.unlink(missing_ok=True)
        self.last = time.monotonic()


def write(path: Path, saved: Saved) -> None:
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in saved.model.items()}
    state: dict[str, Any] = {}
    for index, values in saved.optimizer["state"].items():
        for k, v in values.items():
            if torch.is_tensor(v):
                tensors[f"optimizer/{index}/{k}"] = v.detach().cpu().contiguous()
            else:
                state.setdefault(str(index), {})[k] = v
    meta = {"step": saved.step, "rng": saved.rng, "run": saved.run,
            "optimizer": {"param_groups": saved.optimizer["param_groups"], "state": state}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata={"memorybench": json.dumps(_plain(meta))})
    os.replace(tmp, path)


def read(path: Path) -> Saved:
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["memorybench"])
    tensors = load_file(str(path))
    model = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("model/")}
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in
                                        meta["optimizer"]["state"].items()}
    for k, v in tensors.items():
        if k.startswith("optimizer/"):
            _, index, name = k.split("/", 2)
            state.setdefault(int(index), {})[name] = v
    optimizer = {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
    return Saved(int(meta["step"]), model, optimizer, meta["rng"], meta["run"])


def _plain(value: Any) -> Any:
    """JSON's types for numpy's and tuples (an optimizer's betas, a generator's state)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def prune(folder: str | Path, lineages: set[str]) -> int:
    """Remove the checkpoints in ``folder`` of these ``lineages`` (``lineage``); returns
    how many files went."""
    path, gone = Path(folder), 0
    if not path.is_dir():
        return 0
    for file in path.glob("*.safetensors"):
        if file.stem.rsplit("-", 1)[0] in lineages:
            file.unlink(missing_ok=True)
            gone += 1
    return gone
