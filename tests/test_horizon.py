"""The horizon search: its pure logic (ladder, majority-fail stop, refinement, learning-rate
choice on validation, brackets), the settings it adds to a cell without changing any old
key, the test set and extrapolation of training, and the `horizon` command."""

import json
import math
import sqlite3
from pathlib import Path

import pytest

from memorybench import catalog
from memorybench.cells import Cell
from memorybench.config import Protocol, TrainConfig
from memorybench.errors import UserError
from memorybench.horizon.rules import (
    Rung,
    Trial,
    advance,
    bracket,
    closed_state,
    ladder,
    refinements,
    rung,
    seed_horizons,
    worst_case,
)
from memorybench.store import results
from memorybench.sweep import Sweep, load_suite
from memorybench.training import no_progress, train_cell

from conftest import one_line_exit_2

ROOT = Path(__file__).resolve().parent.parent


# --- keys ----------------------------------------------------------------------------------
def test_ci_suite_keys_are_the_committed_baselines_keys():
    keys = {c.key for c in load_suite("ci")[0].cells()}
    assert keys == set(results.load(ROOT / "results" / "ci-baseline.jsonl")["key"])


def test_new_train_settings_are_left_out_of_the_key_when_off():
    off = TrainConfig()
    assert set(off.config()) == {"steps", "batch_size", "lr", "optimizer", "clip",
                                 "eval_every", "eval_size", "early_stop"}
    on = TrainConfig(test_size=100, extrapolate=[2, 4], patience=3)
    assert on.config()["test_size"] == 100 and on.config()["extrapolate"] == [2, 4]
    cell = Sweep(tasks=["adding"], models=["elman"], lengths=[5]).cells()[0]
    changed = cell.with_train(test_size=100)
    assert changed.key != cell.key
    assert cell.with_train(test_size=0).key == cell.key  # off again: the old key
    again = Cell.from_config(json.loads(json.dumps(changed.config())))
    assert again.train == changed.train and again.key == changed.key


@pytest.mark.parametrize("values", [{"test_size": -1}, {"extrapolate": [0]},
                                    {"extrapolate": [2, -4]}, {"patience": 1.5},
                                    {"min_delta": 1.0}])
def test_bad_new_train_settings_are_refused(values):
    with pytest.raises(UserError):
        TrainConfig(**values)


# --- the search, without training ----------------------------------------------------------
def test_ladder_is_geometric_and_ends_at_the_cap():
    assert ladder(8, 1024, 2) == [8, 16, 32, 64, 128, 256, 512, 1024]
    assert ladder(5, 100, 2) == [5, 10, 20, 40, 80, 100]
    assert ladder(2, 6, 1.1) == [2, 3, 4, 5, 6]  # rounding never repeats a length
    assert ladder(7, 7, 2) == [7]
    with pytest.raises(UserError, match="above the cap"):
        ladder(9, 8, 2)


def passed(length, ok=True, seeds=3):
    """A rung where all (ok) or none of ``seeds`` seeds solved."""
    return Rung(length, 1e-3, {s: ok for s in range(seeds)}, False, {})


def test_the_search_climbs_until_a_majority_fails_then_refines():
    lengths = ladder(8, 1024, 2)
    rungs = {}
    assert advance(lengths, rungs, 1.4).next == 8
    rungs |= {8: passed(8), 16: passed(16), 32: passed(32)}
    assert advance(lengths, rungs, 1.4).next == 64
    rungs[64] = passed(64, ok=False)
    state = advance(lengths, rungs, 1.4)
    assert (state.next, state.lo, state.hi) == (45, 32, 64)  # round(sqrt(32 * 64))
    rungs[45] = passed(45)
    assert advance(lengths, rungs, 1.5).closed  # 64 / 45 = 1.42: within 1.5
    state = advance(lengths, rungs, 1.4)
    assert (state.next, state.lo, state.hi) == (54, 45, 64)  # but not within 1.4
    rungs[54] = passed(54, ok=False)
    state = advance(lengths, rungs, 1.4)
    assert state.closed and bracket(state, 1024) == "[45, 54)"
    assert 128 not in state.trained  # nothing above the first failure is trained


def test_a_refinement_that_fails_moves_the_upper_end():
    rungs = {8: passed(8), 16: passed(16, ok=False), 11: passed(11, ok=False)}
    state = advance(ladder(8, 64, 2), rungs, 1.3)
    assert state.next == 9  # round(sqrt(8 * 11))
    rungs[9] = passed(9, ok=False)
    state = advance(ladder(8, 64, 2), rungs, 1.3)
    assert state.closed and bracket(state, 64) == "[8, 9)"


def test_a_search_solved_to_the_cap_reads_at_least_the_cap_and_one_failing_at_start_less():
    lengths = ladder(8, 32, 2)
    state = advance(lengths, {n: passed(n) for n in lengths}, 1.4)
    assert state.closed and bracket(state, 32) == "≥ 32 (capped)"
    assert bracket(state, 64) == "≥ 32 (open)"  # short of its cap: not closed
    state = advance(lengths, {8: passed(8, ok=False)}, 1.4)
    assert state.closed and bracket(state, 32) == "< 8"


def test_a_tie_is_not_a_majority():
    assert not Rung(8, 1e-3, {0: True, 1: False}, False, {}).passed
    assert Rung(8, 1e-3, {0: True, 1: True, 2: False}, False, {}).passed


def trials(lr, validation, solved, ok=True):
    return [Trial(lr, seed, ok, s, v, 0.9, {"2": 0.95 if s else 0.1, "4": None})
            for seed, (v, s) in enumerate(zip(validation, solved, strict=True))]


def test_the_learning_rate_is_chosen_on_validation_and_the_seeds_judged_on_test():
    lrs = (1e-3, 3e-3, 1e-2)
    # 3e-3 has the best validation metric but 1e-2's test results are better: the choice
    # must not look at the test set.
    found = rung(8, trials(1e-3, [0.5, 0.5], [False, False])
                 + trials(3e-3, [0.9, 0.8], [True, False])
                 + trials(1e-2, [0.6, 0.6], [True, True]), lrs)
    assert found.lr == 3e-3 and found.seeds == {0: True, 1: False}
    assert not found.lr_at_edge
    assert found.extrapolation == {"2": (1, 2), "4": None}  # 4x: n/a for every seed
    edge = rung(8, trials(1e-3, [0.5], [False]) + trials(1e-2, [0.7], [True]), lrs)
    assert edge.lr == 1e-2 and edge.lr_at_edge


def test_a_diverged_learning_rate_is_never_chosen_and_ties_go_to_the_first():
    lrs = (1e-3, 1e-2)
    found = rung(8, trials(1e-3, [0.2], [False]) + trials(1e-2, [math.nan], [False], ok=False),
                 lrs)
    assert found.lr == 1e-3
    assert rung(8, trials(1e-3, [0.5], [False]) + trials(1e-2, [0.5], [False]), lrs).lr == 1e-3


def test_rates_tied_on_validation_go_to_the_one_that_stopped_soonest():
    """On an easy rung every rate reaches 1.0: the one that learned fastest is kept (the
    one a held rate most needs up the ladder), not the grid's first."""
    lrs = (1e-3, 3e-3, 1e-2)
    def at(lr, steps, value=1.0):
        return [Trial(lr, s, True, True, value, 0.9, steps=n) for s, n in enumerate(steps)]
    tied = at(1e-3, [400, 300, 300]) + at(3e-3, [200, 300, 200]) + at(1e-2, [200, 300, 200])
    assert rung(16, tied, lrs).lr == 3e-3  # 3e-3 and 1e-2 tie on steps too: the grid's order
    assert rung(16, at(1e-3, [600, 600]) + at(3e-3, [200, 200], 0.99), lrs).lr == 1e-3


def test_each_seed_has_its_own_horizon():
    rungs = {8: Rung(8, 1e-3, {0: True, 1: True, 2: False}, False, {}),
             16: Rung(16, 1e-3, {0: True, 1: False, 2: True}, False, {})}
    assert seed_horizons(rungs) == {0: 16, 1: 8, 2: None}
    from memorybench.horizon.text import seed_text

    # ≥: a lower bound; seed 2 failed 8 and solved 16 all the same
    assert seed_text(rungs) == "0: ≥ 16, 1: [8, 16), 2: < 8 (solves 16)"


def test_a_cell_still_learning_is_one_whose_budget_cut_a_rising_curve():
    from memorybench.horizon.checks import still_learning

    # attention, induction T = 23, 600 steps: flat near chance, then climbing at the end
    climbing = [(100, 0.16), (200, 0.16), (300, 0.16), (400, 0.21), (500, 0.41), (600, 0.49)]
    assert still_learning(climbing, 600)
    flat = [(100, 0.14), (200, 0.13), (300, 0.15), (400, 0.13), (500, 0.14), (600, 0.13)]
    assert not still_learning(flat, 600)  # noise about a level: its slope's bound is below 0
    fell = [(100, 0.5), (200, 0.7), (300, 0.8), (400, 0.8), (500, 0.6), (600, 0.7)]
    assert not still_learning(fell, 600)
    assert not still_learning(climbing, 1000)  # stopped early: the budget did not cut it
    assert not still_learning(climbing[-3:], 600)  # three evaluations say nothing of a trend
    steady = [(s, 0.12 + 0.0003 * s) for s in range(100, 1100, 100)]
    assert still_learning(steady, 1000)  # a slow rise without noise is still a rise


def test_a_flat_metric_over_a_falling_loss_is_still_learning():
    """permutation x IRNN, T = 16, seed 1 at 1e-3 (results/standard.jsonl): accuracy flat
    at 0.15-0.21 for 600 steps while the held-out loss fell from 1.72 to 1.22; continued to
    1,200 steps it solved the length (0.99). The metric alone reads it flat; the loss
    clause reads it learning. A loss that falls by less than 1% of its level over another
    budget does not."""
    from memorybench.cells import Metrics
    from memorybench.horizon.checks import loss_falling, still_learning

    raw = {"curve": [[100, 0.16, 1.718], [200, 0.154, 1.6], [300, 0.15, 1.53],
                     [400, 0.16, 1.447], [500, 0.206, 1.349], [600, 0.172, 1.215]]}
    metrics = Metrics.read(raw)
    assert metrics.losses == [(100, 1.718), (200, 1.6), (300, 1.53), (400, 1.447),
                              (500, 1.349), (600, 1.215)]
    assert not still_learning(metrics.curve, 600, points=4)
    assert still_learning(metrics.curve, 600, losses=metrics.losses)
    slow = [(s, 1.7 - 1e-6 * s) for s in range(100, 700, 100)]  # 0.0006 over 600 steps
    assert not loss_falling(slow, 600) and not still_learning([], 600, losses=metrics.losses)
    assert not loss_falling(metrics.losses, 1000)  # stopped early: the budget did not cut it
    unscored = Metrics.read({"curve": [[100, 0.5, None], [200, 0.6], [300, 0.7, float("nan")]]})
    assert unscored.losses == [] and unscored.curve == [(100, 0.5), (200, 0.6), (300, 0.7)]


def test_a_flat_noisy_curve_is_a_plateau_and_a_slow_noisy_rise_is_not():
    """The plateau test over the last 60% of evaluations: noise around a level is flat (the
    slope's one-sided 95% bound reaches zero); the same noise on a rise of 0.03 per 100
    steps is still learning."""
    import numpy as np

    from memorybench.horizon.checks import slope_bound, still_learning

    rng = np.random.default_rng(0)
    steps = list(range(100, 3100, 100))
    noise = rng.normal(0, 0.01, len(steps))
    flat = [(s, 0.31 + e) for s, e in zip(steps, noise, strict=True)]
    rising = [(s, 0.01 + 0.0003 * s + e) for s, e in zip(steps, noise, strict=True)]
    assert not still_learning(flat, 3000)
    assert still_learning(rising, 3000)
    slope, bound = slope_bound(rising)
    assert bound < slope and abs(slope - 0.0003) < 0.0001
    assert slope_bound(flat[:3]) is None


def test_the_plateau_tests_fit_is_scipys_linregress():
    """``slope_bound`` fits by linregress's own formulas without scipy's per-call overhead:
    the same slope and bound on noisy, rising, flat and perfectly straight curves."""
    import numpy as np
    from scipy.stats import linregress
    from scipy.stats import t as student_t

    from memorybench.horizon.checks import ALPHA, slope_bound

    rng = np.random.default_rng(1)
    curves = [[(100 * (i + 1), float(v)) for i, v in enumerate(rng.uniform(0, 1, n))]
              for n in (4, 6, 10, 30)]
    curves.append([(s, 0.001 * s) for s in range(100, 700, 100)])  # a straight line
    for curve in curves:
        slope, bound = slope_bound(curve, window=1.0, points=len(curve))
        fit = linregress(*zip(*curve, strict=True))
        expected = fit.slope - student_t.ppf(1 - ALPHA, len(curve) - 2) * fit.stderr
        assert slope == pytest.approx(fit.slope, rel=1e-12, abs=1e-15)
        assert bound == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # a flat curve: no slope and no error (linregress's error is nan there): not learning
    assert slope_bound([(s, 0.5) for s in range(100, 700, 100)]) == (0.0, 0.0)


@pytest.mark.slow
def test_every_committed_curve_reads_as_scipy_reads_it():
    """Every learning and loss curve of the committed results, at the plateau test's
    windows: the same rising-or-not decision as linregress's fit, bounds within 1e-12."""
    import numpy as np
    from scipy.stats import linregress
    from scipy.stats import t as student_t

    from memorybench.horizon import checks

    def by_scipy(curve, window, points):
        n = min(len(curve), max(points, math.ceil(window * len(curve))))
        if n < checks.FIT or len({x for x, _ in curve[-n:]}) < 2:
            return None
        fit = linregress(*zip(*curve[-n:], strict=True))
        return fit.slope - student_t.ppf(1 - checks.ALPHA, n - 2) * fit.stderr

    root = Path(__file__).resolve().parent.parent / "results"
    fits = 0
    for name in ("standard.jsonl", "standard-v2.jsonl"):
        for line in (root / name).read_text().splitlines():
            points = json.loads(line)["metrics"].get("curve") or []
            for curve in ([(p[0], p[1]) for p in points],
                          [(p[0], -p[2]) for p in points if len(p) > 2 and p[2] is not None]):
                for window, least in ((checks.WINDOW, checks.POINTS), (0.4, 4)):
                    ours, theirs = checks.slope_bound(curve, window, least), by_scipy(
                        curve, window, least)
                    assert (ours is None) == (theirs is None)
                    if ours is None:
                        continue
                    fits += 1
                    if np.isnan(theirs):  # a flat window: linregress's error is nan
                        assert ours[1] == 0.0
                        continue
                    assert (ours[1] > 0) == (theirs > 0)
                    assert ours[1] == pytest.approx(theirs, rel=1e-12, abs=1e-15)
    assert fits > 10_000


def test_a_ten_point_climb_is_still_learning_and_a_rise_then_plateau_is_flat():
    """The window is 60% of the evaluations: a 1,000-step curve is judged on its last 6
    points, so a climb with one dip at the end still reads as learning (minGRU's copy
    control, seed 0 at 1e-2, v3: 0.84 at 1,000 steps, 0.94 at 2,000); a 600-step curve on
    its last 4, so its early rise does not make a plateau read as learning."""
    from memorybench.horizon.checks import still_learning

    climb = [0.32, 0.42, 0.49, 0.59, 0.67, 0.75, 0.79, 0.86, 0.83, 0.85]
    assert still_learning([(100 * (i + 1), v) for i, v in enumerate(climb)], 1000)
    assert not still_learning([(100 * (i + 1), v) for i, v in enumerate(climb)], 1000,
                              window=0.4, points=4)  # the earlier window: 4 points, flat
    plateau = [0.2, 0.5, 0.6, 0.6, 0.61, 0.6, 0.6, 0.59, 0.6, 0.6]
    assert not still_learning([(100 * (i + 1), v) for i, v in enumerate(plateau)], 1000)
    # a 600-step curve of 6 evaluations is judged whole: on parity and permutation a
    # flat run that steps up (permutation x LSTM, T = 256: 0.19, 0.19, 0.17, 0.16, 0.51,
    # 0.49) went on to solve its length at twice the budget
    jump = [0.19, 0.19, 0.17, 0.16, 0.51, 0.49]
    assert still_learning([(100 * (i + 1), v) for i, v in enumerate(jump)], 600)
    assert not still_learning([(100 * (i + 1), v) for i, v in enumerate(jump)], 600,
                              points=4)  # its last 4 points alone: too noisy to call


def test_the_plateau_tests_calibration_counts_every_continued_failure():
    """python -m benchmarks.plateau_test on the committed v3 cells: each case is a failing
    cell continued to twice its budget. On copy and recall the 60% window misses fewer of
    those that gained than the earlier 40% did; above the control of the 600-step tasks
    the rule in use (at least 6 points, or the loss falling) reads fewer of the cells that
    went on to solve their length as flat than the metric's last 4 points did."""
    from benchmarks import plateau_test
    from memorybench.horizon.checks import still_learning
    from memorybench.report import summary
    from memorybench.store import results

    path = Path(__file__).resolve().parents[1] / "results" / "standard.jsonl"
    frame = summary.normalise(results.load(path))
    found = plateau_test.cases(frame)
    gained = [c for c in found if c.gain > 0.02 and c.task in ("copy", "recall")]
    assert len(found) >= 89 and len(gained) >= 73
    assert sum(not still_learning(c.curve, c.budget, 0.6, 4) for c in gained) < sum(
        not still_learning(c.curve, c.budget, 0.4, 4) for c in gained)
    above = [c for c in plateau_test.cases(frame, True)
             if c.solved_later and c.task in ("parity", "permutation")]
    assert len(above) >= 65
    in_use = sum(not still_learning(c.curve, c.budget, losses=c.losses) for c in above)
    assert in_use < sum(not still_learning(c.curve, c.budget, points=4) for c in above) / 2


def test_the_lstms_copy_curves_of_the_committed_leaderboard_are_still_learning():
    """copy × lstm at T = 8 in results/standard-v2.jsonl: every one of its 9 cells (3 rates x 3
    seeds) climbed to its last evaluation, so its "< 8" is the
    budget's; the old rule (a gain of 0.05 over the last third) missed it."""
    from memorybench.cells import Metrics
    from memorybench.horizon.checks import still_learning

    path = Path(__file__).resolve().parents[1] / "results" / "standard-v2.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    cells = [r for r in rows if (r["task"], r["model"], r["length"]) == ("copy", "lstm", 8)]
    assert len(cells) == 9
    assert all(still_learning(Metrics.read(r["metrics"]).curve, r["config"]["train"]["steps"])
               for r in cells)


def test_a_failed_rung_the_budget_cut_is_named_in_the_searchs_line():
    from memorybench.horizon.rules import trial_of
    from memorybench.horizon.text import describe

    curve = {"curve": [[n, v, 1.0] for n, v in ((100, 0.16), (200, 0.16), (300, 0.16),
                                                (400, 0.21), (500, 0.41), (600, 0.49))]}
    row = {"status": "ok", "solved": False, "metric_name": "accuracy", "steps": 600}
    assert trial_of(1e-3, 0, row, curve, 600).rising
    assert not trial_of(1e-3, 0, row, curve).rising  # no budget given: not judged
    trials = [trial_of(lr, seed, row, curve if seed < 2 and lr == 1e-3 else {}, 600)
              for lr in (1e-3, 1e-2) for seed in range(3)]
    failed = rung(23, trials, (1e-3, 1e-2))
    assert failed.lr == 1e-3 and failed.rising == {0: True, 1: True, 2: False}
    assert failed.budget_bound
    solved = Rung(16, 1e-3, {0: True, 1: True, 2: True}, False, {})
    rungs = {16: solved, 23: failed}
    line = describe("induction", "attention", advance([16, 23], rungs, 1.5), rungs, 512)
    assert "horizon ≥ 16 (budget)" in line and "at T=23 2/3 seeds were still learning" in line
    calm = {16: solved, 23: Rung(23, 1e-3, failed.seeds, False, {}, {0: True})}
    assert "still learning" not in describe("induction", "attention",
                                            advance([16, 23], calm, 1.5), calm, 512)


def test_worst_case_counts_every_rung_left_and_the_refinement():
    lengths = ladder(8, 64, 2)
    assert refinements(2.0, 1.4) == 2 and refinements(1.3, 1.4) == 0
    state = advance(lengths, {8: passed(8)}, 1.4)
    assert worst_case(lengths, state, 1.4) == [16, 32, 64, 64, 64]
    state = advance(lengths, {8: passed(8), 16: passed(16, ok=False)}, 1.4)
    assert worst_case(lengths, state, 1.4) == [16, 16]


@pytest.mark.parametrize("values, expected", [
    ({"factor": 1.0}, "factor"), ({"resolution": 0.9}, "resolution"), ({"lrs": ()}, "empty"),
    ({"multiples": (2, 0)}, "multiple"), ({"lrs": (-1e-3,)}, "learning rate")])
def test_a_bad_protocol_is_refused(values, expected):
    with pytest.raises(UserError, match=expected):
        Protocol(**values)


# --- the no-progress rule ------------------------------------------------------------------
def test_no_progress_stops_only_after_patience_evaluations_without_improvement():
    assert not no_progress([1.0, 0.9, 0.95, 0.95], 0, 0.01)  # off
    assert not no_progress([1.0, 0.9, 0.95], 2, 0.01)  # too few evaluations
    assert no_progress([1.0, 0.9, 0.95, 0.9], 2, 0.01)  # 0.9 is not below 0.891
    assert not no_progress([1.0, 0.9, 0.95, 0.85], 2, 0.01)


def test_the_default_patience_would_not_have_stopped_a_cell_that_later_solved():
    """The committed standard length sweep, replayed: patience 6 and min_delta 0.01 stop no
    cell before it solved (see benchmarks/no_progress.py for what they save)."""
    frame = results.load(ROOT / "results" / "standard-sweep.jsonl")
    checked = 0
    for row in frame[frame["solved"].astype(bool)].itertuples():
        metrics = json.loads(row.metrics) if isinstance(row.metrics, str) else row.metrics
        curve = metrics.get("curve") or []
        losses = [loss for _, _, loss in curve]
        for i, (step, _, _) in enumerate(curve):
            if step >= row.steps_to_solve:
                break
            assert not no_progress(losses[:i + 1], 6, 0.01), (row.task, row.model, row.length)
        checked += 1
    assert checked > 200


# --- training with a test set and extrapolation --------------------------------------------
def tiny_cell(**train):
    sweep = Sweep(tasks=["adding"], models=["elman"], lengths=[4], seeds=[0],
                  train={"steps": 6, "eval_every": 3, "batch_size": 8, "eval_size": 32,
                         **train}, model={"hidden": 8})
    return sweep.cells()[0]


def test_a_test_set_gives_the_metric_and_the_held_out_set_is_validation():
    plain = train_cell(tiny_cell())
    split = train_cell(tiny_cell(test_size=64, extrapolate=[2, 3]))
    assert "validation" not in plain["metrics"]
    validation = split["metrics"]["validation"]
    assert validation["accuracy"] == plain["metric"]  # the same run, the same held-out set
    assert split["metric"] == split["metrics"]["accuracy"] != validation["accuracy"]
    assert set(split["metrics"]["extrapolation"]) == {"2", "3"}
    assert all(0 <= v <= 1 for v in split["metrics"]["extrapolation"].values())


def test_a_model_with_a_maximum_length_is_not_applicable_beyond_it(monkeypatch):
    from memorybench.models.recurrent import Elman

    monkeypatch.setattr(Elman, "max_length", 6, raising=False)
    row = train_cell(tiny_cell(extrapolate=[1, 2]))
    assert row["status"] == "ok"
    assert row["metrics"]["extrapolation"]["2"] is None
    assert "at most 6" in row["metrics"]["extrapolation"]["n/a"]["2"]
    assert row["metrics"]["extrapolation"]["1"] is not None


# --- the command ---------------------------------------------------------------------------
TINY = ["--set", "model.hidden=8", "--set", "train.steps=6", "--set", "train.eval_every=3",
        "--set", "train.batch_size=8", "--set", "train.eval_size=32", "--test-size", "32",
        "--workers", "1", "--quiet", "--db", "h.db"]


def test_horizon_streams_brackets_and_a_rerun_trains_nothing(invoke):
    args = ["horizon", "--task", "adding", "--model", "elman", "--model", "ridge-window",
            "--start", "4", "--cap", "8", "--seeds", "0", "--lrs", "1e-2", "--multiples", "2",
            *TINY]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    lines = first.stdout.strip().splitlines()
    assert len(lines) == 2 and all("horizon" in line for line in lines)
    assert any(line.startswith("adding × elman") for line in lines)
    assert "trained now" in first.stderr and "a full grid over the same ladders" in first.stderr
    again = invoke(*args)  # every search closed: its lines in the plan's order, not closing's
    assert sorted(again.stdout.splitlines()) == sorted(first.stdout.splitlines())
    assert "(0 trained now" in again.stderr
    dry = invoke(*args, "--dry-run")
    assert dry.exit_code == 0 and "closed:" in dry.stdout and "worst case left: 0 cells" in \
        dry.stdout


def test_dry_run_projects_the_open_searches_from_the_share_the_closed_ones_took(invoke,
                                                                              tmp_path):
    args = ["horizon", "--task", "adding", "--model", "elman", "--start", "4", "--cap", "8",
            "--seeds", "0", "--lrs", "1e-2", "--multiples", "2", *TINY]
    assert invoke(*args).exit_code == 0
    with sqlite3.connect(tmp_path / "h.db") as db:  # each stored cell: one CPU-hour / count
        (count,) = db.execute("select count(*) from cells").fetchone()
        assert count > 0
        db.execute("update cells set wall_time = ?", (3600 / count,))
    alone = invoke(*args, "--dry-run")
    assert "projection: the 1 closed networks' searches took 1.0 CPU-hours" in alone.stdout
    assert "the 0 open ones would take about 0 CPU-hours more (0.0 spent so far)" in \
        alone.stdout
    both = invoke(*args, "--model", "gru", "--dry-run")  # the GRU's search: nothing stored
    assert "the 1 open ones would take about" in both.stdout
    nothing = invoke("horizon", "--task", "copy", "--model", "lstm", "--dry-run", "--db", "n.db")
    assert nothing.exit_code == 0 and "projection" not in nothing.stdout  # none closed yet


def test_dry_run_shows_the_ladder_and_the_worst_case_cost_and_creates_no_store(invoke,
                                                                              tmp_path):
    result = invoke("horizon", "--task", "copy", "--model", "lstm", "--dry-run", "--db", "h.db")
    assert result.exit_code == 0, result.output
    assert "ladder 1 8 16 32 64 128 256 512 1024" in result.stdout  # the control first
    assert "next T=1" in result.stdout
    result = invoke("horizon", "--task", "copy", "--model", "lstm", "--dry-run", "--db", "h.db",
                    "--no-control")
    assert "ladder 8 16 32 64 128 256 512 1024" in result.stdout
    assert "next T=8" in result.stdout and "worst case left" in result.stdout
    assert not (tmp_path / "h.db").exists()


def test_a_non_causal_model_is_marked(invoke):
    args = ["horizon", "--task", "adding", "--model", "birnn", "--start", "4", "--cap", "4",
            "--seeds", "0", "--lrs", "1e-2", "--multiples", "2", *TINY]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("adding × birnn (non-causal)")


@pytest.mark.parametrize("args, expected", [
    (["--start", "64", "--cap", "8"], "above the cap"),
    (["--factor", "1"], "factor"),
    (["--resolution", "1.0"], "resolution"),
    (["--lrs", ","], "learning-rate grid is empty"),
    (["--multiples", "2,0"], "multiple"),
    (["--multiples", "2,x"], "not an integer"),
    (["--cap", "0"], "cap"),
    (["--min-delta", "1.5"], "min_delta"),
    (["--min-delta", "nan"], "min_delta"),
    (["--test-size", "0"], "horizon test_size 0 is invalid; expected an integer >= 1"),
    (["--lrs", "1e300"], "learning rate 1e+300 is invalid"),
    (["--lrs", "1e-3,1e31"], "learning rate 1e+31 is invalid"),
])
def test_bad_horizon_input_is_one_line_and_exit_2_and_leaves_no_store(invoke, tmp_path, args,
                                                                      expected):
    result = invoke("horizon", "--task", "copy", "--model", "lstm", "--db", "h.db", *args)
    one_line_exit_2(result, expected)
    assert not (tmp_path / "h.db").exists()


def test_a_task_without_a_cap_is_one_line(invoke, tmp_path, monkeypatch):
    spec = {k: v for k, v in catalog.task_spec("copy").items() if k != "horizon"}
    real = catalog.task_spec
    monkeypatch.setattr(catalog, "task_spec", lambda n: spec if n == "copy" else real(n))
    result = invoke("horizon", "--task", "copy", "--model", "lstm", "--db", "h.db")
    one_line_exit_2(result, "no horizon cap")
    assert not (tmp_path / "h.db").exists()


def test_a_suite_carries_the_horizon_protocol(tmp_path):
    from memorybench.horizon.plan import protocol_from

    path = tmp_path / "s.toml"
    path.write_text('tasks = ["copy"]\nmodels = ["lstm"]\n[horizon]\nfactor = 3\nlrs = [1e-2]\n'
                    'params = 5000\nseeds = [0, 1]\n')
    sweep = load_suite(str(path))[0]
    protocol, extra = protocol_from(sweep.horizon, {"resolution": 1.2})
    assert (protocol.factor, protocol.resolution, protocol.lrs) == (3, 1.2, (1e-2,))
    assert extra == {"params": 5000, "seeds": [0, 1]}
    with pytest.raises(UserError, match="unknown key"):
        protocol_from({"factr": 2}, {})


def test_a_suite_names_what_its_horizon_searches_and_its_budget_apart_from_run(invoke,
                                                                               tmp_path):
    (tmp_path / "s.toml").write_text(
        'tasks = ["copy", "adding"]\nmodels = ["lstm", "elman"]\n[train]\nsteps = 7\n'
        '[task.copy]\nsymbols = 3\n[horizon]\ntasks = ["copy"]\nmodels = ["elman"]\n'
        'ladders = { copy = { start = 5, cap = 20 } }\ncontrol = false\n'
        '[horizon.train]\nsteps = 11\n'
        '[horizon.task]\ncopy = { symbols = 4 }\n')
    dry = invoke("horizon", "--suite", "s.toml", "--seeds", "0", "--lrs", "1e-2", "--dry-run",
                 "--db", "h.db")
    assert dry.exit_code == 0, dry.output
    searched = [line for line in dry.stdout.splitlines() if " × " in line]
    assert len(searched) == 1 and searched[0].startswith("copy × elman: ladder 5 10 20;")
    from memorybench.config import Request
    from memorybench.horizon.plan import plan_searches, search_sweep

    sweep, protocol = search_sweep(Request(str(tmp_path / "s.toml"), seeds=(0,),
                                           protocol={"lrs": (1e-2,)}))
    (search,) = plan_searches(sweep, protocol)
    assert (search.task, search.model, search.lengths) == ("copy", "elman", [5, 10, 20])
    assert {c.train.steps for c in search.base} == {11}
    assert {c.task_params["symbols"] for c in search.base} == {4}
    run_cells = load_suite(str(tmp_path / "s.toml"))[0].cells()  # `run` keeps the suite's
    assert run_cells and {c.train.steps for c in run_cells} == {7}
    flag = invoke("horizon", "--suite", "s.toml", "--seeds", "0", "--lrs", "1e-2", "--dry-run",
                  "--task", "adding", "--set", "train.steps=3", "--db", "h.db")
    assert flag.exit_code == 0, flag.output  # flags name other tasks; a ladder for copy is fine
    assert all(line.startswith("adding × elman") for line in flag.stdout.splitlines()
               if " × " in line)


def test_a_per_model_table_sets_that_model_only_and_flags_win(tmp_path):
    from memorybench.config import Request
    from memorybench.horizon.plan import plan_searches, search_sweep

    (tmp_path / "s.toml").write_text(
        'tasks = ["copy"]\nmodels = ["lstm", "mingru"]\n[model]\nlayers = 1\n'
        '[horizon]\nparams = 3000\n[horizon.model]\nmingru = { layers = 2 }\n')
    path = str(tmp_path / "s.toml")

    def layers(flags):
        sweep, protocol = search_sweep(Request(path, seeds=(0,), protocol={"lrs": (1e-2,)},
                                               **flags))
        searches = plan_searches(sweep, protocol)
        assert searches
        return {s.model: {c.model_params["layers"] for c in s.base} for s in searches}

    assert layers({}) == {"lstm": {1}, "mingru": {2}}
    assert layers({"model": {"layers": 3}}) == {"lstm": {3}, "mingru": {3}}  # flags win
    run_cells = load_suite(path)[0].cells()  # `run` of the suite keeps its [model]
    assert run_cells and {c.model_params["layers"] for c in run_cells} == {1}
    (tmp_path / "r.toml").write_text('tasks = ["copy"]\nmodels = ["lstm", "mingru"]\n'
                                     '[model.mingru]\nlayers = 2\n')
    cells = load_suite(str(tmp_path / "r.toml"))[0].cells()
    by_model = {c.model: c.model_params["layers"] for c in cells}
    assert by_model == {"lstm": 1, "mingru": 2}  # a suite's own [model.X] table, for `run`
    (tmp_path / "t.toml").write_text('tasks = ["copy"]\nmodels = ["lstm"]\n'
                                     '[model.lstn]\nlayers = 2\n')
    with pytest.raises(UserError, match="did you mean 'lstm'"):
        load_suite(str(tmp_path / "t.toml"))[0].cells()


@pytest.mark.parametrize("lines, expected", [
    ('tasks = ["copi"]', "did you mean 'copy'"),
    ('models = []', "models"),
    ('ladders = { copy = { begin = 4 } }', "ladders"),
    ('ladders = { coppy = { cap = 4 } }', "unknown task"),
    ('train = 3', "expected a table"),
    ('[horizon.train]\nstepz = 4', "unknown key 'stepz'"),
    ('[horizon.task]\nadd = { symbols = 3 }', "unknown task"),
    ('lr_rungs = "last"', "lr_rungs"),
    ('caps = { atention = 64 }', "did you mean 'attention'"),
    ('caps = { attention = 0 }', "caps"),
    ('ceilings = { copy = 0 }', "ceilings"),
    ('ceilings = { copy = 2.5 }', "ceilings"),
    ('ceilings = { coppy = 4 }', "unknown task"),
    ('probes = { copy = { lstm = [] } }', "probes"),
    ('probes = { copy = { lstn = [10] } }', "did you mean 'lstm'"),
    ('probes = { coppy = { lstm = [10] } }', "unknown task"),
    ('model = 3', "expected a table"),
    ('[horizon.model]\nmingr = { layers = 2 }', "did you mean 'mingru'"),
    ('[horizon.model]\nlstm = { layerz = 2 }', "unknown key 'layerz'"),
])
def test_a_bad_search_table_in_a_suite_is_one_line(invoke, tmp_path, lines, expected):
    (tmp_path / "s.toml").write_text(f'tasks = ["copy"]\nmodels = ["lstm"]\n[horizon]\n'
                                     f'{lines}\n')
    one_line_exit_2(invoke("horizon", "--suite", "s.toml", "--db", "h.db", "--dry-run"),
                    expected)
    assert not (tmp_path / "h.db").exists()


def test_the_report_shows_each_searched_bracket_with_its_seeds(invoke, tmp_path):
    search = ["horizon", "--task", "adding", "--model", "elman", "--model", "birnn",
              "--start", "4", "--cap", "8", "--seeds", "0,1", "--lrs", "1e-2,3e-2",
              "--multiples", "2", *TINY]
    assert invoke(*search).exit_code == 0
    assert invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4,8",
                  "--set", "model.hidden=8", "--steps", "6", "--eval-every", "3",
                  "--batch-size", "8", "--set", "train.eval_size=32", "--workers", "1",
                  "--quiet", "--db", "h.db").exit_code == 0
    result = invoke("report", "--db", "h.db", "--out", "rep")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "rep" / "README.md").read_text()
    section = page[page.index("## Horizon search"):page.index("## Memory horizon")]
    assert "figures/horizon-search.png" in section
    assert "| elman " in section and "birnn" in section and "non-causal" in section
    assert "each seed's horizon" in section and "0: " in section and "1: " in section
    assert "memory score" in section and "log2(horizon) / log2(cap)" in section
    html = (tmp_path / "rep" / "index.html").read_text()
    assert 'id="horizon-search"' in html
    assert "<script>" in html and 'getElementById("search-table")' in html  # sortable
    from memorybench.report import searches, summary

    found = searches.results(summary.normalise(results.load(tmp_path / "h.db")))
    assert {s["model"] for s in found} == {"elman", "birnn"}
    solved_some = any(s["points"] for s in found)  # a model that solved T=4 at all
    assert ("figures/extrapolation-adding.png" in section) == solved_some
    again = invoke("report", "--db", "h.db", "--out", "rep2")
    assert again.exit_code == 0
    assert (tmp_path / "rep2" / "index.html").read_bytes() == html.encode()  # deterministic


def test_a_report_reads_the_caps_of_the_suite_it_is_given(invoke, tmp_path):
    """The caps a report reads from a suite are its searches' own (the task ladder's, or a
    model's cap); `report --suite` with an unknown suite is one line and exit 2, and nothing
    is written. (How a report reads them: test_report_searches.)"""
    assert invoke("horizon", "--task", "adding", "--model", "lstm", "--start", "4", "--cap",
                  "4", "--seeds", "0", "--lrs", "1e-2", *TINY).exit_code == 0
    from memorybench.horizon.plan import suite_protocols

    caps = {k: p["cap"] for k, p in suite_protocols("standard").items()}
    assert caps[("adding", "lstm")] == 1024 and caps[("flipflop", "gru")] == 512
    assert caps[("copy", "attention")] == 256  # the suite's model cap
    assert suite_protocols("standard")[("copy", "attention")]["task_cap"] == 1024
    bad = invoke("report", "--db", "h.db", "--out", "rep", "--suite", "nosuch")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "unknown suite" in bad.stderr
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize("line, expected", [("factor = 0.5", "factor"), ("lrs = []", "empty"),
                                            ("multiples = [-2]", "multiple"),
                                            ("stride = 2", "unknown key"),
                                            ("seeds = []", "seeds"),
                                            ("control = 1", "horizon control 1 is invalid"),
                                            ("ladders = { copy = { control = 0 } }",
                                             "task copy: horizon control 0 is invalid"),
                                            ("ladders = { copy = { start = 0, cap = 8 } }",
                                             "task copy: horizon start 0 is invalid")])
def test_a_bad_horizon_table_in_a_suite_is_one_line(invoke, tmp_path, line, expected):
    (tmp_path / "s.toml").write_text(f'tasks = ["copy"]\nmodels = ["lstm"]\n[horizon]\n{line}\n')
    one_line_exit_2(invoke("horizon", "--suite", "s.toml", "--db", "h.db", "--dry-run"),
                    expected)


def test_the_suite_protocol_sizes_networks_and_skips_baselines_that_do_not_apply():
    from memorybench.horizon.plan import plan_searches, protocol_from

    sweep = Sweep(tasks=["adding"], models=["elman", "majority"], seeds=[0, 1], params=5000)
    protocol, _ = protocol_from({"lrs": [1e-3, 1e-2], "control": False}, {})
    (search,) = plan_searches(sweep, protocol)  # majority: class tasks only
    assert (search.model, search.lrs, search.lengths[0], search.cap) == ("elman", (1e-3, 1e-2),
                                                                         8, 1024)
    assert len(search.base) == 4 and {c.train.lr for c in search.base} == {1e-3, 1e-2}
    assert all(c.model_params["target_params"] == 5000 for c in search.base)
    assert all(c.train.test_size == 1000 and c.train.extrapolate == (2, 4, 8)
               for c in search.base)
    assert [c.length for c in search.cells(16)] == [16] * 4


def test_a_width_set_by_hand_is_not_dropped_for_the_parameter_budget(invoke):
    result = invoke("horizon", "--task", "copy", "--model", "lstm", "--params", "6500",
                    "--set", "model.hidden=8", "--dry-run", "--db", "h.db")
    one_line_exit_2(result, "model.hidden")


def test_an_early_stop_can_wait_for_the_threshold_to_hold_and_is_part_of_the_key():
    from memorybench.training import train_cell

    def cell(solved_evals: int):
        return Sweep(tasks=["sentiment"], models=["elman"], lengths=[4],
                     train={"steps": 40, "eval_every": 10, "batch_size": 8, "eval_size": 32,
                            "solved_evals": solved_evals},
                     task={"solved": 0.01}, model={"hidden": 4}).cells()[0]

    first, second = cell(1), cell(2)
    assert "solved_evals" not in first.config()["train"]  # the default keeps old keys
    assert second.config()["train"]["solved_evals"] == 2 and first.key != second.key
    once, twice = train_cell(first), train_cell(second)
    assert (once["steps"], once["steps_to_solve"]) == (10, 10)  # solved at every evaluation
    assert (twice["steps"], twice["steps_to_solve"]) == (20, 10)
    from memorybench.horizon.plan import plan_searches, protocol_from

    protocol, _ = protocol_from({"lrs": [1e-2]}, {})
    (search,) = plan_searches(Sweep(tasks=["copy"], models=["lstm"]), protocol)
    assert {c.train.solved_evals for c in search.base} == {2}  # the search's default


def _row(solved: bool, validation: float) -> dict:
    return {"status": "ok", "solved": solved, "metric_name": "accuracy",
            "solved_threshold": 0.9, "metrics": {"validation": {"accuracy": validation}}}


def test_a_rate_held_from_the_first_rung_trains_the_grid_once_then_one_rate_per_seed():
    from memorybench.horizon.plan import plan_searches, protocol_from

    protocol, _ = protocol_from({"lrs": [1e-3, 1e-2], "lr_rungs": "first-only",
                                 "control": False}, {})
    (search,) = plan_searches(Sweep(tasks=["copy"], models=["lstm"], seeds=[0, 1, 2]),
                              protocol, start=8, cap=32)
    first = search.cells(8)
    assert len(first) == 6 and {c.train.lr for c in first} == {1e-3, 1e-2}
    rows = {c.key: _row(True, 0.95 if c.train.lr == 1e-2 else 0.91) for c in first}
    state, rungs = search.state(rows, protocol.resolution)
    assert state.next == 16 and rungs[8].lr == 1e-2
    above = search.cells(16, rungs)
    assert len(above) == 3 and {c.train.lr for c in above} == {1e-2}  # held, not re-chosen
    rows |= {c.key: _row(False, 0.5) for c in above}  # the rung at 16 fails
    state, rungs = search.state(rows, protocol.resolution)
    assert (state.next, state.lo, state.hi) == (11, 8, 16) and rungs[16].lr == 1e-2
    assert {c.train.lr for c in search.cells(11, rungs)} == {1e-2}  # and so is a refinement
    assert rungs[8].lr_at_edge and rungs[16].lr_at_edge  # 1e-2 is the grid's largest
    every, _ = protocol_from({"lrs": [1e-3, 1e-2], "control": False}, {})
    (again,) = plan_searches(Sweep(tasks=["copy"], models=["lstm"], seeds=[0, 1, 2]),
                             every, start=8, cap=32)
    assert len(again.cells(16, rungs)) == 6  # the default: the grid at every rung
    assert {c.key for c in first} == {c.key for c in again.cells(8)}  # the same cells


def test_a_model_cap_shortens_that_models_ladders_only():
    from memorybench.horizon.plan import plan_searches, protocol_from

    protocol, extra = protocol_from({"caps": {"attention": 32}, "control": False}, {})
    sweep = Sweep(tasks=["copy"], models=["lstm", "attention"], seeds=[0])
    sweep.horizon = {"caps": extra["caps"]}
    lstm, attention = plan_searches(sweep, protocol)
    assert lstm.lengths[-1] == lstm.cap == 1024
    assert attention.lengths == [8, 16, 32] and attention.cap == 32


def test_probes_train_once_the_search_closes_and_join_the_leaderboards_rows(invoke, tmp_path):
    """A probe is a length trained after the search closed, at its rate, whatever the
    bracket: the metric at a distance a claim quotes. It belongs to the suite's rows."""
    (tmp_path / "s.toml").write_text(
        'tasks = ["adding"]\nmodels = ["elman"]\n[horizon]\nseeds = [0]\nlrs = [1e-2]\n'
        'multiples = [2]\ntest_size = 32\nladders = { adding = { start = 4, cap = 8 } }\n'
        'probes = { adding = { elman = [6, 12] } }\ncontrol = false\n[horizon.train]\nsteps = 6\n'
        'eval_every = 3\nbatch_size = 8\neval_size = 32\n[model]\nhidden = 8\n')
    args = ["horizon", "--suite", "s.toml", "--workers", "1", "--quiet", "--db", "h.db"]
    dry = invoke(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    # rungs 4, 8, 6; probes 6 (a rung), 12; and each of the three rungs failing, its seed
    # continued from 6 steps to 12, 24 and 48 (the default ceiling, 8 x the budget)
    assert "worst case left: 4 cells and 9 extensions" in dry.stdout
    assert invoke(*args).exit_code in (0, 1)
    stored = results.load(tmp_path / "h.db")
    assert 12 in set(stored["length"]) and 6 in set(stored["length"])
    assert "(0 trained now" in invoke(*args).stderr  # a rerun trains nothing
    from memorybench.horizon.run import suite_search_rows

    rows, left_out = suite_search_rows(tmp_path / "h.db", str(tmp_path / "s.toml"))
    assert len(rows) == len(stored) and left_out == 0


def test_the_lr_rungs_flag_holds_the_first_rungs_rate_up_the_ladder(invoke):
    args = ["horizon", "--task", "copy", "--model", "lstm", "--start", "8", "--cap", "32",
            "--seeds", "0,1", "--lrs", "1e-3,1e-2", "--dry-run", "--db", "h.db", "--no-control"]
    every, first = invoke(*args), invoke(*args, "--lr-rungs", "first")
    assert every.exit_code == first.exit_code == 0, every.output + first.output
    # rungs 8, 16, 32 (and a refinement at 32 at most): 3 rungs x 2 rates x 2 seeds, or the
    # grid at 8 only; each of the 4 failing, 2 seeds at each of the 2 rates past the edge,
    # then continued 3 times (to 8x) at the better half of the 4 rates: 2, 1, 1; and a held
    # rung the other rate's 2 seeds too
    assert "worst case left: 12 cells and 48 extensions" in every.stdout
    assert "worst case left: 8 cells and 54 extensions" in first.stdout
    plain = invoke(*args, "--lr-rungs", "first-only", "--ceiling", "1", "--lr-beyond", "0")
    assert "worst case left: 8 cells and 0 extensions" in plain.stdout, plain.output


def test_a_failed_control_is_not_learned_and_a_failed_first_rung_is_not():
    from memorybench.horizon.rules import bracket, not_learned
    from memorybench.horizon.text import describe

    failed = Rung(1, 1e-2, {0: False, 1: False, 2: True}, False, {})
    state = advance([1, 8, 16], {1: failed}, 1.5)
    assert state.closed and (state.lo, state.hi) == (None, 1)  # no control: the first rung
    assert advance([1, 8, 16], {1: failed}, 1.5, control=1).next == 8  # checked against 8
    at_8 = Rung(8, 1e-2, {0: False, 1: False, 2: False}, False, {})
    state = advance([1, 8, 16], {1: failed, 8: at_8}, 1.5, control=1)
    assert not_learned(state, 1) and bracket(state, 64, 1) == "not learned"
    assert not not_learned(state, None) and bracket(state, 64) == "< 1"
    line = describe("copy", "lstm", state, {1: failed, 8: at_8}, 64, control=1)
    assert line.startswith("copy × lstm: not learned: fails the control T=1 (2/3 seeds) and "
                           "T=8 (3/3 seeds)")
    assert "horizon" not in line.split(";")[0]
    assert closed_state({1: failed, 8: at_8}, 1) == state
    solved = Rung(1, 1e-2, {0: True, 1: True, 2: True}, False, {})
    later = advance([1, 8], {1: solved, 8: at_8}, 1.5, control=1)
    assert not not_learned(later, 1) and bracket(later, 8, 1) == "[1, 8)"


def test_a_control_harder_than_the_first_rung_is_read_past():
    """A model that fails its control (recall at T = 6, the pairs back to back) but solves
    the ladder's first rung found the control the harder length: the ladder is read without
    it, and the line says so."""
    from memorybench.horizon.text import describe

    control = Rung(6, 1e-2, {0: False, 1: False, 2: False}, False, {})
    start = Rung(16, 1e-2, {0: True, 1: True, 2: True}, False, {})
    rungs = {6: control, 16: start}
    state = advance([6, 16, 32], rungs, 2.0, control=6)
    assert state.next == 32 and state.lo == 16
    rungs[32] = Rung(32, 1e-2, {0: True, 1: False, 2: False}, False, {})
    state = advance([6, 16, 32], rungs, 2.0, control=6)
    assert state.closed and (state.lo, state.hi) == (16, 32)
    assert closed_state(rungs, 6) == state and closed_state(rungs).hi == 6
    line = describe("recall", "gru", state, rungs, 64, control=6)
    assert "horizon [16, 32)" in line and "fails the control T=6 (3/3 seeds) all the same" in line
    assert "seeds' horizons 0: ≥ 32, 1: [16, 32), 2: [16, 32)" in line


def test_a_networks_search_trains_its_tasks_control_first_and_a_baseline_does_not():
    from memorybench.horizon.plan import plan_searches, protocol_from

    protocol, _ = protocol_from({"lrs": [1e-2]}, {})
    assert protocol.control  # on unless a suite or --no-control turns it off
    sweep = Sweep(tasks=["copy", "recall", "adding"], models=["lstm", "ridge-window"], seeds=[0])
    sweep.task = {"recall": {"pairs": 2, "keys": 8}}
    by = {(s.task, s.model): s for s in plan_searches(sweep, protocol)}
    assert by["copy", "lstm"].lengths[:2] == [1, 8] and by["copy", "lstm"].control == 1
    # recall's control is the shortest sequence its pairs fit in, not below it
    assert by["recall", "lstm"].control == 6 and by["recall", "lstm"].lengths[0] == 6
    assert by["adding", "lstm"].lengths[:2] == [2, 8]
    assert by["adding", "ridge-window"].control is None
    assert by["adding", "ridge-window"].lengths[0] == 8
    off, _ = protocol_from({"lrs": [1e-2], "control": False}, {})
    assert plan_searches(sweep, off)[0].lengths[0] == 8
    sweep.horizon = {"ladders": {"copy": {"start": 8, "cap": 64, "control": 2}}}  # a suite's
    assert plan_searches(sweep, protocol)[0].lengths[:2] == [2, 8]


def test_a_model_that_cannot_learn_the_control_prints_not_learned_and_stores_the_mark(
        invoke, tmp_path):
    """Two steps of training learn nothing: copy × elman fails its control, T = 1, trained
    on to the ceiling (8 x 2 steps), and the ladder's first rung, T = 8."""
    result = invoke("horizon", "--task", "copy", "--model", "elman", "--seeds", "0",
                    "--lrs", "1e-2", "--cap", "8", "--set", "train.steps=2",
                    "--set", "train.eval_every=1", "--set", "train.batch_size=8",
                    "--set", "train.eval_size=16", "--test-size", "16", "--set",
                    "model.hidden=4", "--multiples", "2", "--workers", "1", "--quiet",
                    "--db", "h.db")
    assert result.exit_code == 0, result.output
    assert ("copy × elman: not learned: fails the control T=1 (1/1 seeds at 16 steps) and "
            "T=8 (1/1 seeds at 2 steps)"
            in result.stdout)
    stored = results.load(tmp_path / "h.db").sort_values(["length", "steps"])
    # the control at 2, 4, 8 and 16 steps, checked against the first rung
    assert list(stored["length"]) == [1, 1, 1, 1, 8]
    assert [json.loads(m).get("control") for m in stored["metrics"]] == [True] * 4 + [None]
