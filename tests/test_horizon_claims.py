"""Claims checked on horizon searches: every kind of check holds on searches that show it,
does not hold on searches that do not, and is "not measured" without the searches it needs,
so that no claim passes on no evidence."""

import math

import pytest

from memorybench import catalog
from memorybench.report import claims, horizon_claims, searches, summary
from memorybench.report.search_rows import at_chosen_rates
from tests.test_claims import frame_of
from tests.test_report_searches import search_rows, searched

H = horizon_claims


def search(task, model, horizon, lengths, *, at_horizon=None, metric=None, state_size=16):
    """Rows of a 3-seed search of (task, model) over ``lengths`` that solves every length up
    to ``horizon``; ``at_horizon`` sets the extrapolation scores of every rung, ``metric``
    the test metric by length."""
    rows = []
    for n in lengths:
        for seed in range(3):
            row = searched(task, model, n, seed, n <= horizon)
            if at_horizon is not None:
                row["metrics"]["extrapolation"] = at_horizon
            if metric is not None:
                row["metric"] = metric[n]
            row["state_size"] = state_size
            rows.append(row)
    return rows


def found_of(*groups):
    return searches.results(frame_of([r for g in groups for r in g]))


def verdict(checks, *groups, task="copy", **extra):
    claim = {"task": task, "checks": checks, **extra}
    return H.evaluate(claim, found_of(*groups))


LADDER = [8, 16, 32, 64, 128, 256, 512, 1024]


@pytest.mark.parametrize("horizon,expected", [
    (1024, H.HOLDS), (256, H.FAILS),  # failed 512 <= 1000
    (512, H.NOT_MEASURED)])  # [512, 1024) straddles 1000: it was never tried
def test_at_least_needs_the_length_solved(horizon, expected):
    rows = search("copy", "orthogonal", horizon, [n for n in LADDER if n <= horizon * 2])
    assert verdict([{"model": "orthogonal", "at_least": 1000}], rows)[0] == expected


def test_at_least_is_not_measured_where_the_search_stopped_short_of_it_unfailed():
    """Solved every length of a ladder capped at 64: nothing says it fails by 1,000."""
    rows = search("copy", "orthogonal", 64, [8, 16, 32, 64])
    result, evidence = verdict([{"model": "orthogonal", "at_least": 1000}], rows)
    assert result == H.NOT_MEASURED and "up to 64, short of 1000" in evidence


@pytest.mark.parametrize("horizon,lengths,expected", [
    (64, [8, 16, 32, 64, 128], H.HOLDS),  # failed 128 <= 200
    (256, [8, 16, 32, 64, 128, 256, 512], H.FAILS),  # solved 256 >= 200
    (128, [8, 16, 32, 64, 128, 256], H.NOT_MEASURED),  # [128, 256) straddles 200
])
def test_below_needs_a_failed_length_at_or_under_it(horizon, lengths, expected):
    rows = search("copy", "lstm", horizon, lengths)
    result, evidence = verdict([{"model": "lstm", "below": 200}], rows)
    assert result == expected
    assert "horizons: lstm " in evidence


@pytest.mark.parametrize("check,horizons,expected", [
    ("above", (256, 64), H.HOLDS), ("above", (64, 64), H.FAILS), ("above", (64, 256), H.FAILS),
    ("at_least_as", (64, 64), H.HOLDS), ("at_least_as", (128, 32), H.HOLDS),
    ("at_least_as", (32, 128), H.FAILS)])
def test_comparing_two_models_by_lengths_one_solved_and_the_other_failed(check, horizons,
                                                                         expected):
    rows = [search("selective-copy", m, h, [n for n in LADDER if n <= 2 * h])
            for m, h in zip(("mamba", "s4d"), horizons, strict=True)]
    assert verdict([{"model": "mamba", check: ["s4d"]}], *rows,
                   task="selective-copy")[0] == expected


@pytest.mark.parametrize("mamba_8x,attention_8x,expected", [(0.95, 0.3, H.HOLDS),
                                                            (0.3, 0.3, H.FAILS),
                                                            (0.95, 0.95, H.FAILS)])
def test_extrapolation_is_read_at_the_horizon(mamba_8x, attention_8x, expected):
    rows = [search("induction", m, 64, [16, 32, 64, 128], at_horizon={"8": score})
            for m, score in (("mamba", mamba_8x), ("attention", attention_8x))]
    result, evidence = verdict([{"model": "mamba", "solves_multiple": 8},
                                {"model": "attention", "fails_multiple": 8}], *rows,
                               task="induction")
    assert result == expected
    assert "mamba at T=64: " in evidence


def test_extrapolation_not_scored_is_not_measured():
    rows = search("induction", "mamba", 64, [16, 32, 64, 128], at_horizon={"2": 0.95})
    assert verdict([{"model": "mamba", "solves_multiple": 8}], rows,
                   task="induction")[0] == H.NOT_MEASURED


AGREEMENT = [[5, 10, 0.90], [15, 20, 0.70], [30, math.inf, 0.45]]


@pytest.mark.parametrize("means,expected", [
    ({4: 0.99, 8: 0.92, 16: 0.72, 32: 0.5}, H.HOLDS),
    ({4: 0.99, 8: 0.99, 16: 0.99, 32: 0.5}, H.FAILS),  # 0.99 at 16, not about 0.70
    ({4: 0.99, 8: 0.92, 16: 0.72}, H.NOT_MEASURED),  # nothing trained at 30+
])
def test_quoted_accuracies_are_compared_range_by_range(means, expected):
    rows = search("agreement", "elman", 8, sorted(means), metric=means)
    result, evidence = verdict([{"model": "elman", "accuracy": AGREEMENT}], rows,
                               task="agreement")
    assert result == expected
    assert "5–10: quoted 0.900, ours " in evidence


@pytest.mark.parametrize("sizes,expected", [((16, 64, 256), H.HOLDS), ((256, 64, 16), H.FAILS)])
def test_horizon_rising_with_state_size(sizes, expected):
    rows = [search("recall", m, h, [n for n in LADDER if n <= 2 * h], state_size=size)
            for m, h, size in zip(("elman", "gru", "mamba"), (16, 32, 64), sizes, strict=True)]
    result, evidence = verdict([{"models": ["elman", "gru", "mamba"],
                                 "rises_with_state": True}], *rows, task="recall")
    assert result == expected
    assert "Spearman" in evidence


def test_a_claim_without_its_searches_is_not_measured_and_left_out_without_any():
    frame = frame_of(search_rows())  # copy: lstm [16, 32), birnn, ridge-window; adding
    found = searches.results(frame)
    table = claims.evaluate(frame, summary.by_length(frame), found)
    rows = {r[0]: r for r in table.rows}
    copy = rows["copy: the LSTM fails by T = 200 while the orthogonal RNN solves T = 1,000"]
    assert copy[1] == H.NOT_MEASURED and copy[2].startswith("no search of orthogonal on copy")
    horizon = {c["text"] for c in claims.load() if c["kind"] == "horizon"}
    assert horizon <= set(rows)
    assert all(rows[text][1] == H.NOT_MEASURED for text in horizon)
    plain = claims.evaluate(frame, summary.by_length(frame))  # no searches: none shown
    assert plain is None or not horizon & {r[0] for r in plain.rows}


def test_a_claim_holds_on_searches_that_show_it_in_the_claims_table():
    rows = (search("adding", "elman", 32, [8, 16, 32, 64]) +
            search("adding", "lstm", 128, [8, 16, 32, 64, 128, 256]) +
            search("adding", "gru", 256, [8, 16, 32, 64, 128, 256, 512]))
    frame = frame_of(rows)
    table = claims.evaluate(frame, summary.by_length(frame), searches.results(frame))
    adding = next(r for r in table.rows if r[0].startswith("adding: the Elman RNN's horizon"))
    assert adding[1] == H.HOLDS
    assert "elman [32, 64), lstm [128, 256), gru [256, 512)" in adding[2]


def test_every_shipped_horizon_claim_names_known_models_and_checks():
    names = set(catalog.model_names())
    for claim in claims.load():
        if claim["kind"] != "horizon":
            continue
        assert claim["task"] in catalog.task_names(), claim["id"]
        assert set(H.models_of(claim)) <= names, claim["id"]
        for check in claim["checks"]:
            assert len(set(check) & set(H.CHECKS)) == 1, (claim["id"], check)


def test_a_length_sweep_claim_gives_way_to_its_horizon_version_in_a_search_report():
    """On searches, the copy claim's lengths in common are few; its horizon version is
    shown, and the length-sweep one only where no search is held."""
    by_id = {c["id"]: c for c in claims.load()}
    restated = {c["id"]: c["restated_by"] for c in by_id.values() if c.get("restated_by")}
    assert set(restated) == {"adding-gates", "copy-orthogonal", "recall-gates"}
    assert all(by_id[h]["kind"] == "horizon" for h in restated.values())
    rows = (search("copy", "orthogonal", 1024, LADDER) + search("copy", "lstm", 16, LADDER[:3]))
    frame = frame_of(rows)
    table = claims.evaluate(frame, summary.by_length(frame), searches.results(frame))
    shown = {r[0]: r[1] for r in table.rows}
    assert shown[by_id["copy-orthogonal-1000"]["text"]] == H.HOLDS
    assert by_id["copy-orthogonal"]["text"] not in shown
    plain = claims.evaluate(frame, summary.by_length(frame))  # a length sweep: no searches
    assert plain is not None and by_id["copy-orthogonal"]["text"] in {r[0] for r in plain.rows}


def two_rates() -> list:
    """adding × lstm over 8 and 16: solved at lr 0.01 (test 0.95), nothing learned at 0.001
    (test 0.3, validation 0.1), so every rung chooses 0.01."""
    rows = search("adding", "lstm", 16, [8, 16])
    for row in search("adding", "lstm", 0, [8, 16]):
        row["key"] += "-slow"
        row["config"] = {**row["config"], "train": {"lr": 0.001, "test_size": 32}}
        row["metrics"]["validation"] = {"accuracy": 0.1}
        rows.append(row)
    return rows


def test_length_sweep_claims_read_searched_cells_at_the_chosen_rate_only():
    """The LSTM solves adding at lr 0.01 and learns nothing at 0.001: the rung chose 0.01,
    and the per-length mean a length-sweep claim reads is 0.95, not the grid's average."""
    rows = two_rates()
    frame = frame_of(rows)
    kept = at_chosen_rates(frame)
    assert len(frame) == 12 and len(kept) == 6
    assert {c["train"]["lr"] for c in kept["config"]} == {0.01}
    assert list(summary.by_length(kept)["mean"]) == pytest.approx([0.95, 0.95])


def world(claim: dict, holds: bool) -> list:
    """Synthetic searches on which every check of ``claim`` holds (``holds``) or every
    check fails: a model a check is about reaches 256 and the models it is compared with
    16, or the other way round; extrapolation, quoted accuracies and state sizes likewise."""
    plan: dict[str, dict] = {}
    for c in claim["checks"]:
        if "rises_with_state" in c:
            for i, m in enumerate(c["models"]):
                rank = i if holds else len(c["models"]) - i
                plan.setdefault(m, {})["state_size"] = 16 * (rank + 1)
                plan[m].setdefault("horizon", 8 * 2 ** min(i, 6))
            continue
        me = plan.setdefault(c["model"], {})
        # of two checks on one model, the horizon that meets (or misses) both
        best, worst = max(me.get("horizon", 0), 1024), min(me.get("horizon", 1024), 16)
        if "at_least" in c:
            me["horizon"] = best if holds else min(worst, c["at_least"] // 4)
        elif "below" in c:
            me["horizon"] = c["below"] // 4 if holds else 1024
        elif "above" in c or "at_least_as" in c:
            others = c.get("above", c.get("at_least_as"))
            me["horizon"] = max(me.get("horizon", 0), 256) if holds else worst
            for o in [others] if isinstance(others, str) else others:
                plan.setdefault(o, {})["horizon"] = 16 if holds else 256
        elif "solves_multiple" in c or "fails_multiple" in c:
            good = holds is ("solves_multiple" in c)
            me["horizon"] = 64
            me["at_horizon"] = {str(c.get("solves_multiple", c.get("fails_multiple"))):
                                0.99 if good else 0.1}
        elif "accuracy" in c:
            me["horizon"] = 16
            me["metric"] = {n: next((v for lo, hi, v in c["accuracy"] if lo <= n <= hi), 0.99)
                            if holds else 0.99 for n in (4, 8, 16, 32)}
    rows = []
    for model, p in plan.items():
        horizon = p.get("horizon", 16)
        lengths = [4, 8, 16, 32] if "metric" in p else \
            [n for n in [8, *LADDER[1:]] if n <= 2 * horizon]
        rows.append(search(claim["task"], model, horizon, lengths,
                           at_horizon=p.get("at_horizon"), metric=p.get("metric"),
                           state_size=p.get("state_size", 16)))
    return rows


SHIPPED = [c for c in claims.load() if c["kind"] == "horizon"]


@pytest.mark.parametrize("claim", SHIPPED, ids=[c["id"] for c in SHIPPED])
def test_every_shipped_horizon_claim_holds_and_fails_on_results_that_say_so(claim):
    assert len(SHIPPED) >= 10  # the eight, recall's state size, recall's gates
    params = claim.get("task_params", {})
    for holds, expected in ((True, H.HOLDS), (False, H.FAILS)):
        groups = world(claim, holds)
        for group in groups:
            for row in group:
                row["config"] = {**row["config"], "task_params": params}
        result, evidence = verdict(claim["checks"], *groups, task=claim["task"],
                                   task_params=params)
        assert result == expected, (claim["id"], holds, evidence)


def test_a_reports_task_tables_read_searched_cells_at_the_chosen_rate(tmp_path):
    """The grid's losing rate (0.001, test metric 0.3) is not averaged into the task
    table's mean at a length: the rung chose 0.01 (0.95)."""
    from memorybench.report import render_report
    from tests.test_report import store_of

    rows = two_rates()
    render_report(store_of(tmp_path / "r.db", rows), tmp_path / "rep")
    page = (tmp_path / "rep" / "README.md").read_text("utf-8")
    task = page[page.index("## Task adding"):]
    table = task[:task.index("### Steps to solve")]
    assert "0.950" in table and "0.625" not in table


def test_a_claim_resting_on_a_failure_the_budget_cut_is_not_measured():
    """The LSTM fails T = 128 with every seed still climbing when its 600 steps ran out: a
    claim that it fails below 200 rests on the budget's failure, not the memory's, and is
    not measured; the evidence says why. On a flat curve the same failure decides."""
    climbing = [[100, 0.1, 2.0], [200, 0.1, 2.0], [300, 0.1, 2.0], [400, 0.2, 1.8],
                [500, 0.4, 1.5], [600, 0.6, 1.2]]
    rows = search("copy", "lstm", 64, [8, 16, 32, 64, 128])
    for row in rows:
        row["config"]["train"]["steps"] = 600
        if row["length"] == 128:
            row["metrics"]["curve"] = climbing
    result, evidence = verdict([{"model": "lstm", "below": 200}], rows)
    assert result == H.NOT_MEASURED
    assert "lstm ≥ 64 (budget)" in evidence and "still learning" in evidence
    assert "lstm failed T=128 still learning (↗): that failure is the budget's" in evidence
    assert verdict([{"model": "lstm", "at_least": 64}], rows)[0] == H.HOLDS  # a success stands
    calm = search("copy", "lstm", 64, [8, 16, 32, 64, 128])
    result, evidence = verdict([{"model": "lstm", "below": 200}], calm)
    assert result == H.HOLDS and "↗" not in evidence


def test_a_claim_on_a_model_that_did_not_learn_its_control_is_not_measured():
    rows = search("copy", "lstm", 64, [8, 16, 32, 64, 128]) + search("copy", "gru", 0, [1])
    for row in rows:
        if row["model"] == "gru":
            row["metrics"]["control"] = True
    result, evidence = verdict([{"model": "lstm", "at_least": 64},
                                {"model": "gru", "below": 8}], rows)
    assert result == H.NOT_MEASURED
    assert "gru did not learn the control of copy" in evidence and "not learned" in evidence


def recorded(rows: list, cap: int, suite: str | None = "quick", steps: int = 1000) -> list:
    """``rows`` as a search of ``suite`` stores them: its protocol recorded in each cell."""
    for row in rows:
        row["metrics"]["search"] = {"suite": suite, "cap": cap, "task_cap": cap,
                                    "steps": steps}
        row["config"]["train"] = {**row["config"]["train"], "steps": steps}
    return rows


def test_a_check_past_the_runs_cap_is_not_measured_whatever_else_the_search_did():
    """A quick run stops at 64: the orthogonal RNN failing copy at 32 says nothing the run
    measured of T = 1,000, nor the LSTM solving every length to 64 of T = 200; both read
    "not measured: this run stops at 64", never "does not hold"."""
    rows = recorded(search("copy", "orthogonal", 16, [8, 16, 32]), 64)
    rows += recorded(search("copy", "lstm", 64, [8, 16, 32, 64]), 64)
    result, evidence = verdict([{"model": "lstm", "below": 200},
                                {"model": "orthogonal", "at_least": 1000}], rows)
    assert result == H.NOT_MEASURED
    assert "not measured: this run stops at 64 (the claim asks about T = 1,000)" in evidence
    assert "lstm solved every length up to it" in evidence
    assert "lstm ≥ 64 (capped)" in evidence
    # a length the run trained still decides: the LSTM failing 16 is below 200
    short = recorded(search("copy", "lstm", 8, [8, 16]), 64)
    assert verdict([{"model": "lstm", "below": 200}], short)[0] == H.HOLDS


def test_a_comparison_with_a_model_that_failed_nothing_up_to_the_cap_is_not_measured():
    """Attention solved every length to 64; the Elman RNN too: neither failed a length the
    other solved, and past 64 nothing was trained. So is attention against a model whose
    failure lies past attention's own (lower) cap."""
    rows = recorded(search("recall", "attention", 64, [16, 32, 64]), 64)
    rows += recorded(search("recall", "elman", 64, [16, 32, 64]), 64)
    result, evidence = verdict([{"model": "attention", "above": ["elman"]}], rows,
                               task="recall")
    assert result == H.NOT_MEASURED and "this run stops at 64" in evidence
    rows = recorded(search("recall", "attention", 64, [16, 32, 64]), 64)
    rows += recorded(search("recall", "gru", 128, [16, 32, 64, 128, 256]), 512)
    result, evidence = verdict([{"model": "attention", "above": ["gru"]}], rows, task="recall")
    assert result == H.NOT_MEASURED and "below gru's failure at 256" in evidence


def test_a_horizon_that_is_a_lower_bound_may_not_decide_the_state_size_claim():
    """The GRU, the largest state, failed T = 16 still learning (≥ 8 (budget)): with its
    8 as it stands the horizon falls with the state size; raised past the others (it is
    a lower bound), it rises. The run cannot tell."""
    climbing = [[100, 0.1, 2.0], [200, 0.1, 2.0], [300, 0.1, 2.0], [400, 0.2, 1.8],
                [500, 0.4, 1.5], [1000, 0.6, 1.2]]
    rows = []
    for model, horizon, size in (("elman", 16, 16), ("gru", 8, 64), ("mamba", 32, 32)):
        mine = recorded(search("recall", model, horizon, [8, 16, 32, 64][:[8, 16, 32].index(
            horizon) + 2]), 64)
        for row in mine:
            row["state_size"] = size
            if model == "gru" and row["length"] == 16:
                row["metrics"]["curve"] = climbing
        rows += mine
    result, evidence = verdict([{"models": ["elman", "gru", "mamba"],
                                 "rises_with_state": True}], rows, task="recall")
    assert result == H.NOT_MEASURED and "gru 64 → 8+" in evidence


def test_a_claims_notes_are_this_runs_own_and_quoted_numbers_only_on_the_run_measured():
    """The shipped copy claim's measured note describes the leaderboard v2's run: on a quick
    run it is not shown; the note computed from this run's cells is, with its budget and
    each failure its budget cut; on a search that recorded the v2 suite at its copy
    budget, the measured note is shown (and on the v3 suite, `standard`, it is not)."""
    by_id = {c["id"]: c for c in claims.load()}
    text = by_id["copy-orthogonal-1000"]["text"]
    climbing = [[100, 0.1, 2.0], [200, 0.1, 2.0], [300, 0.1, 2.0], [400, 0.2, 1.8],
                [500, 0.4, 1.5], [1000, 0.6, 1.2]]
    rows = recorded(search("copy", "lstm", 8, [8, 16]), 64)
    for row in rows:
        if row["length"] == 16:
            row["metrics"]["curve"] = climbing
    rows += recorded(search("copy", "orthogonal", 64, [8, 16, 32, 64]), 64)
    frame = frame_of(rows)
    table = claims.evaluate(frame, summary.by_length(frame), searches.results(frame))
    notes = [n for n in table.notes if text in n]
    assert not any("At the suite's budget" in n for n in notes)
    ours = next(n for n in notes if n.startswith(f"On “{text}”, this run:"))
    assert "copy searched at 1,000 steps" in ours and "up to T = 64" in ours
    assert "lstm failed T=16 with 3/3 seeds still learning when their 1,000 steps ran " \
           "out" in ours
    standard = [dict(r, metrics={**r["metrics"], "search": {**r["metrics"]["search"],
                                                            "suite": "standard-v2"}})
                for r in rows]
    frame = frame_of(standard)
    table = claims.evaluate(frame, summary.by_length(frame), searches.results(frame))
    assert any("At the suite's budget" in n for n in table.notes if text in n)
    v3 = [dict(r, metrics={**r["metrics"], "search": {**r["metrics"]["search"],
                                                      "suite": "standard"}}) for r in rows]
    frame = frame_of(v3)
    table = claims.evaluate(frame, summary.by_length(frame), searches.results(frame))
    assert not any("At the suite's budget" in n for n in table.notes if text in n)


def test_every_shipped_text_that_quotes_a_run_names_the_run_it_was_measured_on():
    for claim in claims.load():
        if claim.get("measured") or claim.get("explanation"):
            assert claim.get("measured_on"), claim["id"]
            assert set(claim["measured_on"]) <= {"suite", "steps", "lengths"}, claim["id"]
