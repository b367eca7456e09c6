"""The definitions of adding and copy, as REFERENCES.md states them."""

import math

import numpy as np
import pytest
import torch

from memorybench.tasks.adding import Adding
from memorybench.tasks.copy import BLANK, DELIMITER, Copy


def test_adding_target_is_the_sum_of_the_two_marked_values_one_per_half():
    T = 11
    b = Adding().sample(500, T, np.random.default_rng(1))
    values, markers = b.x[..., 0], b.x[..., 1]
    assert b.x.shape == (500, T, 2) and b.y.shape == (500, 1)
    assert torch.all(markers[:, : T // 2].sum(1) == 1)
    assert torch.all(markers[:, T // 2:].sum(1) == 1)
    assert torch.all((values >= 0) & (values < 1))
    torch.testing.assert_close(b.y[:, 0], (values * markers).sum(1))


def test_adding_memoryless_scores_match_the_literature():
    task = Adding()
    assert task.chance(100) == pytest.approx(1 - 0.96**2)  # 0.078 (Hochreiter 1997)
    y = task.sample(20000, 50, np.random.default_rng(0)).y
    predict_mean = torch.ones_like(y)
    scores = task.score(predict_mean, task.sample(20000, 50, np.random.default_rng(0)))
    assert scores["mse"] == pytest.approx(1 / 6, abs=0.01)
    assert scores["accuracy"] == pytest.approx(task.chance(50), abs=0.01)


def test_copy_layout_and_targets():
    T, k = 7, 10
    b = Copy().sample(64, T, np.random.default_rng(2))
    assert b.x.shape == b.y.shape == (64, T + 2 * k) and b.x.dtype == torch.int64
    data = b.x[:, :k]
    assert torch.all(data < 8)
    assert torch.all(b.x[:, k:k + T - 1] == BLANK)
    assert torch.all(b.x[:, k + T - 1] == DELIMITER)
    assert torch.all(b.x[:, k + T:] == BLANK)
    assert torch.all(b.y[:, :T + k] == BLANK)
    assert torch.equal(b.y[:, T + k:], data)


def test_copy_scores_recall_only_and_reports_the_memoryless_baseline():
    task = Copy()
    b = task.sample(200, 100, np.random.default_rng(3))
    # The memoryless strategy: blanks everywhere, uniform over a0..a7 where symbols are due.
    logits = torch.full((200, 120, 10), -30.0)
    logits[:, :110, BLANK] = 0.0
    logits[:, 110:, :8] = 0.0
    scores = task.score(logits, b)
    assert scores["cross_entropy"] == pytest.approx(10 * math.log(8) / 120, rel=1e-4)
    assert scores["cross_entropy_baseline"] == pytest.approx(0.173, abs=5e-4)
    perfect = torch.nn.functional.one_hot(b.y, 10).float() * 50
    assert task.score(perfect, b)["accuracy"] == 1.0
    assert task.chance(100) == 1 / 8


@pytest.mark.parametrize("task", [Adding(), Copy()])
def test_same_seed_same_data_other_seed_other_data(task):
    a = task.sample(16, 12, np.random.default_rng(5))
    b = task.sample(16, 12, np.random.default_rng(5))
    c = task.sample(16, 12, np.random.default_rng(6))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


def test_parameters_take_the_type_of_their_default():
    from memorybench.errors import UserError

    assert type(Copy(symbols=np.int64(3)).symbols) is int  # numpy integers are integers
    assert type(Adding(tolerance=np.float32(0.5)).tolerance) is float
    for bad in ({"symbols": True}, {"symbols": 2.0}, {"symbols": "3"}, {"solved": None}):
        with pytest.raises(UserError, match="has the wrong type; expected"):
            Copy(**bad)
