"""`memorybench report` from small hand-written stores (no training, a few seconds): every
section and figure, well-formed and reproducible pages, hostile names as text, the horizon
rule and its "failed", Markdown escaping, the contents line, attractor buckets, the
Student-t interval, the training-time table and its wall clock; and `report --out` keeps
what a user put in its folders."""

import ast
import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from memorybench.cli import cli
from memorybench.report import facts, render_report, summary, tables
from memorybench.store import Store

from conftest import TINY, one_line_exit_2

HOSTILE = "<script>alert(1)</script>"
VOID = {"meta", "img", "br", "hr", "link", "input"}


def cell(task, model, length, seed, score, *, status="ok", chance=0.125, threshold=0.9,
         extra=None, **fields):
    """One stored row as `memorybench run` would write it."""
    metrics = {"accuracy": score, "curve": [[10, score, 1.0 - score]], **(extra or {})}
    row = {"key": f"{task}-{model}-{length}-{seed}", "task": task, "model": model,
           "length": length, "seed": seed, "status": status, "metric_name": "accuracy",
           "metric": score, "chance": chance, "solved_threshold": threshold,
           "solved": status == "ok" and score >= threshold, "loss": 0.1, "steps": 100,
           "steps_to_solve": 50 if status == "ok" and score >= threshold else None,
           "diverged_step": None, "wall_time": 1.5, "params": 1000 + len(model),
           "device": "cpu", "error": None, "finished_at": f"2026-01-0{1 + seed}T10:00:00+00:00",
           "metrics": metrics, "config": {"task": task},
           "versions": {"memorybench": "0.1.0", "torch": "2.13.0", "numpy": "2.4",
                        "python": "3.11", "git": "abc1234"}}
    row.update(fields)
    return row


def fixture_rows():
    rows = []
    # copy: lengths span two decades; lstm solves 10 and 100; gru solves 10, fails 100,
    # solves 1000 (its horizon stops at 10); the hostile model solves nothing.
    solved = {"lstm": [0.99, 0.95, 0.3], "gru": [0.97, 0.2, 0.95], HOSTILE: [0.2, 0.1, 0.1]}
    for model, scores in solved.items():
        for length, score in zip([10, 100, 1000], scores, strict=True):
            for seed in range(3):
                ce = {"cross_entropy": 0.01 if score > 0.9 else 0.2,
                      "cross_entropy_baseline": 10 * math.log(8) / (length + 20)}
                rows.append(cell("copy", model, length, seed, score + 0.01 * seed, extra=ce))
    rows.append(cell("copy", "gru", 1000, 3, math.nan, status="diverged", diverged_step=42,
                     metric=None, key="copy-gru-diverged"))
    rows.append(cell("copy", "lstm", 1000, 3, 0.0, status="failed", metric=None,
                     error="RuntimeError: out of memory\ntraceback...", key="copy-lstm-failed"))
    # adding at published lengths: lstm beats the memoryless MSE as in Arjovsky et al.
    for length in (100, 200):
        for seed in range(2):
            rows.append(cell("adding", "lstm", length, seed, 0.9, chance=0.0784, threshold=0.8,
                             extra={"mse": 0.001, "mse_baseline": 1 / 6}))
    # agreement: accuracy by attractors, an elman model tested against the lecture's claim.
    for model in ("elman", "lstm"):
        for length in (5, 10, 20, 40):
            acc = 0.95 if model == "lstm" else max(0.5, 1 - length / 50)
            by = {str(k): acc - 0.05 * k for k in range(4)}
            rows.append(cell("agreement", model, length, 0, acc, chance=0.5, threshold=0.85,
                             extra={"by_attractors": by}))
    # forecasting: R² beside the task's metric; a classical baseline is a model like any other.
    for model in ("lstm", "ridge-window"):
        for length in (10, 50):
            for seed in range(2):
                rows.append(cell("forecast", model, length, seed, 0.6 + 0.1 * seed, chance=0.1,
                                 threshold=0.5, extra={"r2": 0.7 - 0.1 * seed, "mse": 0.3}))
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "fixture.db"
    with Store(path) as s:
        for row in fixture_rows():
            s.put(row)
    return path


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "latest"
    render_report(store, out)
    return out


class Checker(HTMLParser):
    """Collects text, tags and <img> sources; fails on a closing tag that does not match."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.text, self.images, self.ids = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parsed(report):
    checker = Checker()
    checker.feed((report / "index.html").read_text("utf-8"))
    checker.close()
    assert checker.stack == [], checker.stack  # every element closed
    return checker


def test_html_has_every_section_and_embeds_its_figures(report):
    page = parsed(report)
    for anchor in ["horizon", "task-copy", "task-adding", "task-agreement", "task-forecast",
                   "references", "facts", "horizon-table", "task-copy-scores",
                   "task-copy-steps", "task-agreement-attractors", "task-forecast-r2",
                   "references-matched", "references-context", "not-ok", "params",
                   "versions"]:
        assert anchor in page.ids, anchor
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert len(page.images) == 1 + 4 + 1 + 1  # horizon, 4 tasks, attractors, r2
    text = " ".join(page.text)
    for phrase in ["Memory horizon", "majority of its seeds", "Steps to solve",
                   "Accuracy by number of attractors", "R² beside accuracy",
                   "Arjovsky, Shah & Bengio 2016", "Yogatama et al. 2018",
                   "abc1234", "2026-01-04T10:00:00+00:00", "Total training time",
                   "loss not finite at step 42", "RuntimeError: out of memory", "torch"]:
        assert phrase in text, phrase


def test_hostile_names_are_text_not_markup(report):
    html = (report / "index.html").read_text("utf-8")
    page = parsed(report)
    assert "script" not in page.tags
    assert HOSTILE in " ".join(page.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    readme = (report / "README.md").read_text("utf-8")
    assert "<script" not in readme and "&lt;script&gt;alert(1)&lt;/script&gt;" in readme


def split_row(line):
    """The cells of a Markdown table row; an escaped pipe stays inside its cell."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_is_well_formed_and_its_figures_exist(report):
    lines = (report / "README.md").read_text("utf-8").splitlines()
    tables, current = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 12
    for table in tables:
        widths = {len(split_row(line)) for line in table}
        assert len(widths) == 1, table
        assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1]), table[1]
    for heading in ["## Memory horizon", "## Task copy", "## Task agreement",
                    "### Accuracy by number of attractors", "### R² beside accuracy",
                    "## Published results", "## Run facts", "### Cells that diverged or failed"]:
        assert heading in lines, heading
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", "\n".join(lines))
    assert len(images) == 7
    for image in images:
        assert (report / image).read_bytes().startswith(b"\x89PNG")


def test_same_store_gives_the_same_bytes(store, report, tmp_path):
    again = tmp_path / "again"
    render_report(store, again)
    first = {p.relative_to(report): p.read_bytes() for p in report.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name


def test_horizon_follows_the_rule(store):
    frame = summary.normalise(Store(store, readonly=True).frame())
    horizons = summary.horizons(summary.by_length(frame))
    # lstm: 10 and 100 solved by 3 of 3; 1000 by 0 of 5 (a failed seed counts as unsolved)
    assert horizons["lstm", "copy"].text() == "100"
    assert horizons["gru", "copy"].text() == "10"  # 1000 solved, but 100 is not
    assert horizons[HOSTILE, "copy"].text() == "none"
    assert horizons["lstm", "adding"].text() == "≥ 200"


def test_published_results_stand_beside_ours(report):
    readme = (report / "README.md").read_text("utf-8")
    matched = readme.split("### Beside ours")[1].split("### Context")[0]
    assert "beats memoryless 0.167" in matched  # lstm, adding T=100 and 200 (Arjovsky et al.)
    assert "beats memoryless 0.173" in matched  # lstm, copy T=100
    assert "| 0.173 " in matched  # the copy memoryless cross-entropy at T=100, ours beside it
    assert "lecture" in matched  # elman on agreement at 5-10 words, the lecture's claim
    context = readme.split("### Context")[1].split("## Run facts")[0]
    assert "Yogatama" in context  # natural text: a different setting, context only


def test_the_interval_is_the_student_t_interval_of_the_mean_and_one_seed_has_none():
    mean, lo, hi = summary.mean_interval([0.5, 0.7, 0.9, math.nan])  # NaN: a failed cell
    half = 4.302653 * 0.2 / math.sqrt(3)  # t(0.975, 2) x sample sd / sqrt(n)
    assert mean == pytest.approx(0.7)
    assert (lo, hi) == (pytest.approx(0.7 - half), pytest.approx(0.7 + half))
    assert hi - lo > 0.9 - 0.5  # wider than the seeds' range, which a bootstrap would give
    mean, lo, hi = summary.mean_interval([0.8])
    assert mean == 0.8 and math.isnan(lo) and math.isnan(hi)
    # cut to the values the metric can take: an accuracy's mean is never above 1
    assert summary.mean_interval([0.5, 0.7, 0.9], (0.0, 1.0)) == (
        pytest.approx(0.7), pytest.approx(0.7 - half), 1.0)


def test_an_accuracy_interval_stays_in_0_1_and_a_tick_stands_beside_its_seed_count(tmp_path):
    """The issue's cell: two seeds of three solved (threshold 0.8), the third far below, mean
    0.706 under the threshold: solved by the majority's verdict, so ✓ beside "2/3", and its
    interval (± 1.2 by t) cut to [0, 1]. One seed of three solved: no ✓, whatever its
    mean; a seed that failed counts as not solved and is left out of the mean."""
    rows = [cell("copy", "lstm", 64, seed, score, threshold=0.8)
            for seed, score in enumerate([1.0, 1.0, 0.118])]
    rows += [cell("copy", "lstm", 128, seed, score, threshold=0.8)
             for seed, score in enumerate([0.9, 0.7, 0.75])]
    rows += [cell("copy", "lstm", 256, 0, 0.85, threshold=0.8),
             cell("copy", "lstm", 256, 1, 0.82, threshold=0.8),
             cell("copy", "lstm", 256, 2, math.nan, status="diverged", metric=None,
                  threshold=0.8, key="copy-lstm-256-diverged")]
    rows += [cell("copy", "lstm", 512, seed, 0.9, threshold=0.8, extra={"r2": r2})
             for seed, r2 in enumerate([0.99, 0.98, 0.2])]
    frame = summary.normalise(Store(store_of(tmp_path / "s.db", rows), readonly=True).frame())
    scores = summary.by_length(frame)
    assert (scores["lo"] >= 0).all() and (scores["hi"] <= 1).all()
    table = tables.score_table(scores, "accuracy")
    cells = dict(zip(table.headers[1:], table.rows[0][1:], strict=True))
    assert cells["64"] == "0.706 [0.000, 1.000] (2/3 ✓)"
    assert cells["128"].startswith("0.783 [") and cells["128"].endswith(" (1/3)")
    assert cells["256"].startswith("0.835 [") and cells["256"].endswith(" (2/3 ✓; 2 ok)")
    assert cells["512"] == "0.900 [0.900, 0.900] (3/3 ✓)"  # seeds alike: no width
    assert any("(k/n)" in note and "majority" in note for note in table.notes)
    r2 = summary.by_length(frame, summary.extra(frame, "r2")).dropna(subset=["lo"])
    assert r2["hi"].tolist() == [1.0]  # an R² is at most 1, and has no floor
    assert r2["lo"].iloc[0] < 0


@pytest.fixture
def tiny(tmp_path):
    """One task, one model, two lengths: the cheapest store a report accepts."""
    with Store(tmp_path / "tiny.db") as s:
        s.put(cell("copy", "lstm", 10, 0, 0.95))
        s.put(cell("copy", "lstm", 20, 0, 0.5))
    return tmp_path / "tiny.db"


def test_a_previous_report_is_replaced_and_a_foreign_folder_refused(tiny, tmp_path):
    store = tiny
    out = tmp_path / "r"
    render_report(store, out, formats=("md",))
    render_report(store, out, formats=("html",))
    assert (out / "index.html").exists() and not (out / "README.md").exists()
    (out / "notes.txt").write_text("mine")
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "--db", str(store), "--out", str(out)])
    assert result.exit_code == 2 and "notes.txt" in result.stderr
    assert (out / "notes.txt").read_text() == "mine"


def one_length_store(path):
    with Store(path) as s:
        s.put(cell("copy", "lstm", 10, 0, 0.5))
        s.put(cell("copy", "lstm", 10, 1, 0.6))
    return path


@pytest.mark.parametrize("case", ["empty", "missing", "one-length", "no-task", "no-model",
                                  "no-pair", "out-is-file", "format"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, store, tmp_path):
    out = tmp_path / "out" / "report"
    args = ["report", "--db", str(store), "--out", str(out)]
    if case == "empty":
        Store(tmp_path / "empty.db").close()
        args[2] = str(tmp_path / "empty.db")
    elif case == "missing":
        args[2] = str(tmp_path / "nothing.db")
    elif case == "one-length":
        args[2] = str(one_length_store(tmp_path / "one.db"))
    elif case == "no-task":
        args += ["--task", "nope"]
    elif case == "no-model":
        args += ["--model", "nope"]
    elif case == "no-pair":
        args += ["--task", "adding", "--model", "gru"]
    elif case == "out-is-file":
        out.parent.mkdir()
        out.write_text("keep")
    elif case == "format":
        args += ["--format", "html,pdf"]
    def written():  # the output's folder only: reading a store may touch SQLite's -shm file
        return sorted(str(p) for p in out.parent.rglob("*")) if out.parent.exists() else None

    before = written()
    one_line_exit_2(CliRunner().invoke(cli, args))
    assert written() == before
    if case == "out-is-file":
        assert out.read_text() == "keep"


def test_report_layer_never_imports_torch(tiny, tmp_path):
    code = f"""
import sys
from click.testing import CliRunner
from memorybench.cli import cli
result = CliRunner().invoke(cli, ["report", "--db", {str(tiny)!r}, "--out",
                                  {str(tmp_path / "b")!r}])
assert result.exit_code == 0, result.output
assert "torch" not in sys.modules, "the report layer imported torch"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr


def test_report_modules_import_nothing_from_the_package_file():
    """Data flows one way: ``memorybench/report/__init__.py`` names what the command line
    uses; a module of the package imports its siblings, never a name defined there."""
    package = Path(__file__).resolve().parent.parent / "memorybench" / "report"
    modules = {p.stem for p in package.glob("*.py")} - {"__init__"}
    for path in sorted(package.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "memorybench.report":
                names = {alias.name for alias in node.names}
                assert names <= modules, f"{path.name} imports {names - modules} from report/"


def store_of(path, rows):
    with Store(path) as s:
        for row in rows:
            s.put(row)
    return path


def test_a_model_whose_cells_all_failed_has_horizon_failed(tmp_path):
    rows = [cell("copy", "lstm", n, 0, 0.2) for n in (10, 20)]  # ran, solved nothing
    rows += [cell("copy", "gru", n, 0, math.nan, status="failed", metric=None,
                  error="RuntimeError: boom") for n in (10, 20)]
    rows += [cell("copy", "elman", 10, 0, math.nan, status="diverged", metric=None,
                  diverged_step=3), cell("copy", "elman", 20, 0, 0.95)]
    frame = summary.normalise(Store(store_of(tmp_path / "s.db", rows), readonly=True).frame())
    horizons = summary.horizons(summary.by_length(frame))
    assert horizons["lstm", "copy"].text() == "none"
    assert horizons["gru", "copy"].text() == "failed"
    assert horizons["elman", "copy"].text() == "none"  # one length ran: a measured "none"
    out = tmp_path / "r"
    render_report(tmp_path / "s.db", out)
    text = (out / "README.md").read_text("utf-8")
    horizon = text.split("## Memory horizon")[1].split("##")[0]
    assert "| gru " in horizon and "failed" in horizon.split("| gru ")[1].splitlines()[0]
    assert "\"failed\" when no cell" in text


def test_markdown_active_characters_are_escaped():
    assert tables.md("cost $5 and $x$") == r"cost \$5 and \$x\$"
    assert tables.md("#1 `a` *b* _c_ [d] ~e~ |") == r"\#1 \`a\` \*b\* \_c\_ \[d\] \~e\~ \|"
    assert tables.md("<b>&") == "&lt;b&gt;&amp;"


def test_dollar_names_stay_literal_in_the_readme(tmp_path):
    rows = [cell("copy", "cost$1$", n, 0, 0.5) for n in (10, 20)]
    out = tmp_path / "r"
    render_report(store_of(tmp_path / "s.db", rows), out)
    text = (out / "README.md").read_text("utf-8")
    assert r"cost\$1\$" in text and "cost$1$" not in text


def test_contents_line_links_every_task(tmp_path):
    rows = [cell(task, "lstm", n, 0, 0.5) for task in ("copy", "my task") for n in (10, 20)]
    out = tmp_path / "r"
    render_report(store_of(tmp_path / "s.db", rows), out)
    contents = next(line for line in (out / "README.md").read_text().splitlines()
                    if line.startswith("Contents:"))
    assert "[Task copy](#task-copy)" in contents
    assert "[Task my task](#task-my-task)" in contents
    assert tables.anchor("Task a.b (c)") == "task-ab-c"


def agreement_rows(metrics_of):
    return [cell("agreement", "lstm", n, seed, 0.9, chance=0.5,
                 extra={**metrics_of(seed)}) for n in (5, 10) for seed in (0, 1)]


@pytest.mark.parametrize("form", ["missing", "stored"])
def test_attractor_buckets_show_their_examples_when_stored(form, tmp_path):
    def metrics(seed):
        if form == "missing":  # results of agreement version 1
            return {"by_attractors": {"0": 0.9, "1": 0.7}}
        return {"by_attractors": {"0": 0.9, "1": 0.7},
                "by_attractors_n": {"0": 400, "1": 100}}

    db = store_of(tmp_path / "s.db", agreement_rows(metrics))
    frame = summary.normalise(Store(db, readonly=True).frame())
    attr = summary.attractor_frame(frame)
    assert sorted(attr["accuracy"].unique()) == [0.7, 0.9]
    table = tables.attractor_table(attr)
    first = table.rows[0]
    if form == "missing":
        assert attr["examples"].isna().all()
        assert first[2:] == ["0.900", "0.700"]
        assert "not stored" in table.notes[0]
    else:
        assert first[2:] == ["0.900 (n=800)", "0.700 (n=200)"]  # summed over two seeds
        assert "held-out examples" in table.notes[0]


def test_every_interval_is_labelled_the_student_t_interval(tmp_path):
    rows = [cell("copy", "lstm", n, seed, 0.5 + 0.1 * seed) for n in (10, 20)
            for seed in range(3)]
    out = tmp_path / "r"
    render_report(store_of(tmp_path / "s.db", rows), out)
    for page in ("README.md", "index.html"):
        text = (out / page).read_text("utf-8")
        assert "bootstrap" not in text
        assert text.count(summary.INTERVAL) == 2  # the figure's note and the table's
        assert "small points: each seed" in text
    readme = (out / "README.md").read_text("utf-8")
    half = 4.302653 * 0.1 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(3)
    assert f"| 0.600 \\[{0.6 - half:.3f}, {0.6 + half:.3f}\\] (0/3) " in readme


def test_the_training_time_table_sums_each_model_and_task_with_totals():
    rows = [cell(task, model, length, seed, 0.9, wall_time=seconds)
            for task, model, seconds in (("copy", "lstm", 10.0), ("copy", "gru", 30.0),
                                         ("adding", "lstm", 60.0))
            for length in (10, 20) for seed in range(2)]
    frame = summary.normalise(pd.DataFrame([{k: json.dumps(v) if isinstance(v, dict) else v
                                             for k, v in r.items()} for r in rows]))
    table = tables.time_table(frame)
    # every cell of a seed finishes at 10:00 of its own day: a day's cells overlap, so the
    # wall clock counts each day's longest cell once
    assert table.headers == ["model / task", "adding", "copy", "all tasks", "wall clock"]
    assert table.rows == [["gru", "not run", "2 min 00 s", "2 min 00 s", "1 min 00 s"],
                          ["lstm", "4 min 00 s", "40.0 s", "4 min 40 s", "2 min 00 s"],
                          ["all models", "4 min 00 s", "2 min 40 s", "6 min 40 s", "2 min 00 s"],
                          ["wall clock", "2 min 00 s", "1 min 00 s", "2 min 00 s", ""]]


def test_the_wall_clock_counts_overlapping_cells_once_and_finds_the_peak():
    frame = pd.DataFrame({
        "finished_at": ["2026-01-01T10:00:10+00:00", "2026-01-01T10:00:15+00:00",
                        "2026-01-01T10:01:00+00:00", None, "not a date",
                        # one worker: starts a second before the last ended (stored to
                        # the second), which is not two at once
                        "2026-01-01T10:01:09+00:00"],
        "wall_time": [10.0, 10.0, 5.0, 99.0, 99.0, 9.5]})
    # [0:00, 0:10] and [0:05, 0:15] overlap: 15 s; [0:55, 1:00]: 5 s; [0:59.5, 1:09]: 9 s more
    total, peak = facts.elapsed(frame)
    assert total == pytest.approx(29.0)
    assert peak == 2
    assert facts.elapsed(frame.iloc[3:5]) is None


def test_report_out_keeps_files_the_user_put_in_its_folders(invoke, tmp_path):
    args = ["run", "--task", "adding", "--model", "elman", "--lengths", "4,6", *TINY]
    assert invoke(*args).exit_code == 0
    assert invoke("report", "--out", "rep").exit_code == 0
    (tmp_path / "rep" / "figures" / "notes.txt").write_text("mine")
    one_line_exit_2(invoke("report", "--out", "rep"), "figures/notes.txt")
    assert (tmp_path / "rep" / "figures" / "notes.txt").read_text() == "mine"
