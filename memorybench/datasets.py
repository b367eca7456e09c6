"""A task's generated examples as files any framework can read (``memorybench data``), and
scores of predictions made elsewhere on them (``memorybench score``).

One ``.npz`` file per (length, seed) holds the examples a cell of that length and seed
sees: ``train_x``/``train_y``, the first ``train_size`` examples of its training stream (in
batches of its batch size, held-out inputs left out, as ``training.train_steps`` draws
them), ``validation_x``/``validation_y`` (the held-out set it stops on) and
``test_x``/``test_y`` (its test set), with any per-example facts a score reads as
``SPLIT_meta_NAME``. ``manifest.json`` beside the files names, per file, the task, its
parameters, the code version of its generator, memorybench's version and a hash of the
arrays, which ``score`` checks before it scores.

Inputs are token ids (B, T) int64 or reals (B, T, in) float32; targets classes (B,) or
(B, T) (``-100`` where unlabelled) or reals (B, out). Predictions are what a model would
output: logits (B, classes) or (B, T, classes) for classes, values of the targets' shape
for reals.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch

import memorybench
from memorybench import catalog
from memorybench.cells import TRAIN_STREAM
from memorybench.config import DATA_COPIES, TrainConfig, check_distinct, check_seeds
from memorybench.errors import UserError
from memorybench.models.checks import machine_memory
from memorybench.tasks.base import Batch, Task, input_rows, sample_unseen
from memorybench.training import held_out_set, test_set

MANIFEST = "manifest.json"
SPLITS = ("train", "validation", "test")


def file_name(task: str, length: int, seed: int) -> str:
    return f"{task}-T{length}-seed{seed}.npz"


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """A hash of the arrays themselves (names, dtypes, shapes, values), whatever the
    file's compression."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()


def _arrays(split: str, batch: Batch) -> dict[str, np.ndarray]:
    out = {f"{split}_x": batch.x.numpy(), f"{split}_y": batch.y.numpy()}
    out.update({f"{split}_meta_{k}": np.asarray(v) for k, v in batch.meta.items()})
    return out


def examples(task: Task, length: int, seed: int, cfg: TrainConfig,
             train_size: int) -> dict[str, np.ndarray]:
    """The arrays of one file: a cell's three sets at ``length`` and ``seed``."""

    validation = held_out_set(task, cfg, length, seed)
    test = test_set(task, cfg, length, seed)
    unseen = input_rows(task, validation) | input_rows(task, test)
    rng = np.random.default_rng([seed, TRAIN_STREAM])
    batches = [sample_unseen(task, cfg.batch_size, length, rng, unseen)
               for _ in range(math.ceil(train_size / cfg.batch_size))]
    train = Batch(torch.cat([b.x for b in batches])[:train_size],
                  torch.cat([b.y for b in batches])[:train_size],
                  {k: np.concatenate([b.meta[k] for b in batches])[:train_size]
                   for k in batches[0].meta})
    return {**_arrays("train", train), **_arrays("validation", validation),
            **_arrays("test", test)}


def write(task_name: str, lengths: list[int], seeds: list[int], out: Path,
          train_size: int, validation_size: int | None = None, test_size: int = 1000,
          task_params: dict | None = None, batch_size: int | None = None) -> list[Path]:
    """Write one file per (length, seed) into the folder ``out`` and list them in its
    manifest (entries of other files already there are kept); returns the files.
    ``validation_size`` and ``batch_size`` default to the task spec's ``eval_size`` and
    ``batch_size``, so the examples are those its cells draw. Every value is checked, and
    the size of every file against this machine's memory (``check_size``), before
    anything is generated or written."""
    spec = catalog.task_spec(task_name)
    task = catalog.build_task(task_name, {**spec.get("params", {}), **(task_params or {})})
    for name, value in (("--train-size", train_size), ("--test-size", test_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} {value!r} is invalid; expected an integer >= 1")
    train = {**spec.get("train", {}), "test_size": test_size,
             **({} if validation_size is None else {"eval_size": validation_size}),
             **({} if batch_size is None else {"batch_size": batch_size})}
    cfg = TrainConfig(**{k: v for k, v in train.items()
                         if k in ("batch_size", "eval_size", "test_size")})
    if not lengths or not seeds:
        raise UserError("nothing to write: expected --lengths like 10,50 and --seeds like 0,1")
    check_seeds(seeds)
    for length in lengths:
        task.check_length(length)
        check_size(task_name, task, length, cfg, train_size)
    check_distinct("--lengths", lengths, "10,50")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; expected a folder to write the data into")
    manifest = read_manifest(out) if (out / MANIFEST).exists() else {"files": {}}
    try:
        return _write_files(task_name, task, lengths, seeds, out, cfg, train_size, manifest)
    except OSError as exc:
        raise UserError(f"--out {out} cannot be written ({exc.strerror or exc}); expected a "
                        "writable folder") from None


def _write_files(task_name: str, task: Task, lengths: list[int], seeds: list[int], out: Path,
                 cfg: TrainConfig, train_size: int, manifest: dict) -> list[Path]:
    """Each (length, seed)'s file, then the manifest with their entries; the files."""
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for length in lengths:
        for seed in seeds:
            arrays = examples(task, length, seed, cfg, train_size)
            path = out / file_name(task_name, length, seed)
            tmp = path.with_name(path.name + ".tmp.npz")
            # numpy's stub lets a **mapping of arrays reach its allow_pickle flag
            np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
            tmp.replace(path)
            meta = entry(task_name, task, length, seed, cfg, arrays)
            manifest["files"][path.name] = {**meta, "entry_hash": entry_hash(meta)}
            written.append(path)
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (out / MANIFEST).write_text(text, encoding="utf-8")
    return written


def drawn(cfg: TrainConfig, train_size: int) -> int:
    """Training examples generated for one file: ``train_size`` rounded up to whole
    batches, as ``examples`` draws them."""
    return math.ceil(train_size / cfg.batch_size) * cfg.batch_size


def example_bytes(task: Task, length: int) -> int:
    """Bytes of one example's arrays at ``length``: int64 tokens and classes, float32
    reals, a target per step where the task labels every step."""
    io, steps = task.io, task.sequence_steps(length)
    x = steps * (8 if io.inputs == "tokens" else 4 * io.in_size)
    y = 8 if io.targets == "class" else 4 * io.out_size
    return x + y * (steps if io.positions == "each" else 1)


def check_size(task_name: str, task: Task, length: int, cfg: TrainConfig,
               train_size: int) -> None:
    """Refuse a file whose arrays, held ``DATA_COPIES`` times over while it is made, would
    not fit in this machine's memory: one line with the estimate and the limit."""
    train = drawn(cfg, train_size)
    n = train + cfg.eval_size + cfg.test_size
    need, memory, gib = n * example_bytes(task, length), machine_memory(), 2 ** 30
    if need * DATA_COPIES > memory:
        raise UserError(f"data of {task_name} at length {length:,}: {n:,} examples ({train:,} "
                        f"training, {cfg.eval_size:,} validation, {cfg.test_size:,} test) need "
                        f"about {need / gib:,.1f} GiB per file, above the "
                        f"{memory / DATA_COPIES / gib:,.1f} GiB this machine can build (its "
                        f"{memory / gib:,.0f} GiB of memory over the {DATA_COPIES} copies made "
                        "while writing); expected a smaller --train-size, --validation-size, "
                        "--test-size, --batch-size or --lengths")


def entry(task_name: str, task: Task, length: int, seed: int, cfg: TrainConfig,
          arrays: dict[str, np.ndarray]) -> dict:
    version = catalog.fingerprint(type(task))  # type: ignore[arg-type]  # python/mypy#11470
    return {"task": task_name, "task_type": task.name, "task_version": version,
            "task_params": dataclasses.asdict(task), "length": length, "seed": seed,
            "io": dataclasses.asdict(task.io), "metric": task.metric,
            "chance": task.chance(length), "solved": task.solved,
            "sizes": {s: len(arrays[f"{s}_x"]) for s in SPLITS},
            "batch_size": cfg.batch_size, "memorybench": memorybench.__version__,
            "content_hash": content_hash(arrays)}


# What ``score`` reads of a manifest entry, and the type each must have.
ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "task": str, "task_version": (int, str), "task_params": dict, "length": int, "seed": int,
    "io": dict, "chance": (int, float), "content_hash": str, "entry_hash": str}


def entry_hash(meta: dict) -> str:
    """A hash of a manifest entry's every field but itself: the task's parameters (its
    threshold among them), the chance level and the length are read by ``score``, so an
    edit to any of them is caught as an edit to the arrays is."""
    fields = {k: v for k, v in meta.items() if k != "entry_hash"}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _check_entry(path: Path, meta: object) -> dict:
    """The manifest entry of ``path`` if whole and unchanged; else one line saying why."""
    if not isinstance(meta, dict):
        raise UserError(f"{path}: its manifest entry is not a table; expected the entry "
                        "`memorybench data` wrote")
    for name, kind in ENTRY_FIELDS.items():
        value = meta.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, kind):
            what = "has no" if value is None else "has a malformed"
            raise UserError(f"{path}: its manifest entry {what} {name!r}; expected the entry "
                            "`memorybench data` wrote (write the data again)")
    try:
        expected = entry_hash(meta)
    except (TypeError, ValueError):
        expected = ""
    if meta["entry_hash"] != expected:
        raise UserError(f"{path}: its manifest entry does not match its own hash (the "
                        "manifest was changed); expected the manifest as `memorybench data` "
                        "wrote it")
    return meta


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} cannot be read ({type(exc).__name__}); expected a manifest "
                        "written by `memorybench data`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise UserError(f"{path} is not a manifest; expected one written by "
                        "`memorybench data`")
    return manifest


def load(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(manifest entry, arrays) of a data file, checked against its manifest: the arrays'
    hash, and the generator's version against this memorybench's."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such data file; expected a .npz file written by "
                        "`memorybench data`")
    meta = read_manifest(path.parent)["files"].get(path.name)
    if meta is None:
        raise UserError(f"{path} is not listed in {path.parent / MANIFEST}; expected a file "
                        "written by `memorybench data`, beside its manifest")
    meta = _check_entry(path, meta)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} cannot be read ({type(exc).__name__}: {exc}); expected a "
                        ".npz file written by `memorybench data`") from None
    if content_hash(arrays) != meta["content_hash"]:
        raise UserError(f"{path}: its arrays do not match the hash in its manifest (the file "
                        "was changed); expected the file as `memorybench data` wrote it")
    missing = [f"{split}_{part}" for split in SPLITS for part in "xy"
               if f"{split}_{part}" not in arrays]
    if missing:
        raise UserError(f"{path} has no array {missing[0]}; expected a file written by "
                        "`memorybench data`")
    task_class = catalog.task_class(meta["task"])
    version = catalog.fingerprint(task_class)  # type: ignore[arg-type]  # python/mypy#11470
    if version != meta["task_version"]:
        raise UserError(f"{path} was generated by version {meta['task_version']} of task "
                        f"{meta['task']}, this memorybench has version {version}; expected "
                        "data written again with `memorybench data`")
    return meta, arrays


def score(data: str | Path, predictions, split: str = "test") -> dict:
    """The task's metrics of ``predictions`` (an array, or a .npy/.npz file: key
    ``predictions`` or the split's name) on the ``split`` set of the data file ``data``,
    with the metric's name and value, its chance level and whether it counts as solved."""
    if split not in SPLITS:
        raise UserError(f"split {split!r} is invalid; expected one of: {', '.join(SPLITS)}")
    meta, arrays = load(data)
    out = _predictions(predictions, split)
    y = arrays[f"{split}_y"]
    io = meta["io"]
    want = y.shape if io["targets"] == "real" else (*y.shape, io["out_size"])
    if out.shape != want:
        raise UserError(f"predictions of shape {out.shape} do not fit the {split} set of "
                        f"{Path(data).name}; expected {want} ("
                        + ("values of the targets' shape)" if io["targets"] == "real" else
                           "logits over the classes)"))
    if not np.issubdtype(out.dtype, np.number) or np.issubdtype(out.dtype, np.complexfloating):
        raise UserError(f"predictions of dtype {out.dtype}; expected real numbers")
    bad = int(out.size - np.count_nonzero(np.isfinite(out)))
    if bad:
        raise UserError(f"predictions hold {bad} NaN or infinite values; expected finite "
                        "numbers (a model that diverged has no score)")
    try:
        task = catalog.task_class(meta["task"])(**meta["task_params"])
    except TypeError as exc:
        raise UserError(f"{Path(data).name}: its manifest's task parameters do not fit task "
                        f"{meta['task']} ({exc}); expected the data written again") from None
    batch = Batch(torch.from_numpy(arrays[f"{split}_x"]), torch.from_numpy(y),
                  {k.removeprefix(f"{split}_meta_"): v for k, v in arrays.items()
                   if k.startswith(f"{split}_meta_")})
    metrics = task.score(torch.from_numpy(np.asarray(out, dtype=np.float32)), batch)
    value = metrics[task.metric]
    return {"task": meta["task"], "length": meta["length"], "seed": meta["seed"],
            "split": split, "examples": len(y), "metric": task.metric, "value": value,
            "chance": meta["chance"], "solved": bool(value >= task.solved),
            "threshold": task.solved, "metrics": metrics}


def _predictions(predictions, split: str) -> np.ndarray:
    if isinstance(predictions, torch.Tensor):
        return predictions.detach().cpu().numpy()
    if not isinstance(predictions, str | Path):
        try:
            return np.asarray(predictions)
        except ValueError as exc:  # ragged nested lists
            raise UserError(f"predictions cannot be read as one array ({exc}); expected an "
                            "array of the set's shape") from None
    path = Path(predictions)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} cannot be read ({type(exc).__name__}); expected a .npy "
                        "file, or a .npz file with an array named predictions or "
                        f"{split}") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        for key in ("predictions", split):
            if key in loaded.files:
                return loaded[key]
    raise UserError(f"{path} has no array named predictions or {split}; it holds: "
                    f"{', '.join(loaded.files) or 'nothing'}")
