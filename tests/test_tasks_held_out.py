"""No held-out example is ever trained on: not by a network (``training.train_steps``), not
by a classical baseline (``Baseline.fit_score``), even where the task has few distinct inputs
and the training stream would otherwise repeat many held-out examples."""

import numpy as np
import torch

from memorybench.baselines import BagOfWords
from memorybench.models.base import SequenceModel
from memorybench.sweep import Sweep
from memorybench.tasks.agreement import Agreement
from memorybench.tasks.base import input_rows, sample_unseen
from memorybench.tasks.forecasting import Forecasting
from memorybench.training import EVAL_STREAM, TRAIN_STREAM, train_cell

TRAIN = {"steps": 12, "eval_every": 6, "batch_size": 32, "eval_size": 64}


def cell(task: str, model: str, length: int, task_params: dict, **train) -> dict:
    sweep = Sweep(tasks=[task], models=[model], lengths=[length], task=task_params,
                  train={**TRAIN, **train}, model={"hidden": 8})
    return sweep.cells()[0]


def held_out_rows(c: dict):
    from memorybench.catalog import build_task

    task = build_task(c.task, c.task_params)
    batch = task.sample(c.train.eval_size, c.length,
                        np.random.default_rng([c.seed, EVAL_STREAM]))
    return task, input_rows(task, batch)


def rows_of(x: torch.Tensor) -> list[bytes]:
    return [row.tobytes() for row in np.ascontiguousarray(x.numpy())]


def test_sample_unseen_replaces_held_out_rows_and_changes_nothing_else():
    task, length = Agreement(), 3  # ~30% of draws repeat one of 1,000 held-out sentences
    excluded = input_rows(task, task.sample(1000, length, np.random.default_rng(1)))
    drawn = task.sample(500, length, np.random.default_rng(0))
    assert sum(r in excluded for r in rows_of(drawn.x)) > 50  # the stream does repeat them
    clean = sample_unseen(task, 500, length, np.random.default_rng(0), excluded)
    assert len(clean) == 500 and not any(r in excluded for r in rows_of(clean.x))
    assert all(len(v) == 500 for v in clean.meta.values())
    plain = sample_unseen(task, 500, length, np.random.default_rng(0), frozenset())
    assert torch.equal(plain.x, drawn.x) and torch.equal(plain.y, drawn.y)
    assert input_rows(Forecasting(), Forecasting().sample(4, 5, np.random.default_rng(0))) \
        == frozenset()  # real-valued rows never repeat: nothing to look up


def test_a_network_never_trains_on_a_held_out_example(monkeypatch):
    c = cell("recall", "lstm", 4, {"pairs": 1, "keys": 8})  # 128 distinct inputs only
    task, held_out = held_out_rows(c)
    stream = task.sample(12 * 32, 4, np.random.default_rng([c.seed, TRAIN_STREAM]))
    assert sum(r in held_out for r in rows_of(stream.x)) > 12  # what would be trained on

    trained = []
    forward = SequenceModel.forward

    def spy(self, x):
        if self.training:
            trained.extend(rows_of(x.cpu()))
        return forward(self, x)

    monkeypatch.setattr(SequenceModel, "forward", spy)
    result = train_cell(c.with_train(early_stop=False))
    assert result["status"] == "ok", result["error"]
    assert len(trained) == 12 * 32
    assert not any(r in held_out for r in trained)


def test_a_baseline_never_fits_a_held_out_example(monkeypatch):
    c = cell("agreement", "bow-logreg", 3, {}, eval_size=1000)
    _, held_out = held_out_rows(c)
    fitted = []
    fit_predict = BagOfWords.fit_predict

    def spy(self, task, train, test):
        fitted.extend(rows_of(train.x))
        return fit_predict(self, task, train, test)

    monkeypatch.setattr(BagOfWords, "fit_predict", spy)
    result = train_cell(c)
    assert result["status"] == "ok", result["error"]
    assert len(fitted) == 2000 and not any(r in held_out for r in fitted)


def test_a_task_whose_held_out_set_holds_every_input_fails_with_a_clear_error():
    c = cell("recall", "lstm", 3, {"pairs": 1, "keys": 2})  # 4 distinct inputs, 64 held out
    result = train_cell(c)
    assert result["status"] == "failed"
    assert "too few distinct inputs for a separate held-out set" in result["error"]


def test_a_search_starts_where_the_held_out_sets_leave_most_inputs_unseen():
    """Parity at length 2 has 4 inputs: its held-out sets (500 validation and 1,000 test
    examples, the standard suite's) would be every one of them, and no training example
    could be drawn. A search's control and first rung are the shortest lengths whose
    held-out sets cover at most half of what the task draws (``HELD_OUT_SHARE``)."""
    from memorybench.catalog import build_task
    from memorybench.config import Request
    from memorybench.horizon.ladders import HELD_OUT_SHARE
    from memorybench.horizon.plan import plan_searches, search_sweep
    from memorybench.tasks.base import held_out_share
    from memorybench.tasks.parity import Parity

    assert held_out_share(Parity(), 2, 1500) == 1.0
    assert held_out_share(Forecasting(), 2, 1500) == 0.0  # real inputs never repeat
    sweep, protocol = search_sweep(Request("standard"))
    searches = [s for s in plan_searches(sweep, protocol) if s.model == "lstm"]
    assert len(searches) == 11
    for s in searches:
        built = build_task(s.task, s.base[0].task_params)
        held = s.base[0].train.eval_size + s.base[0].train.test_size
        assert s.control is not None and s.control <= s.lengths[1]
        assert held_out_share(built, s.control, held) <= HELD_OUT_SHARE, s.task
        if s.control > built.min_length:  # moved up: the length below it has too few
            assert held_out_share(built, s.control - 1, held) > HELD_OUT_SHARE, s.task
    controls = {s.task: s.control for s in searches}
    assert controls["parity"] == 12 and controls["copy"] == 1  # 4,096 inputs; copy's many
