"""The unit of work and its outcome: a ``Cell`` in, a ``Result`` out.

A cell is one (task, length, model, seed) with every parameter spelled out, and the code
version of its task and model; its key is a hash of all of it, so a stored result is found
again whatever order or command produced it, and any change to the protocol (a parameter, a
budget, the code of a task or model) makes a new cell instead of silently reusing an old
result. A result is the row the store keeps for a cell; the store's columns are its fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from memorybench.config import TrainConfig

# data seeds: SeedSequence([seed, stream]); stream 2 is the diagnostics' probe set
TRAIN_STREAM, EVAL_STREAM, TEST_STREAM, EXTRAPOLATION_STREAM = 0, 1, 3, 4

@dataclass(frozen=True)
class Cell:
    """One unit of work, fully resolved: everything training needs, nothing looked up by
    name again. ``task_type``/``model_type`` are the registered classes' names (a spec
    variant such as ``lstm2`` has type ``lstm``); ``*_version`` their code fingerprints
    (``memorybench.catalog.fingerprint``)."""

    task: str
    task_type: str
    task_version: int | str
    task_params: dict[str, Any]
    length: int
    model: str
    model_type: str
    model_kind: str  # "network" | "baseline"
    model_version: int | str
    model_params: dict[str, Any]
    train: TrainConfig
    seed: int
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", cell_key(self.config(with_key=False)))

    def config(self, with_key: bool = True) -> dict[str, Any]:
        """The JSON form stored with the result (and hashed into the key)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if with_key or f.name != "key"}
        out["train"] = self.train.config()
        return out

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Cell:
        """A cell from its stored config (the key is kept as stored)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in config.items() if k in fields}
        values["train"] = TrainConfig(**config["train"])
        return cls(**values)

    def with_train(self, **changes: Any) -> Cell:
        """This cell with some training settings changed (and so a new key)."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes),
                                   key="")

    @property
    def is_baseline(self) -> bool:
        return self.model_kind == "baseline"

    def failure(self, error: str) -> dict[str, Any]:
        """The stored row of a cell whose worker could not return a result."""
        return Result.of(self, status="failed", error=error).row()


def cell_key(config: dict[str, Any]) -> str:
    """A short, stable hash of everything that determines a cell's result."""
    body = {k: v for k, v in config.items() if k != "key"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _column(sql: str, json_column: bool = False) -> Any:
    return field(default=None, metadata={"sql": sql, "json": json_column})


@dataclass
class Result:
    """A cell's outcome: the row the store keeps (one column per field). ``status`` is
    ``ok``, ``diverged`` (the loss or a held-out metric turned NaN/inf; ``diverged_step``
    says where) or ``failed`` (the code raised; ``error`` says what)."""

    key: str = _column("TEXT PRIMARY KEY")
    task: str = _column("TEXT NOT NULL")
    model: str = _column("TEXT NOT NULL")
    length: int = _column("INTEGER NOT NULL")
    seed: int = _column("INTEGER NOT NULL")
    status: str = _column("TEXT NOT NULL")
    metric_name: str | None = _column("TEXT")
    metric: float | None = _column("REAL")
    chance: float | None = _column("REAL")
    solved_threshold: float | None = _column("REAL")
    solved: bool = _column("INTEGER")
    loss: float | None = _column("REAL")
    steps: int | None = _column("INTEGER")
    steps_to_solve: int | None = _column("INTEGER")
    diverged_step: int | None = _column("INTEGER")
    wall_time: float | None = _column("REAL")
    params: int | None = _column("INTEGER")  # trainable parameters (fitted numbers)
    device: str | None = _column("TEXT")
    error: str | None = _column("TEXT")
    finished_at: str | None = _column("TEXT")
    metrics: dict[str, Any] | None = _column("TEXT", json_column=True)
    versions: dict[str, Any] | None = _column("TEXT", json_column=True)
    config: dict[str, Any] | None = _column("TEXT", json_column=True)
    host: str | None = _column("TEXT")
    state_size: int | None = _column("INTEGER")  # floats carried from step to step

    @classmethod
    def of(cls, cell: Cell, **values: Any) -> Result:
        defaults = {"status": "ok", "metrics": {}, "versions": {}, "solved": False}
        return cls(key=cell.key, task=cell.task, model=cell.model, length=cell.length,
                   seed=cell.seed, config=cell.config(), **{**defaults, **values})

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Metrics:
    """A result's ``metrics`` column, read back as a typed record. ``values``: the task's
    metrics on the set the result reports (its test set, where it had one); ``validation``:
    on the held-out set that stopped the run and chose its learning rate (``values`` where
    there was no separate test set); ``curve``: (step, held-out metric) per evaluation, []
    for a baseline's fit; ``losses``: (step, held-out loss) per evaluation that recorded
    one; ``extrapolation``: multiple -> metric at that multiple of the
    length (None where it does not apply); ``error``: a failed cell's traceback;
    ``control``: the cell was a horizon search's control; ``search``: the protocol of the
    search that trained it (``horizon.plan.Search.record``: its ladder, caps, budget and
    task settings), non-key data the report reads back, {} where none was recorded."""

    values: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    curve: list[tuple[int, float]] = field(default_factory=list)
    extrapolation: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    no_progress_step: int | None = None
    control: bool = False  # the cell was a horizon search's control (``Protocol.control``)
    search: dict[str, Any] = field(default_factory=dict)
    losses: list[tuple[int, float]] = field(default_factory=list)

    RECORDS = ("validation", "curve", "extrapolation", "traceback", "no_progress_step",
               "control", "model_source", "search")

    @classmethod
    def read(cls, raw: Metrics | dict[str, Any] | str | None) -> Metrics:
        """The record of a stored column: a dict, its JSON text, or nothing."""
        if isinstance(raw, Metrics):
            return raw
        if isinstance(raw, str):
            raw = json.loads(raw)
        raw = raw if isinstance(raw, dict) else {}
        values = {k: v for k, v in raw.items() if k not in cls.RECORDS}
        curve, losses = [], []
        for point in raw.get("curve") or []:  # [step, metric, loss] per evaluation
            if not isinstance(point, list) or len(point) < 2:
                continue
            numbers = [isinstance(v, int | float) and not isinstance(v, bool) for v in point[:3]]
            if numbers[0] and numbers[1]:
                curve.append((int(point[0]), float(point[1])))
                if len(point) >= 3 and numbers[2] and math.isfinite(point[2]):
                    losses.append((int(point[0]), float(point[2])))
        validation = raw.get("validation")
        extrapolation = raw.get("extrapolation")
        step = raw.get("no_progress_step")
        search = raw.get("search")
        return cls(values, validation if isinstance(validation, dict) and validation
                   else values, curve, extrapolation if isinstance(extrapolation, dict) else {},
                   raw.get("traceback") if isinstance(raw.get("traceback"), str) else None,
                   step if isinstance(step, int) and not isinstance(step, bool) else None,
                   raw.get("control") is True, search if isinstance(search, dict) else {},
                   losses)


COLUMNS = {f.name: f.metadata["sql"] for f in dataclasses.fields(Result)}
JSON_COLUMNS = tuple(f.name for f in dataclasses.fields(Result) if f.metadata["json"])


# Cells stored before models carried a code version (store schema 3, results files of
# memorybench 0.1.0) were made by version 1 of every built-in model and baseline; the code
# of any other (a plugin's) is unknown, so its cells no longer match and train again.
VERSION_1 = frozenset({"attention", "birnn", "elman", "ffwindow", "gru", "irnn", "lstm",
                       "orthogonal", "bow-logreg", "majority", "recent-noun", "ridge-window"})


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config brought to the current form, with the key it now hashes to: the
    model's code version added where it is missing."""
    if "model_version" in config:
        return config
    version = 1 if config.get("model_type") in VERSION_1 else "unknown"
    new = {k: v for k, v in config.items() if k != "key"}
    new["model_version"] = version
    return {**new, "key": cell_key(new)}
