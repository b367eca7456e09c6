"""The report's horizon-search section (report/searches.py, report/search_figures.py), from
hand-written searched cells: each seed's horizon beside the bracket, the headline and
learning-curve figures, the score table, the learning-rate rule, budget-cut ("still
learning") brackets, a suite's caps, and one model searched at other settings."""

import json

import pandas as pd
import pytest
from test_report import cell, store_of
from test_report_figures import drawn

from memorybench.report import render_report, search_figures, search_notes, summary
from memorybench.store import Store


def searched(task, model, length, seed, solved, *, causal=True, baseline=False):
    """One stored cell of a horizon search (a test set, one learning rate), with its curve."""
    score = 0.95 if solved else 0.3
    extra = {"validation": {"accuracy": score}, "causal": causal,
             "extrapolation": {"2": score - 0.2}}
    if not baseline:  # a baseline is fitted, not trained by steps: no curve
        extra["curve"] = [[10, score / 2, 1.0], [20, score, 0.5]]
    config = {"task": task, "model": model, "train": {"lr": 0.01, "test_size": 32},
              "model_kind": "baseline" if baseline else "network"}
    row = cell(task, model, length, seed, score, extra=extra, config=config,
               key=f"s-{task}-{model}-{length}-{seed}", state_size=16)
    if baseline:
        del row["metrics"]["curve"]
    return row


def search_rows():
    # copy × lstm: seed 0 solves 8-32, seed 1 8-16, seed 2 only 8: the majority's bracket
    # is [16, 32), the seeds' own horizons ≥ 32, 16 and 8.
    solves = {0: (8, 16, 32), 1: (8, 16), 2: (8,)}
    rows = [searched("copy", "lstm", n, seed, n in solves[seed]) for n in (8, 16, 32)
            for seed in range(3)]
    rows += [searched("copy", "birnn", n, seed, n == 8, causal=False) for n in (8, 16)
             for seed in range(3)]
    rows += [searched("copy", "ridge-window", n, seed, False, baseline=True) for n in (8, 16)
             for seed in range(3)]
    rows += [searched("adding", "lstm", n, seed, n == 8) for n in (8, 16) for seed in range(2)]
    return rows


@pytest.fixture
def search_store(tmp_path):
    return store_of(tmp_path / "h.db", search_rows())


def test_the_search_table_gives_each_seed_its_own_horizon_beside_the_bracket(search_store):
    from memorybench.report import searches

    found = searches.results(summary.normalise(Store(search_store, readonly=True).frame()))
    table = searches.search_table(found)
    column = table.headers.index("horizon")
    assert table.headers[column + 1] == "each seed's horizon"
    rows = {(r[0], r[3]): r for r in table.rows}
    assert len(rows) == 4
    assert rows["lstm", "copy"][column:column + 2] == ["[16, 32)",
                                                       "0: ≥ 32, 1: [16, 32), 2: [8, 16)"]
    assert rows["birnn", "copy"][column:column + 2] == ["[8, 16)",
                                                        "0: [8, 16), 1: [8, 16), 2: [8, 16)"]
    assert rows["ridge-window", "copy"][column:column + 2] == ["< 8", "0: < 8, 1: < 8, 2: < 8"]
    assert searches.SEED_RULE in table.notes and searches.SCORE_RULE in table.notes
    assert [r[1] for r in table.rows] == ["network", "network", "network, non-causal",
                                          "baseline"]  # ranked, the others apart


def test_the_headline_figure_ticks_each_seed_and_rules_off_the_groups(search_store,
                                                                       monkeypatch):
    from memorybench.report import searches

    found = searches.results(summary.normalise(Store(search_store, readonly=True).frame()))
    kept = drawn(monkeypatch)
    shown = [{**s, "label": searches.display(s), "group": searches.group_of(s)} for s in found]
    search_figures.search_figure(shown, searches.model_labels(found))
    panels = {ax.get_title(): ax for ax in kept[0].axes}
    ticks = {task: sorted(x for line in panels[task].lines if line.get_gid() == "seed"
                          for x in line.get_xdata()) for task in ("adding", "copy")}
    assert ticks == {"copy": sorted([32, 16, 8] + [8, 8, 8]), "adding": [8, 8]}
    ax = panels["copy"]
    assert [t.get_text() for t in kept[0].axes[0].get_yticklabels()] == [
        "lstm", "birnn (non-causal)", "ridge-window (baseline)"]
    rules = [line for line in ax.lines if line.get_gid() is None and
             list(line.get_xdata()) == [0, 1]]  # axhline: a line across the axes
    assert sorted(line.get_ydata()[0] for line in rules) == [0.5, 1.5]


def test_the_report_has_a_learning_curve_figure_per_searched_task(search_store, monkeypatch,
                                                                   tmp_path):
    kept = drawn(monkeypatch)
    render_report(search_store, tmp_path / "r")
    curves = [f for f in kept if f.get_suptitle().endswith("learning curves, one line per seed")]
    assert sorted(f.get_suptitle().split(":")[0] for f in curves) == ["adding", "copy"]
    copy = next(f for f in curves if f.get_suptitle().startswith("copy"))
    solved, failed = ([line for line in ax.lines if line.get_gid() == "seed-curve"]
                      for ax in copy.axes)
    assert len(solved) == len(failed) == 6  # lstm's and birnn's three seeds; no baseline
    assert {tuple(line.get_xdata()) for line in solved} == {(10, 20)}
    labels = [t.get_text() for t in copy.axes[0].get_legend().get_texts()]
    assert "lstm, T=16" in labels and "birnn (non-causal), T=8" in labels
    readme = (tmp_path / "r" / "README.md").read_text("utf-8")
    section = readme[readme.index("## Horizon search"):readme.index("## Task ")]
    assert "## Memory horizon" not in readme  # a report of searches alone: one notation
    for task in ("adding", "copy"):
        assert f"(figures/curves-{task}.png)" in section
        assert (tmp_path / "r" / "figures" / f"curves-{task}.png").exists()
    assert "### Learning curves" in section and "### Length extrapolation" in section
    html = (tmp_path / "r" / "index.html").read_text("utf-8")
    assert 'alt="Task copy: held-out (validation) metric against training step' in html
    render_report(search_store, tmp_path / "again")
    for page in ("index.html", "README.md"):
        assert (tmp_path / "again" / page).read_bytes() == (tmp_path / "r" / page).read_bytes()


def test_the_search_rule_says_where_the_learning_rate_grid_was_trained():
    from memorybench.report import searches

    def rows_of(held: bool):
        rows = [searched("copy", "lstm", n, seed, n == 8) for n in (8, 16) for seed in range(3)]
        for seed in range(3):  # a second rate at the first rung, and at 16 unless held
            for n in (8,) if held else (8, 16):
                row = searched("copy", "lstm", n, seed, False)
                row["key"] += "-slow"
                row["config"] = {**row["config"], "train": {"lr": 0.001, "test_size": 32}}
                rows.append(row)
        return rows

    for held, expected in ((True, search_notes.FIRST_RUNG), (False, search_notes.EVERY_RUNG)):
        found = searches.results(summary.normalise(pd.DataFrame(
            [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()}
             for r in rows_of(held)])))
        assert found and expected in searches.search_rule(found)
        assert found[0]["bracket"] == "[8, 16)"


def test_the_score_table_ranks_models_with_their_horizon_on_each_task(search_store):
    from memorybench.report import searches

    found = searches.results(summary.normalise(Store(search_store, readonly=True).frame()))
    table = searches.score_table(found)
    assert table.headers == ["model", "memory score", "adding", "copy"]
    assert [r[0] for r in table.rows] == ["lstm", "birnn (non-causal)",
                                          "ridge-window (baseline)"]
    lstm, birnn, ridge = table.rows
    assert lstm[2:] == ["[8, 16)", "[16, 32)"] and ridge[2:] == ["—", "< 8"]
    assert float(lstm[1]) > float(birnn[1]) > float(ridge[1]) == 0
    html = render_report(search_store, search_store.parent / "r") and \
        (search_store.parent / "r" / "index.html").read_text("utf-8")
    assert html.index('id="score-table"') < html.index('id="search-table"') < \
        html.index('id="claims"') < html.index('id="task-adding"')
    assert 'id="horizon"' not in html and 'href="#horizon"' not in html


def test_a_horizon_the_budget_cut_is_marked_where_its_failed_length_was_still_learning():
    """copy × lstm fails T = 16 with 2 of 3 seeds still climbing when their 600 steps ran
    out: its bracket reads "[8, 16) ↗" and the rule says why; copy × gru fails T = 16 on a
    flat curve and is not marked."""
    from memorybench.report import searches

    climbing = [[100, 0.1, 2.0], [200, 0.1, 2.0], [300, 0.1, 2.0], [400, 0.2, 1.8],
                [500, 0.4, 1.5], [600, 0.6, 1.2]]
    flat = [[s, 0.12, 2.0] for s in range(100, 700, 100)]
    rows = []
    for model, failing in (("lstm", {0: climbing, 1: climbing, 2: flat}),
                           ("gru", {0: flat, 1: flat, 2: climbing})):
        for n in (8, 16):
            for seed in range(3):
                row = searched("copy", model, n, seed, n == 8)
                row["config"]["train"]["steps"] = 600
                if n == 16:
                    row["metrics"]["curve"] = failing[seed]
                rows.append(row)
    found = searches.results(summary.normalise(pd.DataFrame(
        [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()}
         for r in rows])))
    by = {s["model"]: s for s in found}
    assert by["lstm"]["rising"] == (2, 3) and by["gru"]["rising"] == (1, 3)
    scores = {r[0]: r[2] for r in searches.score_table(found).rows}
    assert scores == {"lstm": "≥ 8 (budget)", "gru": "[8, 16)"}
    assert searches.RISING_RULE in searches.score_table(found).notes
    assert ("Of the 2 networks' searches that failed a length, 1 failed it still learning "
            "(↗): copy 1 of 2.") in searches.score_table(found).notes
    table = searches.search_table(found)
    column = table.headers.index("at the failed length")
    assert {r[0]: r[column] for r in table.rows} == {
        "lstm": "2/3 seeds still learning", "gru": "1/3 seeds still learning"}
    solved = [s for s in found if s["model"] == "gru"]  # no marked search: no rule
    assert searches.RISING_RULE not in searches.score_table(solved).notes


def frame_of(rows):
    return summary.normalise(pd.DataFrame(
        [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()} for r in rows]))


def test_a_suites_protocol_closes_a_search_solved_to_its_cap_and_scores_on_the_tasks_ladder():
    """copy × lstm solved 8 and 16, copy × gru failed 32, cells that recorded no protocol
    (an earlier memorybench's): without a suite lstm reads "≥ 16 (open)", short of the task
    spec's cap; with its cap at 16 (a model cap, as attention's) it is closed, and scored on
    the task's ladder (to 64 here), log2(16) / log2(64), not a full mark: a censored lower
    bound."""
    from memorybench.report import searches

    rows = [searched("copy", "lstm", n, seed, True) for n in (8, 16) for seed in range(3)]
    rows += [searched("copy", "gru", n, seed, n < 32) for n in (8, 16, 32) for seed in range(3)]
    frame = frame_of(rows)
    plain = {s["model"]: s for s in searches.results(frame)}
    assert plain["lstm"]["bracket"] == "≥ 16 (open)"
    assert any("(open)" in note for note in searches.score_table(list(plain.values())).notes)
    assert searches.coverage(list(plain.values()))["lstm"] == (0, 1)  # no horizon yet
    capped = {s["model"]: s for s in searches.results(frame, {
        ("copy", "lstm"): {"cap": 16, "task_cap": 64},
        ("copy", "gru"): {"cap": 64, "task_cap": 64}})}
    assert capped["lstm"]["bracket"] == "≥ 16 (censored)"
    assert capped["gru"]["bracket"] == "[16, 32)"
    assert capped["lstm"]["score"] == pytest.approx(4 / 6)
    assert capped["gru"]["score"] == pytest.approx(4 / 6)
    assert capped["lstm"]["censored"] and not capped["gru"]["censored"]
    assert searches.marked(capped["lstm"]) == "≥ 16 (censored)"
    found = list(capped.values())
    assert searches.coverage(found) == {"lstm": (0, 1), "gru": (1, 1)}
    assert searches.scores(found) == {"lstm": 0.0, "gru": pytest.approx(4 / 6)}


def test_a_search_is_read_by_the_protocol_its_cells_recorded_and_a_suite_overrides_it():
    """Cells that recorded their search's protocol (a ladder capped at 16, 600 steps) read
    "≥ 16 (capped)", scored 1.0, with no suite named; a suite's protocol given to the report
    wins over the recorded one; the rule names the ladders and the budget read."""
    from memorybench.report import searches

    rows = [searched("copy", "lstm", n, seed, True) for n in (8, 16) for seed in range(3)]
    for row in rows:
        row["metrics"]["search"] = {"cap": 16, "task_cap": 16, "ladder": [8, 16],
                                    "factor": 2.0, "steps": 600}
        row["config"]["train"] = {**row["config"]["train"], "steps": 600, "batch_size": 32}
    found = searches.results(frame_of(rows))
    assert found[0]["bracket"] == "≥ 16 (capped)" and found[0]["score"] == 1.0
    assert found[0]["protocol"]["cap"] == 16 and found[0]["steps"] == 600
    assert "copy 8 to 16; 600 steps of 32 sequences" in searches.search_rule(found)
    wider = searches.results(frame_of(rows), {("copy", "lstm"): {"cap": 64, "task_cap": 64}})
    assert wider[0]["bracket"] == "≥ 16 (open)" and wider[0]["score"] == pytest.approx(4 / 6)


def test_a_baseline_shows_no_learning_rate_and_each_seed_reads_in_the_brackets_notation():
    """A seed that failed a length the majority solved, and solved a longer one all the
    same (attention's copy seed 0 on the committed leaderboard: failed 128, solved 256)
    reads "[64, 128) (solves 256)" beside the majority's "≥ 256"; a baseline's learning-rate
    column is empty, as its search line has none."""
    from memorybench.horizon import text
    from memorybench.report import searches

    solves = {0: (8, 16, 64), 1: (8, 16, 32, 64), 2: (8, 16, 32, 64)}
    rows = [searched("copy", "attention", n, seed, n in solves[seed]) for n in (8, 16, 32, 64)
            for seed in range(3)]
    rows += [searched("copy", "ridge-window", n, seed, n == 8, baseline=True)
             for n in (8, 16) for seed in range(3)]
    found = {s["model"]: s for s in searches.results(frame_of(rows), {
        ("copy", "attention"): {"cap": 64, "task_cap": 64},
        ("copy", "ridge-window"): {"cap": 64, "task_cap": 64}})}
    table = searches.search_table(list(found.values()))
    by = {r[0]: dict(zip(table.headers, r, strict=True)) for r in table.rows}
    assert by["attention"]["horizon"] == "≥ 64 (capped)"
    assert by["attention"]["each seed's horizon"] == (
        "0: [16, 32) (solves 64), 1: ≥ 64, 2: ≥ 64")
    assert by["ridge-window"]["learning rate"] == "—" and by["attention"]["learning rate"]
    s = found["ridge-window"]
    line = text.describe("copy", "ridge-window", s["state"], s["rungs"], 64, baseline=True)
    assert "lr" not in line.split("seeds' horizons")[1]
    assert "lr 0.01" in text.describe("copy", "attention", found["attention"]["state"],
                                      found["attention"]["rungs"], 64)


def test_searches_of_one_model_at_other_settings_are_rows_apart_never_averaged():
    """mamba searched at 1 and at 2 layers: two rows of the score table, each with its own
    horizon and score, named by the setting that differs (the width the budget chose
    differs too, and is not named); a model searched at one setting keeps its plain name."""
    from memorybench.report import searches

    rows = []
    for layers, hidden, solves, lengths in ((1, 40, (8,), (8, 16)),
                                            (2, 31, (8, 16, 32), (8, 16, 32, 64))):
        for n in lengths:
            for seed in range(3):
                row = searched("copy", "mamba", n, seed, n in solves)
                row["key"] += f"-{layers}"
                row["config"]["model_params"] = {"layers": layers, "hidden": hidden,
                                                 "target_params": 20000}
                rows.append(row)
    rows += [searched("copy", "lstm", n, seed, n == 8) for n in (8, 16) for seed in range(3)]
    found = searches.results(summary.normalise(pd.DataFrame(
        [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()}
         for r in rows])))
    assert len(found) == 3
    table = {r[0]: r[1:] for r in searches.score_table(found).rows}
    assert set(table) == {"mamba [layers=1]", "mamba [layers=2]", "lstm"}
    assert table["mamba [layers=1]"][1] == "[8, 16)" and table["mamba [layers=2]"][1] == "[32, 64)"
    assert float(table["mamba [layers=2]"][0]) > float(table["mamba [layers=1]"][0])
    assert {r[0] for r in searches.search_table(found).rows} == set(table)
    from memorybench.report import horizon_claims  # a claim names the variant it read

    _, evidence = horizon_claims.evaluate({"task": "copy", "checks": [
        {"model": "mamba", "at_least": 32}]}, found)
    assert "mamba [layers=2] [32, 64)" in evidence


def test_a_search_that_failed_its_control_reads_not_learned_and_counts_in_no_score():
    """copy × gru failed its control (T = 1, cells marked so by the search): "not learned",
    not "< 1"; its score is over the tasks it learned, with the coverage beside it. A first
    rung that was no control still reads "< 8"."""
    from memorybench.report import searches

    rows = []
    for seed in range(3):
        control = searched("copy", "gru", 1, seed, False)
        control["metrics"]["control"] = True
        rows += [control, searched("copy", "elman", 8, seed, False),
                 searched("adding", "gru", 8, seed, True), searched("adding", "gru", 16, seed,
                                                                    False)]
    found = searches.results(summary.normalise(pd.DataFrame(
        [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()}
         for r in rows])))
    by = {(s["task"], s["model"]): s for s in found}
    assert by["copy", "gru"]["bracket"] == "not learned" and by["copy", "gru"]["not_learned"]
    assert by["copy", "elman"]["bracket"] == "< 8" and not by["copy", "elman"]["not_learned"]
    assert searches.coverage(found) == {"gru": (1, 2), "elman": (1, 1)}
    assert searches.scores(found)["gru"] == by["adding", "gru"]["score"] > 0
    table = searches.score_table(found)
    gru = next(r for r in table.rows if r[0] == "gru")
    assert gru[1].endswith("(1 of 2)") and "not learned" in gru
    assert searches.NOT_LEARNED_RULE in table.notes
    assert any(n.startswith("1 of the 3 searches did not learn their control: copy × gru")
               for n in table.notes)


@pytest.mark.parametrize("task", ["x/../../../PWNED", "/tmp/abs/PWNED", "..", "a\x00b",
                                  "Copy Task"])
def test_a_task_name_from_a_results_file_stays_one_file_inside_the_report(task, tmp_path,
                                                                         monkeypatch):
    """Figure names come from task names in results files: untrusted input. Whatever a name
    holds, its figures are plain files in the report's figures/ folder, and nothing is
    written anywhere else."""
    monkeypatch.chdir(tmp_path)
    rows = [searched(task, "lstm", n, seed, n == 8) for n in (8, 16) for seed in range(3)]
    rows += [searched("copy", "lstm", n, seed, n == 8) for n in (8, 16) for seed in range(3)]
    work = tmp_path / "deep" / "er" / "work"
    work.mkdir(parents=True)
    render_report(store_of(work / "h.db", rows), work / "rep")
    outside = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                     if p.is_file() and not p.is_relative_to(work))
    assert outside == []
    figures = sorted(p.name for p in (work / "rep" / "figures").iterdir())
    assert "curves-copy.png" in figures  # a plain name keeps its file name
    others = [f for f in figures if f.startswith("curves-") and f != "curves-copy.png"]
    assert len(others) == 1 and "/" not in others[0] and "\x00" not in others[0]
    assert sorted(p.name for p in work.iterdir()) == ["h.db", "rep"]


def test_a_report_file_outside_the_report_is_refused_before_anything_is_written(tmp_path):
    from memorybench.report.output import file_name, write_atomically

    assert file_name("curves-copy") == "curves-copy"
    assert file_name("x/../../PWNED") != file_name("x/../../PWNEd")
    assert "/" not in file_name("x/../../PWNED") and ".." not in file_name("x/../../PWNED")
    with pytest.raises(RuntimeError, match="outside the report"):
        write_atomically(tmp_path / "rep", {"figures/../../PWNED.png": b"x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_stores_length_sweep_keeps_its_memory_horizon_section_without_the_searches(tmp_path):
    """A store of searches and a length sweep (`run`) of another model: the "Memory
    horizon" section is the sweep's alone; the searched models are the horizon search
    section's, in its notation, and not read again as "none" or "8" there."""
    rows = search_rows() + [cell("copy", "gru", n, seed, 0.95 if n == 10 else 0.2)
                            for n in (10, 20) for seed in range(2)]
    render_report(store_of(tmp_path / "h.db", rows), tmp_path / "r")
    readme = (tmp_path / "r" / "README.md").read_text("utf-8")
    section = readme.split("## Memory horizon")[1].split("\n## ")[0]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert [line.split("|")[1].strip() for line in table[1:]] == ["gru"]
    assert "| lstm " not in section and "| birnn " not in section
