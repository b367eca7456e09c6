"""No task can be solved without the memory it claims to measure: the shortcuts an audit
found (a smooth series, a give-away "not", uncontrolled attractors, batch-relative tolerance)
stay closed."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression, Ridge

from memorybench.baselines import BASELINES
from memorybench.tasks.agreement import Agreement
from memorybench.tasks.forecasting import Forecasting
from memorybench.tasks.recall import Recall
from memorybench.tasks.sentiment import FIRST_NEGATIVE, FIRST_POSITIVE, NOT, Sentiment


def fit(name: str, task, length: int, **params) -> dict:
    held_out = task.sample(1000, length, np.random.default_rng(1))
    return BASELINES.get(name)(**params).fit_score(task, length, np.random.default_rng(0),
                                                   held_out)


# --- forecasting ----------------------------------------------------------------------------
@pytest.mark.parametrize("length", [20, 50])
def test_mackey_glass_needs_the_delayed_value_a_short_window_does_not_forecast_it(length):
    task = Forecasting(series="mackey-glass")
    short = fit("ridge-window", task, length, window=10)
    assert short["accuracy_oracle"] > 0.95  # the noiseless map, which reads x[t+1-length]
    assert short["accuracy"] < task.chance(length) + 0.05
    assert short["r2"] < 0.1  # the last 10 values explain nearly nothing


def test_mackey_glass_is_forecast_from_a_window_that_holds_the_delayed_value():
    """The delayed value, not smoothness, is what forecasts it: a nonlinear reader of the
    last value and the one `length` steps back (the oracle's two inputs) solves it."""
    task, length = Forecasting(series="mackey-glass"), 20
    train = task.sample(3000, length, np.random.default_rng(0))
    test = task.sample(1000, length, np.random.default_rng(1))

    def features(x):  # the two inputs the map reads, expanded in a polynomial basis
        last, back = x[:, -1, 0].numpy(), x[:, -length, 0].numpy()
        return np.stack([last, *(back ** k for k in range(1, 12))], axis=1)

    fit_ = Ridge(alpha=1e-6).fit(features(train.x), train.y[:, 0].numpy())
    pred = torch.from_numpy(fit_.predict(features(test.x)).astype(np.float32))[:, None]
    assert task.score(pred, test)["r2"] > 0.9


@pytest.mark.parametrize("series", ["seasonal", "narma", "mackey-glass"])
def test_forecasting_scores_do_not_depend_on_the_batch_they_are_scored_in(series):
    task = Forecasting(series=series)
    batch = task.sample(64, 20, np.random.default_rng(2))
    noisy = batch.y + 0.05 * torch.randn(batch.y.shape, generator=torch.Generator().manual_seed(0))
    whole = task.score(noisy, batch)
    rows = [task.score(noisy[i:i + 1], type(batch)(batch.x[i:i + 1], batch.y[i:i + 1]))
            for i in range(len(batch))]
    assert np.mean([r["accuracy"] for r in rows]) == pytest.approx(whole["accuracy"])
    assert np.mean([r["accuracy_mean"] for r in rows]) == pytest.approx(whole["accuracy_mean"])
    one = type(batch)(batch.x[:1], batch.y[:1])
    assert task.score(one.y.clone(), one)["accuracy"] == 1.0  # one example, forecast exactly


def test_narma_is_deterministic_given_its_inputs_and_stays_bounded_at_long_orders():
    for order in (5, 20, 100):
        task = Forecasting(series="narma")
        b = task.sample(500, order, np.random.default_rng(3))
        assert torch.isfinite(b.x).all() and b.x[..., 1].abs().max() < 2.0
        assert task.score(b.y * 0, b)["accuracy_oracle"] == 1.0


# --- agreement ------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [5, 20, 80])
def test_every_attractor_count_is_represented_and_the_last_noun_gives_nothing_away(length):
    b = Agreement().sample(4000, length, np.random.default_rng(0))
    attractors, nouns = b.meta["attractors"], b.meta["nouns"]
    assert (nouns >= 1).all() and (attractors <= nouns).all()
    # Uniform on 0..nouns: each count as frequent as the others among the same noun count.
    common = np.bincount(nouns).argmax()
    counts = np.bincount(attractors[nouns == common], minlength=common + 1)
    assert counts.min() > 0.6 * counts.mean()
    assert abs(b.meta["last_noun_attractor"].mean() - 0.5) < 0.03
    assert abs(b.y.float().mean().item() - 0.5) < 0.01


def test_agreement_bag_of_words_falls_as_attractors_grow_and_recent_noun_is_chance():
    bow = fit("bow-logreg", Agreement(), 20)["by_attractors"]
    assert bow["0"] > 0.95 and bow["4"] < 0.2
    assert all(bow[str(a)] >= bow[str(a + 1)] - 0.05 for a in range(5))
    recent = fit("recent-noun", Agreement(), 20)
    assert abs(recent["accuracy"] - 0.5) < 0.05
    assert recent["by_attractors_n"]["0"] > 100  # examples behind each bucket are stored


# --- sentiment ------------------------------------------------------------------------------
def counts_and_conjunction(x: torch.Tensor, vocabulary: int) -> np.ndarray:
    """Word counts plus "not present and a positive (negative) word present"."""
    x = x.numpy()
    counts = np.stack([np.bincount(row, minlength=vocabulary) for row in x])
    has_not = (x == NOT).any(1)
    positive = ((x >= FIRST_POSITIVE) & (x < FIRST_NEGATIVE)).any(1)
    negative = (x >= FIRST_NEGATIVE).any(1)
    return np.column_stack([counts, has_not & positive, has_not & negative])


@pytest.mark.parametrize("length", [5, 50])
def test_a_not_detector_on_word_counts_does_not_solve_negation(length):
    task = Sentiment()
    train = task.sample(2000, length, np.random.default_rng(0))
    test = task.sample(1000, length, np.random.default_rng(1))
    v = task.io.in_size
    clf = LogisticRegression(max_iter=3000).fit(counts_and_conjunction(train.x, v),
                                                train.y.numpy())
    right = clf.predict(counts_and_conjunction(test.x, v)) == test.y.numpy()
    negated = test.meta["negated"]
    assert right[negated].mean() < 0.1  # it learns the adjectives and misses the "not"
    assert right.mean() < 0.8


def test_not_occurs_in_filler_as_often_whether_or_not_the_phrase_is_negated():
    b = Sentiment(negation=0.5).sample(4000, 30, np.random.default_rng(0))
    nots = (b.x == NOT).sum(1).numpy()
    negated = b.meta["negated"]
    assert (nots >= 1).all()
    assert abs(nots[negated].mean() - nots[~negated].mean()) < 0.5
    opinion = (b.x >= FIRST_POSITIVE).float().argmax(1)
    assert (opinion == b.x.shape[1] - 1 - 30).all()  # still exactly `length` from the end
    first_word = (b.x != 0).float().argmax(1)
    assert len(set(first_word.tolist())) == 7  # 0..6 pads: 3..9 filler tokens before it


def test_sentiment_bag_of_words_still_fails_every_negation():
    scores = fit("bow-logreg", Sentiment(), 20)
    assert scores["accuracy_plain"] > 0.95 and scores["accuracy_negated"] < 0.1


# --- recall ---------------------------------------------------------------------------------
def test_recall_stores_the_level_of_a_model_that_knows_the_values_but_not_their_keys():
    task = Recall(pairs=4, keys=16)
    b = task.sample(2000, 32, np.random.default_rng(0))
    logits = torch.zeros(2000, 32, task.io.out_size)
    scores = task.score(logits, b)
    assert scores["accuracy_value_set"] == pytest.approx(1 / 4, abs=0.05)  # about 1 / pairs
    assert task.chance(32) == 1 / 16 < scores["accuracy_value_set"]
