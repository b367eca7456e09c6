"""One battery of checks over every registered task (the scikit-learn way): a new task is
tested by registering it, without new test code. Each task runs with its spec's parameters,
and with the variants below, at the shortest and the longest length its spec sweeps."""

import numpy as np
import pytest
import torch

from memorybench.catalog import build_task, task_spec
from memorybench.specs import load_spec
from memorybench.tasks import TASKS
from memorybench.tasks.base import IGNORE, Batch, Task
from memorybench.training import EVAL_STREAM, TRAIN_STREAM

NAMES = TASKS.names()
# Parameter sets whose generators take other paths than the spec's: (task, overrides).
VARIANTS = [(name, {}) for name in NAMES] + [
    ("forecasting", {"series": "narma"}),
    ("forecasting", {"series": "mackey-glass"}),
    ("forecasting", {"phi": -0.5, "noise": 0.0}),
    ("recall", {"pairs": 2, "keys": 8}),
    ("agreement", {"fronted": 0.0}),
    ("agreement", {"fronted": 1.0}),
    ("sentiment", {"negation": 1.0, "intensity": 1.0}),
    ("sentiment", {"negation": 0.0, "intensity": 0.0}),
    ("flipflop", {"ignore": 0.98}),
    ("flipflop", {"ignore": 0.1}),
    ("selective-copy", {"vocab": 4, "tokens": 3}),
    ("permutation", {"group": "S5"}),
]


def variant_id(name: str, overrides: dict) -> str:
    return "-".join([name, *(f"{k}={v}" for k, v in overrides.items())])


def spec_task(name: str, overrides: dict | None = None) -> tuple[Task, list[int]]:
    spec = task_spec(name)
    return build_task(name, {**spec.get("params", {}), **(overrides or {})}), spec["lengths"]


@pytest.fixture(params=VARIANTS, ids=[variant_id(*v) for v in VARIANTS])
def task(request) -> Task:
    return spec_task(*request.param)[0]


def both_lengths(name: str) -> list[int]:
    lengths = spec_task(name)[1]
    return sorted({min(lengths), max(lengths)})


CASES = [(name, overrides, length) for name, overrides in VARIANTS
         for length in both_lengths(name)]
IDS = [f"{variant_id(name, overrides)}-{length}" for name, overrides, length in CASES]


def perfect(task: Task, batch: Batch) -> torch.Tensor:
    """The outputs of a model that is always right."""
    if task.io.targets == "real":
        return batch.y.clone()
    y = batch.y.clamp(min=0)
    return torch.nn.functional.one_hot(y, task.io.out_size).float() * 20


def test_every_task_has_a_spec_with_lengths_a_docstring_example_and_a_meaning():
    for name in NAMES:
        task, lengths = spec_task(name)
        assert load_spec("tasks", name) is not None, f"tasks/{name}.toml is missing"
        assert lengths and all(isinstance(n, int) for n in lengths), name
        for length in lengths:
            task.check_length(length)
        cls = type(task)
        assert ">>>" in (cls.__doc__ or ""), f"{name}: no doctest example in the docstring"
        assert cls.length_meaning and cls.description, name
        assert 0 < task.solved <= 1


@pytest.mark.parametrize("name,overrides,length", CASES, ids=IDS)
def test_shapes_dtypes_and_ranges(name, overrides, length):
    task = spec_task(name, overrides)[0]
    io = task.io
    b = task.sample(16, length, np.random.default_rng(0))
    assert len(b) == 16
    if io.inputs == "tokens":
        assert b.x.dtype == torch.int64 and b.x.dim() == 2
        assert 0 <= b.x.min() and b.x.max() < io.in_size
    else:
        assert b.x.dtype == torch.float32 and b.x.dim() == 3 and b.x.shape[2] == io.in_size
        assert torch.isfinite(b.x).all()
    steps = b.x.shape[1]
    assert steps >= length
    if io.targets == "real":
        assert b.y.dtype == torch.float32 and b.y.shape == (16, io.out_size)
        assert torch.isfinite(b.y).all()
    else:
        assert b.y.dtype == torch.int64
        assert b.y.shape == ((16,) if io.positions == "last" else (16, steps))
        labelled = b.y[b.y != IGNORE]
        assert labelled.numel() > 0 and 0 <= labelled.min() and labelled.max() < io.out_size
    for key, values in b.meta.items():
        assert len(values) == 16, key


@pytest.mark.parametrize("name,overrides,length", CASES, ids=IDS)
def test_scores_a_perfect_model_as_solved_and_chance_below_solved(name, overrides, length):
    task = spec_task(name, overrides)[0]
    b = task.sample(200, length, np.random.default_rng(1))
    scores = task.score(perfect(task, b), b)
    assert scores[task.metric] == pytest.approx(1.0)
    assert 0.0 <= task.chance(length) < task.solved
    assert torch.isfinite(task.loss(perfect(task, b), b))


def test_same_seed_same_data_other_seed_other_data(task):
    length = spec_task(task.name)[1][0]
    a, b, c = (task.sample(32, length, np.random.default_rng(s)) for s in (7, 7, 8))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    for key in a.meta:
        np.testing.assert_array_equal(a.meta[key], b.meta[key])
    assert not torch.equal(a.x, c.x)


def test_training_and_held_out_streams_differ(task):
    length = spec_task(task.name)[1][0]
    train = task.sample(500, length, np.random.default_rng([0, TRAIN_STREAM]))
    held_out = task.sample(500, length, np.random.default_rng([0, EVAL_STREAM]))
    assert not torch.equal(train.x, held_out.x)
    rows = {tuple(r) for r in train.x.reshape(500, -1).tolist()}
    shared = sum(tuple(r) in rows for r in held_out.x.reshape(500, -1).tolist())
    assert shared / 500 < 0.05


def test_labels_are_balanced_where_claimed(task):
    if not task.balanced:
        pytest.skip(f"{task.name} does not claim balanced classes")
    length = spec_task(task.name)[1][0]
    y = task.sample(1001, length, np.random.default_rng(3)).y
    y = y[y != IGNORE]
    counts = torch.bincount(y, minlength=task.io.out_size)
    assert counts.max() - counts.min() <= 1


def changed_steps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, T) mask of the steps where two input batches differ."""
    diff = a != b
    return diff.any(-1) if diff.dim() == 3 else diff


def deciding_step(base: Batch, deciding: Batch) -> torch.Tensor:
    """(B,) the one step whose input the deciding probe changed."""
    return changed_steps(base.x, deciding.x).float().argmax(1)


@pytest.mark.parametrize("name,overrides,length", CASES, ids=IDS)
def test_target_depends_on_the_input_length_steps_back_and_not_on_filler(name, overrides,
                                                                         length):
    task = spec_task(name, overrides)[0]
    base, deciding, filler = task.probe(64, length, np.random.default_rng(4))
    assert deciding.x.shape == filler.x.shape == base.x.shape
    assert base.y.shape == deciding.y.shape == filler.y.shape

    # Changing the deciding input changes every example's target...
    steps = changed_steps(base.x, deciding.x)
    assert steps.any(1).all(), "the deciding change must touch every example"
    if task.io.positions == "last":
        differs = (base.y != deciding.y).reshape(64, -1).any(1)
        read = torch.full((64,), base.x.shape[1] - 1)
    else:
        target_diff = base.y != deciding.y
        differs = target_diff.any(1)
        read = target_diff.float().argmax(1)  # first step whose target changed
    assert differs.all(), "changing the deciding input must change every target"
    # ... and that input, the only one changed, lies about `length` steps before the step
    # that reads it (length - 1 for adding, whose first marker is at step 0 of T; length - 2
    # for recall, whose first value follows its key at the start of the T steps).
    assert (steps.sum(1) == 1).all()
    assert ((read - deciding_step(base, deciding)) >= length - 2).all()

    # Changing filler changes inputs but no target.
    assert changed_steps(base.x, filler.x).any(1).all(), "filler must change in every example"
    torch.testing.assert_close(filler.y, base.y)


@pytest.mark.parametrize("name,overrides,length", CASES, ids=IDS)
def test_inputs_further_back_than_the_deciding_one_do_not_matter(name, overrides, length):
    """The upper bound: the target needs memory of `length` steps, not more. Where inputs
    precede the deciding one (other than recall's key, paired with it), the filler probe
    changes some of them in every example, and (checked above) no target changes."""
    task = spec_task(name, overrides)[0]
    base, deciding, filler = task.probe(64, length, np.random.default_rng(5))
    first = deciding_step(base, deciding)
    if not (first > 1).all():
        pytest.skip(f"{name}: nothing but the deciding input's own pair lies before it")
    before = changed_steps(base.x, filler.x) & (torch.arange(base.x.shape[1]) < first[:, None])
    assert before.any(1).all(), "the filler probe must change inputs before the deciding one"
    torch.testing.assert_close(filler.y, base.y)


def test_the_upper_bound_check_covers_the_tasks_with_inputs_before_the_deciding_one():
    covered = set()
    for name, overrides in VARIANTS:
        task = spec_task(name, overrides)[0]
        base, deciding, _ = task.probe(8, min(spec_task(name)[1]), np.random.default_rng(6))
        if (deciding_step(base, deciding) > 1).all():
            covered.add(name)
    assert {"agreement", "sentiment", "forecasting"} <= covered
