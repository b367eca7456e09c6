"""What each horizon is (a measured limit or which bound), counted per task and per model,
and what moved between two runs of the same searches, with why."""

from memorybench.report import changes, kinds
from tests.test_horizon_claims import found_of, recorded, search

LADDER = [8, 16, 32, 64, 128, 256, 512, 1024]


def upto(h, cap=1024):
    """The ladder a search climbs to its first failure past ``h`` (or to ``cap``)."""
    return [n for n in LADDER if n <= min(2 * h, cap)] if h >= 8 else [8, 16]


def test_each_kind_of_horizon_is_told_apart_and_counted_per_task_and_model():
    found = found_of(search("copy", "lstm", 64, upto(64)),           # [64, 128)
                     search("copy", "gru", 1024, LADDER),              # ≥ 1024 (capped)
                     search("copy", "elman", 4, upto(4)),              # < 8
                     search("adding", "lstm", 32, [8, 16, 32]))        # ≥ 32 (open)
    by = {(s["task"], s["model"]): kinds.kind(s) for s in found}
    assert by == {("copy", "lstm"): "converged", ("copy", "gru"): "capped",
                  ("copy", "elman"): "first rung", ("adding", "lstm"): "open"}
    table = kinds.kinds_table(found, "task")
    assert table.headers == ["task", "[a, b)", "< s", "≥ cap (capped)", "≥ a (open)", "scored"]
    rows = {r[0]: r[1:] for r in table.rows}
    assert rows["copy"] == ["1", "1", "1", "0", "3 of 3"]
    assert rows["adding"] == ["0", "0", "0", "1", "0 of 1"]  # an open search is not scored
    assert rows["all"] == ["1", "1", "1", "1", "3 of 4"]
    assert len(table.notes) == 4 and all(n.split(":")[0] in table.headers for n in table.notes)
    by_model = {r[0]: r for r in kinds.kinds_table(found, "model", notes=False).rows}
    assert set(by_model) == {"lstm", "gru", "elman", "all"}
    assert by_model["lstm"][-1] == "1 of 2"


def test_what_moved_since_an_earlier_run_is_listed_with_the_first_length_they_disagree_on():
    before = found_of(search("copy", "lstm", 4, upto(4)), search("copy", "gru", 64, upto(64)),
                      search("adding", "gru", 1024, LADDER))
    now = found_of(search("copy", "lstm", 32, upto(32)), search("copy", "gru", 64, upto(64)),
                   search("recall", "gru", 64, upto(64)))
    table = changes.changes_table(before, now, "v2")
    assert table.headers == ["task", "model", "v2", "now", "kind", "why"]
    assert len(table.rows) == 1  # copy × gru read the same; adding and recall in one run only
    task, model, old, new, kind, why = table.rows[0]
    assert (task, model, old, new, kind) == ("copy", "lstm", "< 8", "[32, 64)",
                                             "first rung → converged")
    assert why.startswith("T=8: earlier fails (0/3 solve, lr 0.01")
    assert "now solves (3/3 solve, lr 0.01" in why
    assert "1 of the 2 (task, model) pairs" in table.notes[0]
    assert "1 read the same" in table.notes[0]
    assert "2 searched in one run only: adding × gru, recall × gru." == table.notes[1]


def test_horizon_against_size_says_where_a_larger_network_solves_what_the_smaller_failed():
    from memorybench.report import sizes

    small = found_of(search("copy", "lstm", 16, upto(16)), search("copy", "gru", 64, upto(64)),
                     search("adding", "gru", 64, upto(64)))
    large = found_of(search("copy", "lstm", 128, upto(128)), search("copy", "gru", 32, upto(32)),
                     search("adding", "gru", 64, upto(64)), search("recall", "gru", 8, [8]))
    table = sizes.sizes_table(small, large)
    rows = {(r[0], r[1]): r for r in table.rows}
    assert set(rows) == {("copy", "lstm"), ("copy", "gru"), ("adding", "gru")}
    assert rows[("copy", "lstm")][6:] == [sizes.GROWS, "solves T=32, which the smaller failed"]
    assert rows[("copy", "gru")][6:] == [sizes.SHRINKS, "fails T=64, which the smaller solved"]
    assert rows[("adding", "gru")][6] == sizes.SAME
    assert rows[("copy", "lstm")][2] == "[16, 32) (converged)"
    assert table.notes == ["grows: 1; no length separates them: 1; shrinks: 1."]


def test_a_failure_an_interrupted_run_would_still_check_reads_open_not_a_limit():
    """At 1,000 steps of a search whose protocol extends a failure up to 8x, a failed length
    whose seeds were still climbing when their budget ran out has not been decided: the
    search is open ('≥ 8 (open)'), out of the score, and a claim on it is not measured. With
    a ceiling of 1 (nothing extended, as the leaderboard v2) the same cells are decided: a
    failure still learning at its last budget, '≥ 8 (budget)'."""
    from memorybench.report import horizon_claims, searches

    climbing = [[100, 0.1, 2.0], [200, 0.1, 2.0], [300, 0.1, 2.0], [400, 0.2, 1.8],
                [500, 0.4, 1.5], [1000, 0.6, 1.2]]

    def rows(ceiling):
        out = recorded(search("copy", "lstm", 8, [8, 16]), 1024)
        for row in out:
            row["metrics"]["search"]["ceiling"] = ceiling
            row["steps"] = 1000  # every seed trained its whole budget
            if row["length"] == 16:
                row["metrics"]["curve"] = climbing
        return out

    (open_,) = found_of(rows(8))
    assert open_["pending"] == 16 and searches.marked(open_) == "≥ 8 (open)"
    assert kinds.kind(open_) == "open" and not searches.converged(open_)
    result, evidence = horizon_claims.evaluate(
        {"task": "copy", "checks": [{"model": "lstm", "below": 200}]}, [open_])
    assert result == horizon_claims.NOT_MEASURED and "still to be checked" in evidence
    (closed,) = found_of(rows(1))
    assert closed["pending"] is None and searches.marked(closed) == "≥ 8 (budget)"
    assert kinds.kind(closed) == "budget"
    # what moved since an earlier run says the failure is being checked, not "solved every
    # length trained so far"
    (earlier,) = found_of(search("copy", "lstm", 1024, LADDER))
    reason = changes.why(earlier, open_)
    assert reason.startswith("the search has not closed: its failure at T=16 is still being "
                             "checked; T=16: earlier solves") and "solved every" not in reason


def test_a_control_still_being_checked_gives_no_seed_a_bracket():
    """A failed control whose seeds an interrupted run would still continue decides nothing:
    the search reads "checking", and no seed reads a horizon from the cells of a later
    length (recall x GRU in a partial v3 run: control T = 12 checking, yet each seed read
    "< 32" from cells at 32)."""
    climbing = [[100, 0.1, 2.0], [200, 0.1, 2.0], [300, 0.1, 2.0], [400, 0.2, 1.8],
                [500, 0.4, 1.5], [1000, 0.6, 1.2]]
    rows = recorded(search("copy", "lstm", 0, [1, 8]), 1024)
    for row in rows:
        row["metrics"]["search"] |= {"ceiling": 8, "control": 1}
        row["steps"] = 1000
        if row["length"] == 1:
            row["metrics"] |= {"control": True, "curve": climbing}
    (checking,) = found_of(rows)
    assert checking["pending"] == 1 and checking["control"] == 1
    assert checking["seeds"] == {} and checking["seed_rungs"] == {}


def test_a_search_at_another_task_setting_says_so_where_it_moved():
    """Recall at 4 pairs of 16 keys is another task than at 2 of 8: a horizon that moved
    between them says the setting changed, not only where the runs disagree."""
    def at(pairs, keys, horizon, steps):
        rows = recorded(search("recall", "gru", horizon, upto(horizon)), 512, steps=steps)
        for row in rows:
            row["config"]["task_params"] = {"pairs": pairs, "keys": keys, "solved": 0.9}
        return rows

    (before,), (now,) = found_of(at(2, 8, 256, 1500)), found_of(at(4, 16, 32, 3000))
    reason = changes.why(before, now)
    assert "searched at another setting (keys 8 → 16, pairs 2 → 4, steps 1,500 → 3,000)" \
        in reason and "T=64: earlier solves" in reason
    (same,) = found_of(at(2, 8, 64, 1500))
    assert "another setting" not in changes.why(before, same)
