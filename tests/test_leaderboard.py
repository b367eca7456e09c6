"""The leaderboard is rebuilt from committed results, and a stale committed report is caught."""

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from test_report import cell, store_of

from memorybench.report import render_report
from memorybench.report.leaderboard import stale_files
from memorybench.store import Store, results

from conftest import TINY

ROOT = Path(__file__).resolve().parent.parent


SUITE = """
tasks = ["adding"]
models = ["gru", "elman"]
lengths = { adding = [4, 6] }
seeds = [0, 1]

[train]
steps = 6
eval_every = 3
batch_size = 8
eval_size = 32

[model]
hidden = 8
"""


def test_leaderboard_rebuilds_from_results_and_check_catches_staleness(invoke, tmp_path):
    (tmp_path / "lb.toml").write_text(SUITE)
    assert invoke("run", "--suite", "lb.toml", "--workers", "1", "--quiet").exit_code == 0
    # a cell of another sweep in the same store is left out of the leaderboard
    assert invoke("run", "--task", "adding", "--model", "gru", "--lengths", "5",
                  *TINY).exit_code == 0
    built = invoke("leaderboard", "--db", "results/memorybench.db", "--suite", "lb.toml",
                   "--sweep", "--results", "lb.jsonl", "--out", "lb")
    assert built.exit_code == 0, built.output
    assert "left out 1 stored cells that are not in suite lb.toml" in built.stderr
    assert "| model / task" in built.stdout and "gru" in built.stdout
    assert (tmp_path / "lb" / "README.md").exists() and (tmp_path / "lb" / "index.html").exists()
    assert len((tmp_path / "lb.jsonl").read_text().splitlines()) == 8

    fresh = invoke("leaderboard", "--results", "lb.jsonl", "--out", "lb", "--check")
    assert fresh.exit_code == 0 and "up to date" in fresh.stderr

    lines = (tmp_path / "lb.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["metric"] = 1.0 - (row["metric"] or 0.0)  # the results moved; the report did not
    (tmp_path / "lb.jsonl").write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    stale = invoke("leaderboard", "--results", "lb.jsonl", "--out", "lb", "--check")
    assert stale.exit_code == 1 and "is stale" in stale.stderr


def test_an_unfinished_suite_is_refused_and_nothing_is_written(invoke, tmp_path):
    (tmp_path / "lb.toml").write_text(SUITE.replace("[4, 6]", "[4, 6, 8]"))
    assert invoke("run", "--task", "adding", "--model", "gru", "--lengths", "5",
                  *TINY).exit_code == 0
    result = invoke("leaderboard", "--db", "results/memorybench.db", "--suite", "lb.toml",
                    "--sweep", "--results", "lb.jsonl", "--out", "lb")
    assert result.exit_code == 2
    assert "lacks 12 of the 12 cells of suite lb.toml" in result.output
    assert not (tmp_path / "lb.jsonl").exists() and not (tmp_path / "lb").exists()


HORIZON = SUITE + """
[horizon]
tasks = ["adding"]
models = ["elman"]
seeds = [0]
lrs = [1e-2]
multiples = [2]
test_size = 32
ladders = { adding = { start = 4, cap = 8 } }
"""


def test_the_leaderboard_of_a_horizon_suite_holds_its_searched_cells(invoke, tmp_path):
    (tmp_path / "h.toml").write_text(HORIZON)
    (tmp_path / "open.toml").write_text(HORIZON.replace('models = ["elman"]\nseeds',
                                                        'models = ["elman", "gru"]\nseeds'))
    # tiny networks fail the first rung: the search closes at one length, and reports
    search = invoke("horizon", "--suite", "h.toml", "--db", "h.db", "--workers", "1",
                    "--quiet")
    assert search.exit_code == 0, search.output
    assert invoke("run", "--suite", "h.toml", "--db", "h.db", "--workers", "1",
                  "--quiet").exit_code == 0  # the length sweep: left out
    built = invoke("leaderboard", "--db", "h.db", "--suite", "h.toml",
                   "--results", "lb.jsonl", "--out", "lb")
    assert built.exit_code == 0, built.output
    rows = [json.loads(line) for line in (tmp_path / "lb.jsonl").read_text().splitlines()]
    assert rows and all(r["config"]["train"]["test_size"] == 32 for r in rows)
    assert "left out 8 stored cells" in built.stderr  # the length sweep's
    # what it prints is the search's bracket, not a length-sweep horizon
    assert "| model" in built.stdout and "memory score" in built.stdout
    elman = next(line for line in built.stdout.splitlines() if line.startswith("| elman"))
    # tiny networks fail the control (the search trains it first): not learned, scored on 0
    assert "not learned" in elman and "(0 of 1)" in elman or "≥ 8" in elman or "[" in elman, \
        elman
    assert "## Horizon search" in (tmp_path / "lb" / "README.md").read_text()
    assert "## Since" not in (tmp_path / "lb" / "README.md").read_text()  # no earlier run
    # against an earlier run of the same searches: what moved, here nothing
    shutil.copy(tmp_path / "lb.jsonl", tmp_path / "old.jsonl")
    since = invoke("leaderboard", "--results", "lb.jsonl", "--suite", "h.toml", "--out", "lb",
                   "--since", "old.jsonl", "--since-suite", "h.toml")
    assert since.exit_code == 0, since.output
    page = (tmp_path / "lb" / "README.md").read_text()
    assert "## Since h.toml" in page and ("0 of the 1 (task, model) pairs searched in both "
                                          "runs read otherwise than in h.toml; 1 read the "
                                          "same.") in page
    assert invoke("leaderboard", "--results", "lb.jsonl", "--suite", "h.toml", "--out", "lb",
                  "--since", "old.jsonl", "--since-suite", "h.toml", "--check").exit_code == 0
    # and against the same searches at another size (here the same run): nothing separates
    sized = invoke("leaderboard", "--results", "lb.jsonl", "--suite", "h.toml", "--out", "lb",
                   "--sizes", "old.jsonl", "--sizes-suite", "h.toml")
    assert sized.exit_code == 0, sized.output
    page = (tmp_path / "lb" / "README.md").read_text()
    assert "## Horizon against size" in page and "## Since" not in page
    assert "no length separates them: 1." in page
    unfinished = invoke("leaderboard", "--db", "h.db", "--suite", "open.toml", "--horizon",
                        "--results", "open.jsonl", "--out", "open")
    assert unfinished.exit_code == 2
    assert "1 of the 2 searches of suite open.toml are still open (adding × gru first)" in \
        unfinished.stderr
    assert not (tmp_path / "open.jsonl").exists()


def committed_leaderboard() -> tuple[str, str]:
    """(results file, suite) the committed report was built from, as its first lines name
    the file: the leaderboard v2 until the v3 run has closed and replaced it."""
    head = (ROOT / "reports" / "leaderboard" / "README.md").read_text().splitlines()[2]
    match = re.match(r"Results store `(standard(?:-v2)?)\.jsonl`", head)
    assert match, head
    return f"{match[1]}.jsonl", match[1]


@pytest.mark.skipif(not (ROOT / "results" / "standard-v2.jsonl").exists(),
                    reason="no standard-suite results are committed yet")
def test_the_committed_leaderboard_is_up_to_date(invoke):
    name, suite = committed_leaderboard()
    result = invoke("leaderboard", "--results", str(ROOT / "results" / name),
                    "--suite", suite,
                    "--out", str(ROOT / "reports" / "leaderboard"), "--check")
    assert result.exit_code == 0, result.stderr


def test_the_ci_gate_can_see_every_model_get_worse():
    """A gate only notices a model getting worse where it learned something: in the
    committed ci baseline, every network beats chance by 0.2 or more (mean over seeds) at
    some length of at least four of the six tasks."""
    from memorybench.catalog import is_baseline, model_names

    frame = results.load(ROOT / "results" / "ci-baseline.jsonl")
    every_network = {m for m in model_names() if not is_baseline(m)}
    assert every_network
    networks = frame[~frame["model"].map(is_baseline)]
    gap = (networks.assign(gap=networks["metric"] - networks["chance"])
           .groupby(["model", "task", "length"])["gap"].mean()
           .groupby(["model", "task"]).max())
    learned = (gap >= 0.2).groupby("model").sum()
    assert set(learned.index) == every_network and (learned >= 4).all(), learned.to_dict()


def rendered_pair(tmp_path):
    """A fresh render and a committed copy of it: a report of two lengths of copy."""
    with Store(tmp_path / "s.db") as store:
        for n in (10, 20):
            store.put(cell("copy", "lstm", n, 0, 0.5))
    fresh, committed = tmp_path / "fresh", tmp_path / "committed"
    render_report(tmp_path / "s.db", fresh)
    shutil.copytree(fresh, committed)
    return fresh, committed


def test_a_changed_table_cell_in_the_committed_html_makes_it_stale(tmp_path):
    fresh, committed = rendered_pair(tmp_path)
    assert stale_files(fresh, committed) == []
    page = committed / "index.html"
    text = page.read_text("utf-8")
    assert text.count("<td>0.500") >= 1  # the mean of a table cell, whatever follows it
    page.write_text(text.replace("<td>0.500", "<td>0.600", 1), "utf-8")
    assert stale_files(fresh, committed) == ["index.html"]
    page.unlink()
    assert stale_files(fresh, committed) == ["index.html"]


def test_other_plotting_versions_do_not_make_the_html_stale(tmp_path):
    """Another matplotlib encodes the same figure in other PNG bytes: inlined in the HTML
    and in figures/, with another version line; none of it is a stale report."""
    fresh, committed = rendered_pair(tmp_path)
    other = base64.b64encode(b"\x89PNG other encoder" * 40).decode("ascii")
    page = committed / "index.html"
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64," + other,
                  page.read_text("utf-8"))
    text = re.sub(r"Figures drawn with [^<]*", "Figures drawn with matplotlib 0.0", text)
    assert text != (fresh / "index.html").read_text("utf-8")
    page.write_text(text, "utf-8")
    for png in (committed / "figures").glob("*.png"):
        png.write_bytes(b"\x89PNG other encoder")
    assert stale_files(fresh, committed) == []


def test_plotting_versions_do_not_make_a_report_stale(tmp_path):
    rows = [cell("copy", "lstm", n, 0, 0.5) for n in (10, 20)]
    fresh = tmp_path / "fresh"
    render_report(store_of(tmp_path / "s.db", rows), fresh)
    committed = tmp_path / "committed"
    shutil.copytree(fresh, committed)
    readme = committed / "README.md"
    text = readme.read_text()
    readme.write_text(text.replace("- Figures drawn with matplotlib",
                                   "- Figures drawn with matplotlib 0.0 (older),"))
    assert stale_files(fresh, committed) == []
    readme.write_text(text.replace("| lstm ", "| LSTM ", 1))
    assert stale_files(fresh, committed) == ["README.md"]
