"""The README's commands, through the real CLI; bad input (unknown names, numbers that are
not finite, lengths that are not plain digits) is one line and exit 2; Ctrl-C while
starting is exit 130; `--format json` speaks JSON."""

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from memorybench import catalog
from memorybench.cli import cli
from memorybench.store import Store

from conftest import RUN, TINY, one_line_exit_2

SWEEP = ["run", "--task", "adding", "--task", "copy", "--model", "elman", "--model", "lstm",
         "--model", "gru", "--lengths", "4,6,8", "--seeds", "0,1"]


def stored(db="results/memorybench.db"):
    with Store(db, readonly=True) as store:
        return store.frame()


def test_list_shows_every_task_model_and_suite(invoke):
    result = invoke("list")
    assert result.exit_code == 0
    for name in ["adding", "copy", "elman", "lstm", "gru", "smoke", "quick"]:
        assert any(line.split()[0] == name for line in result.stdout.splitlines()[1:]
                   if line.startswith("  ")), name


def test_sweep_stores_every_cell_and_a_rerun_trains_none(invoke):
    first = invoke(*SWEEP, *TINY)
    assert first.exit_code == 0, first.output
    frame = stored()
    assert len(frame) == 36 and frame["key"].is_unique
    assert set(frame["status"]) == {"ok"}
    assert set(frame["task"]) == {"adding", "copy"} and set(frame["length"]) == {4, 6, 8}
    row = frame.iloc[0]
    assert row["params"] > 0 and row["steps"] == 6 and row["wall_time"] > 0
    assert json.loads(row["versions"])["torch"]
    assert json.loads(row["config"])["key"] == row["key"]
    assert "trained 36 cells" in first.stderr

    again = invoke(*SWEEP, *TINY)
    assert again.exit_code == 0
    assert "0 to train, 36 already stored" in again.stderr
    assert "trained 0 cells" in again.stderr
    pd.testing.assert_frame_equal(stored(), frame)


def test_changing_the_protocol_makes_new_cells(invoke):
    invoke("run", "--task", "adding", "--model", "gru", "--lengths", "4", *TINY)
    result = invoke("run", "--task", "adding", "--model", "gru", "--lengths", "4", *TINY,
                    "--set", "train.lr=0.01")
    assert "1 to train, 0 already stored" in result.stderr
    assert len(stored()) == 2


def test_dry_run_prints_the_plan_and_trains_nothing(invoke):
    invoke("run", "--task", "copy", "--model", "gru", "--lengths", "4", *TINY)
    result = invoke(*SWEEP, *TINY, "--dry-run")
    assert result.exit_code == 0
    assert "36 cells: 35 to run, 1 already stored" in result.stdout
    assert sum(" stored " in line for line in result.stdout.splitlines()) == 1
    assert len(stored()) == 1


def test_dry_run_on_a_missing_store_creates_nothing(invoke, tmp_path):
    result = invoke("run", "--suite", "smoke", "--dry-run", "--db", "new.db")
    assert result.exit_code == 0 and "to run, 0 already stored" in result.stdout
    assert not (tmp_path / "new.db").exists()


def test_named_suite_runs_every_task_and_model(invoke):
    from memorybench.catalog import model_names, task_names

    result = invoke("run", "--suite", "smoke", "--workers", "2", "--quiet")
    assert result.exit_code == 0, result.output
    frame = stored()
    assert set(frame["status"]) == {"ok"}
    assert set(frame["task"]) == set(task_names())
    assert set(frame["model"]) == set(model_names())
    again = invoke("run", "--suite", "smoke", "--workers", "2", "--quiet")
    assert again.exit_code == 0 and "trained 0 cells" in again.stderr


def test_suite_values_are_overridden_by_flags(invoke):
    result = invoke("run", "--suite", "smoke", "--model", "gru", "--task", "copy", "--task",
                    "adding", "--lengths", "5", "--dry-run")
    assert "2 cells" in result.stdout  # 2 tasks x gru x length 5 x seed 0


def test_two_workers_store_the_same_results_as_one(invoke):
    args = ["run", "--task", "adding", "--model", "gru", "--model", "elman", "--lengths", "4",
            *TINY]
    invoke(*args, "--db", "one.db")
    invoke(*args, "--db", "two.db", "--workers", "2")
    cols = ["key", "status", "metric", "loss", "steps", "params"]
    pd.testing.assert_frame_equal(stored("one.db")[cols], stored("two.db")[cols])


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trip(invoke, fmt):
    invoke("run", "--task", "adding", "--task", "copy", "--model", "gru", "--lengths", "4",
           *TINY)
    original = stored()
    result = invoke("export", "--format", fmt, "--out", f"out.{fmt}")
    assert result.exit_code == 0 and "wrote 2 results" in result.stderr
    if fmt == "csv":
        back = pd.read_csv("out.csv")
    elif fmt == "parquet":
        back = pd.read_parquet("out.parquet")
    else:
        back = pd.DataFrame(json.load(open("out.json")))
        for col in ["metrics", "versions", "config"]:
            assert back[col].map(json.dumps).tolist() == \
                original[col].map(lambda s: json.dumps(json.loads(s))).tolist()
            back[col] = original[col]
    back = back[original.columns].astype(original.dtypes.to_dict())
    pd.testing.assert_frame_equal(back, original)


def test_export_to_stdout(invoke):
    invoke("run", "--task", "adding", "--model", "gru", "--lengths", "4", *TINY)
    result = invoke("export")
    assert pd.read_csv(io.StringIO(result.stdout))["model"].tolist() == ["gru"]


def test_diverging_training_is_stored_as_diverged(invoke):
    result = invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4", *TINY,
                    "--lr", "1e30")
    assert result.exit_code == 0
    row = stored().iloc[0]
    assert row["status"] == "diverged" and 1 <= row["diverged_step"] <= 6


def test_a_failing_model_is_stored_as_failed_and_the_sweep_goes_on(invoke):
    from memorybench.models import MODELS
    from memorybench.models.recurrent import Elman

    class Broken(Elman):
        def forward(self, h, per_step):
            raise RuntimeError("boom")

    MODELS.register("broken")(Broken)
    try:
        result = invoke("run", "--task", "adding", "--model", "broken", "--model", "gru",
                        "--lengths", "4", *TINY)
    finally:
        MODELS._entries.pop("broken")
    assert result.exit_code == 1
    frame = stored().set_index("model")
    assert frame.loc["broken", "status"] == "failed"
    assert frame.loc["broken", "error"] == "RuntimeError: boom"
    assert frame.loc["gru", "status"] == "ok"
    assert "1 failed" in result.stderr


# --- bad input: one line on stderr, exit 2, the store untouched ------------------------------
BAD = [
    (["run", "--task", "adding", "--model", "lstn"], "unknown model 'lstn'; did you mean 'lstm'?"),
    (["run", "--task", "adding", "--model", "lstm", "--lengths", "0"], "--lengths: 0 is not"),
    (["run", "--task", "adding", "--model", "lstm", "--lengths", "10,x"], "'x' is not an integ"),
    (["run", "--task", "adding", "--model", "lstm", "--lengths", "1"], "expected an integer >= 2"),
    (["run", "--suite", "smok"], "unknown suite 'smok'; did you mean 'smoke'?"),
    (["run"], "empty sweep"),
    (["run", "--suite", "smoke", "--workers", "0"], "'--workers': 0 is not in the range"),
    (["run", "--suite", "smoke", "--set", "train.stepz=3"], "unknown key 'stepz'"),
    (["run", "--suite", "smoke", "--set", "steps"], "expected SECTION.KEY=VALUE"),
    (["run", "--suite", "smoke", "--set", "model.hiden=3"], "unknown key 'hiden'"),
    (["run", "--suite", "smoke", "--seeds", "-1"], "seed -1 is invalid"),
    (["export", "--db", "nothing.db"], "no such database"),
    (["export", "--task", "addng"], "--task addng matches no stored result"),
    (["export", "--out", "no/such/folder/x.csv"], "cannot be written"),
    (["run", "--suite", "smoke", "--seeds", str(2 ** 63)], "expected an integer from 0"),
    (["run", "--task", "copy", "--model", "lstm", "--set", "model.hidden=abc"],
     "parameter hidden='abc' is invalid; expected an integer"),
    (["run", "--task", "copy", "--model", "lstm", "--set", "model.hidden=0"],
     "expected positive integers"),
    (["run", "--task", "copy", "--model", "attention", "--set", "model.hidden=10"],
     "hidden a multiple of heads"),
]


@pytest.mark.parametrize("args,expected", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2_and_leaves_the_store(invoke, args, expected):
    invoke("run", "--task", "adding", "--model", "gru", "--lengths", "4", *TINY)
    before = open("results/memorybench.db", "rb").read()
    one_line_exit_2(invoke(*args), expected)
    assert open("results/memorybench.db", "rb").read() == before


def test_malformed_suite_names_file_and_line(invoke, tmp_path):
    (tmp_path / "bad.toml").write_text('tasks = ["adding"]\nmodels = [lstm\n')
    result = invoke("run", "--suite", "bad.toml")
    one_line_exit_2(result, "bad.toml: malformed TOML")
    assert "line 2" in result.stderr


def _sqlite_of_another_program(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (body TEXT)")
    con.execute("INSERT INTO notes VALUES ('keep me')")
    con.commit()
    con.close()


@pytest.mark.parametrize("make,expected", [
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b"\x00\x01garbage" * 100), "not a memorybench database"),
    (_sqlite_of_another_program, "SQLite database of another program"),
    (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), "damaged database"),
], ids=["directory", "random-bytes", "other-sqlite", "truncated"])
def test_a_bad_db_path_is_refused_and_left_as_it_was(invoke, tmp_path, make, expected):
    path = tmp_path / "x.db"
    make(path)
    before = None if path.is_dir() else path.read_bytes()
    for args in (["run", "--suite", "smoke"], ["run", "--suite", "smoke", "--dry-run"],
                 ["export"]):
        one_line_exit_2(invoke(*args, "--db", str(path)), expected)
    if before is not None:
        assert path.read_bytes() == before
        assert not (tmp_path / "x.db-wal").exists()


def test_an_unwritable_db_path_is_refused(invoke, tmp_path):
    (tmp_path / "afile").write_text("")
    one_line_exit_2(invoke("run", "--suite", "smoke", "--db", "afile/x.db"),
                     "cannot be written")


@pytest.mark.parametrize("line,expected", [
    ("seeds = 5", "seeds = 5 is invalid; expected a list of integers"),
    ("lengths = 5", "lengths = 5 is invalid"),
    ("train = 5", "train = 5 is invalid; expected a table"),
    ('tasks = "adding"', "tasks = 'adding' is invalid; expected \"all\" or a list of task"),
])
def test_a_suite_value_of_the_wrong_type_is_one_line(invoke, tmp_path, line, expected):
    key = line.split()[0]
    rows = {"tasks": 'tasks = ["adding"]', "models": 'models = ["elman"]', key: line}
    (tmp_path / "typed.toml").write_text("\n".join(rows.values()) + "\n")
    one_line_exit_2(invoke("run", "--suite", "typed.toml", "--dry-run"), expected)


def test_an_existing_store_that_cannot_be_written_is_refused_before_training(
        invoke, tmp_path, monkeypatch):
    invoke("run", "--task", "adding", "--model", "gru", "--lengths", "4", *TINY)
    before = open("results/memorybench.db", "rb").read()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if mode == os.W_OK
                        and str(path).endswith("memorybench.db") else real_access(path, mode))
    one_line_exit_2(invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4",
                            *TINY), "cannot be written (its file is read-only)")
    assert open("results/memorybench.db", "rb").read() == before


def test_a_cell_that_fails_before_its_model_exists_is_summarised(invoke):
    """A failed cell has no parameter count; the summary must still print, every time."""
    from memorybench.models import MODELS
    from memorybench.models.recurrent import Elman

    class Unbuildable(Elman):
        def __init__(self, d_in, hidden=8, layers=1):
            raise RuntimeError("cannot build")

    MODELS.register("unbuildable")(Unbuildable)
    try:
        for rerun in (False, True):  # the run, then one that finds the failed cell stored
            result = invoke("run", "--task", "adding", "--model", "unbuildable",
                            "--lengths", "4", *TINY)
            assert result.exit_code == 1 and "Traceback" not in result.output
            assert "unbuildable" in result.stdout
            hint = ("1 cells of this sweep are stored as failed; train them again with "
                    "--retry-failed")
            assert (hint in result.stderr) == rerun
    finally:
        MODELS._entries.pop("unbuildable")
    assert stored().iloc[0]["error"] == "RuntimeError: cannot build"


def test_a_plugin_name_that_is_already_a_baseline_is_refused(invoke):
    from memorybench.models import MODELS
    from memorybench.models.recurrent import Elman

    class Shadow(Elman):
        pass

    MODELS.register("majority")(Shadow)
    try:
        one_line_exit_2(invoke("list"), "name 'majority' is registered twice")
    finally:
        MODELS._entries.pop("majority")


def test_no_command_prints_the_overview(invoke):
    result = invoke()
    assert result.exit_code == 0 and "Commands:" in result.stdout


def test_help_has_an_example_for_every_command(invoke):
    for command in cli.commands:
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout, command


@pytest.mark.parametrize("args, expected", [
    (["compare", "a.jsonl", "--baseline", "b.jsonl", "--margin", "nan"], "not a finite"),
    (["compare", "a.jsonl", "--baseline", "b.jsonl", "--margin", "inf"], "not a finite"),
    ([*RUN, "--lr", "nan"], "not a finite number"),
    ([*RUN, "--lr", "inf"], "not a finite number"),
    ([*RUN, "--lr", "1e300"], "train.lr=1e+300 is invalid; expected a learning rate from 0"),
    ([*RUN, "--set", "train.clip=nan"], "train.clip=nan is invalid"),
    ([*RUN, "--set", "train.lr=inf"], "train.lr=inf is invalid"),
    (["run", "--task", "adding", "--model", "lstm", "--lengths", "4", "--set",
      "model.forget_bias=nan"], "finite number"),
    ([*RUN, "--set", "task.tolerance=nan"], "tolerance=nan"),
])
def test_non_finite_numbers_are_refused_before_anything_is_stored(invoke, tmp_path, args,
                                                                   expected):
    one_line_exit_2(invoke(*args), expected)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("lengths", ["1_0", "١٠", "+5", "0x10"])
def test_lengths_are_plain_ascii_digits(invoke, lengths):
    one_line_exit_2(invoke("run", "--task", "copy", "--model", "lstm", "--lengths", lengths,
                           "--dry-run"), "is not an integer")


def test_ctrl_c_while_starting_is_exit_130_without_a_traceback(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "memorybench", "list"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(0.15)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    # 0: it finished before the signal came; -SIGINT: the signal came before Python had
    # started (on a loaded machine), when the default action ends the process and none of
    # memorybench's code has run
    assert proc.returncode in (130, 0, -signal.SIGINT), err
    assert "Traceback" not in err
    if proc.returncode == 130:
        assert err.strip().splitlines() == ["memorybench: interrupted"]


def test_a_diverged_cell_records_the_step_where_it_diverged(invoke, monkeypatch):
    from memorybench import training

    monkeypatch.setattr(training, "train_steps", lambda *args, **kw: 2)  # step 2 of 3
    assert invoke(*RUN).exit_code == 0
    row = json.loads(invoke("export", "--format", "jsonl").output)
    assert row["status"] == "diverged" and row["diverged_step"] == 2 and row["steps"] == 2


def test_list_run_and_dry_run_speak_json(invoke):
    listed = json.loads(invoke("list", "--format", "json").stdout)
    assert {m["name"] for m in listed["models"]} >= {"lstm", "mamba"}
    assert {t["name"] for t in listed["tasks"]} == set(catalog.task_names())
    plan = json.loads(invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4,5",
                             *TINY, "--dry-run", "--format", "json").stdout)
    assert plan["to_run"] == 2 and {c["length"] for c in plan["cells"]} == {4, 5}
    done = invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4", *TINY,
                  "--format", "json")
    assert done.exit_code == 0
    [row] = json.loads(done.stdout)  # progress and notes went to standard error
    assert row["model"] == "elman" and row["seeds"] == 1 and 0 <= row["mean"] <= 1
