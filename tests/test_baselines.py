"""Classical baselines: they fail exactly where the literature says they fail, and they run
as cells of a sweep, stored like models."""

import json

import numpy as np
import pytest

from memorybench.baselines import BASELINES
from memorybench.errors import UserError
from memorybench.store import Store
from memorybench.sweep import Sweep
from memorybench.tasks.agreement import Agreement
from memorybench.tasks.forecasting import Forecasting
from memorybench.tasks.sentiment import Sentiment

from conftest import TINY


def fit(name: str, task, length: int, **params) -> dict:
    held_out = task.sample(1000, length, np.random.default_rng(1))
    return BASELINES.get(name)(**params).fit_score(task, length, np.random.default_rng(0),
                                                   held_out)


def test_bag_of_words_learns_the_adjectives_and_fails_every_negation():
    scores = fit("bow-logreg", Sentiment(), 10)
    assert scores["accuracy_plain"] > 0.95
    assert scores["accuracy_negated"] < 0.1  # Socher et al. 2013: word counts miss "not"
    assert scores["coefficients"] > 0 and scores["train_examples"] == 2000


def test_bag_of_words_counts_nouns_and_fails_on_attractors():
    scores = fit("bow-logreg", Agreement(), 10)
    by = scores["by_attractors"]
    assert by["0"] > 0.95  # every noun agrees with the subject
    assert by["3"] < 0.2  # most nouns are attractors: the count points the wrong way


def test_recent_noun_is_right_without_attractors_and_wrong_when_the_last_noun_is_one():
    scores = fit("recent-noun", Agreement(), 10)
    assert scores["by_attractors"]["0"] == 1.0
    assert scores["accuracy_last_noun_attractor"] == 0.0
    assert abs(scores["accuracy"] - 0.5) < 0.06  # the last noun gives nothing away
    assert scores["coefficients"] == 0 and scores["train_examples"] == 0


def test_ridge_window_forecasts_lags_inside_its_window_only():
    task = Forecasting()
    assert fit("ridge-window", task, 8, window=10)["accuracy"] == 1.0
    beyond = fit("ridge-window", task, 20, window=10)
    assert beyond["accuracy"] < task.chance(20) + 0.05
    assert beyond["mse"] == pytest.approx(beyond["mse_mean"], rel=0.1)


def test_majority_scores_chance_on_balanced_tasks():
    assert fit("majority", Sentiment(), 5)["accuracy"] == pytest.approx(0.5, abs=0.001)


@pytest.mark.parametrize("baseline,applies,not_applies", [
    ("bow-logreg", ["agreement", "sentiment"], ["adding", "copy", "forecasting", "recall"]),
    ("recent-noun", ["agreement"], ["sentiment", "copy", "adding"]),
    ("ridge-window", ["adding", "forecasting"], ["agreement", "copy", "recall"]),
    ("majority", ["agreement", "sentiment"], ["copy", "recall", "adding"]),
])
def test_a_sweep_keeps_only_the_pairs_a_baseline_applies_to(baseline, applies, not_applies):
    sweep = Sweep(tasks=applies + not_applies, models=[baseline, "lstm"], lengths=[40])
    cells = sweep.cells()
    assert {c.task for c in cells if c.model == baseline} == set(applies)
    assert {c.task for c in cells if c.model == "lstm"} == set(applies + not_applies)
    with pytest.raises(UserError, match="empty sweep: none of the baselines"):
        Sweep(tasks=not_applies, models=[baseline], lengths=[40]).cells()


def test_baselines_run_through_the_cli_and_are_stored_like_models(invoke):
    # no network selected: a model.hidden would fit no model, and is refused
    assert TINY[:2] == ["--set", "model.hidden=8"]
    tiny = TINY[2:]
    result = invoke("run", "--task", "sentiment", "--task", "agreement", "--model", "bow-logreg",
                    "--model", "recent-noun", "--lengths", "5", *tiny)
    assert result.exit_code == 0, result.output
    with Store("results/memorybench.db", readonly=True) as store:
        frame = store.frame().set_index(["task", "model"])
    assert len(frame) == 3  # recent-noun does not apply to sentiment
    row = frame.loc[("sentiment", "bow-logreg")]
    assert row["status"] == "ok" and row["metric_name"] == "accuracy" and row["chance"] == 0.5
    assert row["params"] == Sentiment().io.in_size + 1 and row["steps"] == 2000
    assert json.loads(row["metrics"])["accuracy_negated"] < 0.2
    noun = frame.loc[("agreement", "recent-noun")]
    assert noun["params"] == 0 and noun["steps"] == 0
    assert json.loads(noun["metrics"])["by_attractors"]["0"] == 1.0
    listing = invoke("list").stdout
    assert "baselines:" in listing and "  bow-logreg" in listing
