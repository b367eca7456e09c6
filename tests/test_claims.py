"""The classic-results check: each kind of claim holds on numbers that show it and fails on
numbers that do not, and a report shows the verdicts."""

import json

import pandas as pd
import pytest

from memorybench.report import claims, render_report, summary
from memorybench.store import Store
from tests.test_report import cell

ADDING = {"task": "adding", "kind": "outlasts", "strong": ["lstm", "gru"], "weak": ["elman"],
          "weak_near_chance": 0.1, "text": "t", "citation": "c", "id": "x"}


def frame_of(rows):
    """Rows as the store hands them over: JSON columns as text."""
    text = [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()}
            for r in rows]
    return summary.normalise(pd.DataFrame(text))


def adding_rows(elman_at_50):
    rows = []
    for model, scores in {"lstm": [0.95, 0.9], "gru": [0.97, 0.92],
                          "elman": [0.9, elman_at_50]}.items():
        for length, score in zip([10, 50], scores, strict=True):
            for seed in range(3):
                rows.append(cell("adding", model, length, seed, score, chance=0.08,
                                 threshold=0.8))
    return rows


def test_outlasts_holds_where_the_weak_model_sits_at_chance():
    frame = frame_of(adding_rows(0.1))
    ok, evidence = claims.outlasts(ADDING, summary.by_length(frame))
    assert ok
    assert evidence.startswith("at T=50 (chance 0.080)")
    assert "elman 0.100" in evidence


@pytest.mark.parametrize("elman", [0.85, 0.4])  # still solves; fails but far above chance
def test_outlasts_fails_when_no_length_separates_the_models(elman):
    frame = frame_of(adding_rows(elman))
    ok, evidence = claims.outlasts(ADDING, summary.by_length(frame))
    assert not ok
    assert evidence.startswith("no length separates them")


def window_rows(score_beyond):
    return [cell("copy", "ffwindow", length, 0, score, chance=0.1, threshold=0.9)
            for length, score in ((5, 1.0), (20, score_beyond))]


@pytest.mark.parametrize("beyond,holds", [(0.2, True), (0.95, False)])
def test_window_claim(beyond, holds):
    claim = {"model": "ffwindow", "window": 10}
    ok, evidence = claims.window(claim, summary.by_length(frame_of(window_rows(beyond))))
    assert ok is holds
    assert ("copy T=20" in evidence) if not holds else ("0.200" in evidence)


def attractor_rows(elman_drop, lstm_drop):
    rows = []
    for model, drop in (("elman", elman_drop), ("lstm", lstm_drop)):
        by = {str(k): 1.0 - drop * k for k in range(4)}
        rows.append(cell("agreement", model, 10, 0, 0.9, chance=0.5,
                         extra={"by_attractors": by}))
    return rows


def test_attractor_slopes_are_taken_within_lengths_where_the_model_learned():
    # Perfect at a short length, at chance at a long one where the many-attractor sentences
    # live: pooled over lengths that would look like a steep fall; within lengths it is none.
    rows = [cell("agreement", "gru", 5, 0, 0.95, chance=0.5,
                 extra={"by_attractors": {"0": 0.95, "1": 0.95}}),
            cell("agreement", "gru", 20, 0, 0.5, chance=0.5,
                 extra={"by_attractors": {str(k): 0.5 for k in range(2, 7)}})]
    rows += [cell("agreement", "elman", 20, 0, 0.8, chance=0.5,
                  extra={"by_attractors": {str(k): 1.0 - 0.05 * k for k in range(7)}})]
    frame = frame_of(rows)
    claim = {"task": "agreement", "models": ["elman", "gru"]}
    ok, evidence = claims.attractors(claim, frame, summary.by_length(frame))
    assert ok
    assert "elman -0.050" in evidence and "gru +0.000" in evidence


def test_a_model_at_chance_everywhere_has_no_attractor_slope():
    rows = [cell("agreement", "elman", 20, 0, 0.5, chance=0.5,
                 extra={"by_attractors": {str(k): 0.5 for k in range(4)}}),
            cell("agreement", "lstm", 20, 0, 0.9, chance=0.5,
                 extra={"by_attractors": {str(k): 1.0 - 0.02 * k for k in range(4)}})]
    frame = frame_of(rows)
    ok, evidence = claims.attractors({"task": "agreement", "models": ["elman", "lstm"]},
                                     frame, summary.by_length(frame))
    assert ok is None  # no effect to measure: not measured, and not "does not hold"
    assert "elman not measured: at chance (T=20)" in evidence


def test_models_right_on_every_example_show_no_attractor_effect_and_are_not_measured():
    """Every model right on every example at every length (a run whose lengths are all
    easy for it): no slope is a measured +0.000; the claim is not measured."""
    rows = [cell("agreement", model, n, 0, 1.0, chance=0.5,
                 extra={"by_attractors": {str(k): 1.0 for k in range(3)}})
            for model in ("elman", "lstm", "gru") for n in (8, 16)]
    frame = frame_of(rows)
    claim = {"task": "agreement", "models": ["elman", "lstm", "gru"], "kind": "attractors",
             "text": "t", "citation": "c", "id": "x"}
    ok, evidence = claims.attractors(claim, frame, summary.by_length(frame))
    assert ok is None and "+0.000" not in evidence
    assert "elman not measured: right on every example (T=8, T=16)" in evidence


@pytest.mark.parametrize("elman,lstm,holds", [(0.1, 0.02, True), (0.02, 0.1, False),
                                              (0.005, -0.05, False), (0.0, 0.05, None)])
def test_attractor_claim(elman, lstm, holds):
    claim = {"task": "agreement", "models": ["elman", "lstm"]}
    frame = frame_of(attractor_rows(elman, lstm))
    ok, evidence = claims.attractors(claim, frame, summary.by_length(frame))
    assert ok is holds
    assert f"elman {-elman:+.3f}" in evidence or elman == 0


def test_a_report_shows_the_claims_it_can_check_and_only_those(tmp_path):
    db = tmp_path / "claims.db"
    with Store(db) as store:
        for row in adding_rows(0.1) + window_rows(0.95):
            store.put(row)
    render_report(db, tmp_path / "out")
    text = (tmp_path / "out" / "README.md").read_text()
    assert "## Classic results" in text
    adding = next(line for line in text.splitlines() if line.startswith("| adding: the Elman"))
    assert "| holds " in adding
    window = next(line for line in text.splitlines() if line.startswith("| ffwindow fails"))
    assert "| does not hold " in window
    assert "recall:" not in text  # no recall results: that claim is left out
    html = (tmp_path / "out" / "index.html").read_text()
    assert 'id="claims-table"' in html


def test_every_shipped_claim_is_well_formed():
    kinds = {"outlasts": {"task", "strong", "weak"}, "window": {"model", "window"},
             "attractors": {"task", "models"}, "loss_below": {"task", "models", "loss"},
             "horizon": {"task", "checks"}}
    shipped = claims.load()
    assert len({c["id"] for c in shipped}) == len(shipped)
    for claim in shipped:
        assert {"id", "text", "citation", "kind"} <= set(claim)
        assert kinds[claim["kind"]] <= set(claim), claim["id"]


@pytest.mark.parametrize("loss_at_50,holds", [(0.12, True), (0.17, False)])
def test_loss_below_holds_only_where_every_length_beats_the_memoryless_loss(loss_at_50, holds):
    claim = {"task": "adding", "models": ["orthogonal"], "loss": 0.1667}
    rows = [cell("adding", "orthogonal", length, seed, 0.1, chance=0.08, threshold=0.8,
                 loss=loss)
            for length, loss in ((10, 0.03), (50, loss_at_50)) for seed in range(3)]
    frame = frame_of(rows)
    ok, evidence = claims.loss_below(claim, frame, summary.by_length(frame))
    assert ok is holds
    assert "orthogonal T=10: loss 0.030, metric 0.100" in evidence


def test_a_claim_is_checked_only_where_its_models_ran_on_its_task():
    """Orthogonal results on copy alone say nothing about its adding loss: the adding
    claim about it is left out, not passed on no evidence (also shown with its note)."""
    rows = adding_rows(0.1) + [cell("copy", "orthogonal", 10, seed, 0.9, chance=0.125,
                                    threshold=0.9) for seed in range(3)]
    frame = frame_of(rows)
    table = claims.evaluate(frame, summary.by_length(frame))
    texts = [row[0] for row in table.rows]
    assert any(t.startswith("adding: the Elman") for t in texts)
    assert not any("orthogonal RNN beats the memoryless MSE" in t for t in texts)
    rows += [cell("adding", "orthogonal", 10, seed, 0.1, chance=0.08, threshold=0.8,
                  loss=0.03) for seed in range(3)]
    frame = frame_of(rows)
    table = claims.evaluate(frame, summary.by_length(frame))
    mse = next(r for r in table.rows if "orthogonal RNN beats the memoryless MSE" in r[0])
    assert mse[1] == claims.HOLDS
    assert any(n.startswith("On “adding: the orthogonal RNN") for n in table.notes)
