"""Hostile and careless input, one test per class of fault: no command destroys a store,
switches the gate off, or answers bad input with a traceback."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from memorybench.store import Store

from conftest import TINY, one_line_exit_2

RUN = ["run", "--task", "adding", "--model", "elman", "--lengths", "4", *TINY]


@pytest.fixture
def store(invoke, tmp_path):
    """A store of one trained cell in the working folder, and its bytes."""
    assert invoke(*RUN, "--db", "t.db").exit_code == 0
    return tmp_path / "t.db"


@pytest.mark.parametrize("out", ["t.db", "t.db-wal", "t.db-shm", "./sub/../t.db"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_never_writes_over_its_store(invoke, store, out, fmt):
    (store.parent / "sub").mkdir(exist_ok=True)
    before = store.read_bytes()
    one_line_exit_2(invoke("export", "--db", "t.db", "--out", out, "--format", fmt),
                    "expected an output path that is not an input")
    assert store.read_bytes() == before


def test_update_baseline_never_writes_over_the_new_results(invoke, store):
    assert invoke("export", "--db", "t.db", "--out", "new.jsonl", "--format", "jsonl") \
        .exit_code == 0
    one_line_exit_2(invoke("compare", "new.jsonl", "--baseline", "new.jsonl",
                           "--update-baseline"), "not an input")


@pytest.mark.parametrize("args, expected", [
    (["compare", "a.jsonl", "--baseline", "b.jsonl", "--margin", "nan"], "not a finite"),
    (["compare", "a.jsonl", "--baseline", "b.jsonl", "--margin", "inf"], "not a finite"),
    ([*RUN, "--lr", "nan"], "not a finite number"),
    ([*RUN, "--lr", "inf"], "not a finite number"),
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


@pytest.mark.parametrize("table, expected", [
    ('lengths = { copyy = [4] }', "lengths.copyy: unknown task of this suite 'copyy'; "
     "did you mean 'copy'?"),
    ('[train.copyy]\nsteps = 3', "[train.copyy]"),
    ('[task.adding]\ntolerance = 0.1', "[task.adding]: unknown task of this suite"),
])
def test_a_suite_table_naming_a_task_it_lacks_is_an_error(invoke, tmp_path, table, expected):
    (tmp_path / "s.toml").write_text(f'tasks = ["copy"]\nmodels = ["lstm"]\n{table}\n')
    one_line_exit_2(invoke("run", "--suite", "s.toml", "--dry-run"), expected)


def damage(path, statement):
    con = sqlite3.connect(path)
    con.executescript(statement)
    con.commit()
    con.close()


DAMAGE = {
    "version 0": ("PRAGMA user_version = 0", "schema version 0"),
    "version -1": ("PRAGMA user_version = -1", "schema version -1"),
    "no cells": ("DROP TABLE cells", "no cells table"),
    "cells a view": ("ALTER TABLE cells RENAME TO c2; CREATE VIEW cells AS SELECT * FROM c2",
                     "its cells table is a view"),
    "no column": ("ALTER TABLE cells DROP COLUMN metric", "lacks the column 'metric'"),
    "text metric": ("UPDATE cells SET metric = 'abc'", "a metric that is not a number"),
    "float seed": ("UPDATE cells SET seed = 1.5", "a seed that is not an integer"),
    "bad json": ("UPDATE cells SET config = '{oops'", "config that is not valid JSON"),
    "bad metrics": ("UPDATE cells SET metrics = '['", "metrics that is not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
@pytest.mark.parametrize("command", [RUN, ["export"], ["report"], ["compare", "t.db",
                                     "--baseline", "t.db"], ["leaderboard", "--db", "t.db"]])
def test_a_damaged_store_is_refused_before_any_work_and_left_as_it_was(invoke, store, case,
                                                                       command):
    statement, expected = DAMAGE[case]
    damage(store, statement)
    before = store.read_bytes()
    args = [*command, "--db", "t.db"] if command[0] in ("run", "export", "report") else command
    done = invoke(*args)
    one_line_exit_2(done, expected)
    assert store.read_bytes() == before
    assert not (store.parent / "reports").exists()


@pytest.mark.parametrize("suite", ["/dev/null/x.toml", "x" * 300 + ".toml", "loop.toml",
                                   "fifo.toml", "folder.toml"])
def test_a_suite_path_that_cannot_be_read_is_one_line(invoke, tmp_path, suite):
    (tmp_path / "loop.toml").symlink_to(tmp_path / "loop2.toml")
    (tmp_path / "loop2.toml").symlink_to(tmp_path / "loop.toml")
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "folder.toml").mkdir()
    one_line_exit_2(invoke("run", "--suite", suite, "--dry-run"), "expected a TOML file")


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
    assert proc.returncode in (130, 0), err  # 0: it finished before the signal came
    assert "Traceback" not in err
    if proc.returncode == 130:
        assert err.strip().splitlines() == ["memorybench: interrupted"]


@pytest.mark.parametrize("command", [["export", "--db", "t.db"],
                                     ["run", *RUN[1:], "--db", "t.db", "--dry-run"],
                                     ["compare", "t.db", "--baseline", "t.db"]])
def test_read_only_commands_leave_nothing_beside_the_store(invoke, store, command):
    for companion in ("t.db-wal", "t.db-shm"):
        (store.parent / companion).unlink(missing_ok=True)
    assert invoke(*command).exit_code == 0
    assert sorted(p.name for p in store.parent.iterdir()) == ["t.db"]


def test_report_out_keeps_files_the_user_put_in_its_folders(invoke, tmp_path):
    args = ["run", "--task", "adding", "--model", "elman", "--lengths", "4,6", *TINY]
    assert invoke(*args).exit_code == 0
    assert invoke("report", "--out", "rep").exit_code == 0
    (tmp_path / "rep" / "figures" / "notes.txt").write_text("mine")
    one_line_exit_2(invoke("report", "--out", "rep"), "figures/notes.txt")
    assert (tmp_path / "rep" / "figures" / "notes.txt").read_text() == "mine"


def test_compare_prints_no_raw_escape_sequences(invoke, store):
    assert invoke("export", "--db", "t.db", "--out", "a.jsonl", "--format", "jsonl") \
        .exit_code == 0
    row = json.loads((store.parent / "a.jsonl").read_text())
    row["model"] = "evil\x1b[2J"
    (store.parent / "b.jsonl").write_text(json.dumps(row) + "\n")
    done = invoke("compare", "b.jsonl", "--baseline", "b.jsonl")
    assert "\x1b" not in done.output and "evil\\x1b[2J" in done.output


def test_a_diverged_cell_records_the_step_where_it_diverged(invoke, monkeypatch):
    from memorybench import training

    monkeypatch.setattr(training, "train_steps", lambda *args, **kw: 2)  # step 2 of 3
    assert invoke(*RUN).exit_code == 0
    row = json.loads(invoke("export", "--format", "jsonl").output)
    assert row["status"] == "diverged" and row["diverged_step"] == 2 and row["steps"] == 2


def test_a_second_run_skips_cells_a_live_run_holds_and_takes_over_stale_ones(invoke, tmp_path):
    from memorybench.sweep import Sweep

    cell = Sweep(tasks=["adding"], models=["elman"], lengths=[4], model={"hidden": 8},
                 train={"steps": 6, "eval_every": 3, "batch_size": 8, "eval_size": 32}
                 ).cells()[0]
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with Store(tmp_path / "results" / "memorybench.db") as store:
            store.con.execute("INSERT INTO leases VALUES (?, ?, ?, ?)",
                              (cell.key, sleeper.pid, os.uname().nodename, time.time()))
            store.con.commit()
        held = invoke(*RUN)
        assert "1 cells are being trained by another run" in held.stderr
        assert "0 to train" in held.stderr
    finally:
        sleeper.kill()
        sleeper.wait()
    taken = invoke(*RUN)  # its process is gone: the lease is stale
    assert "1 to train" in taken.stderr and taken.exit_code == 0
    with Store(tmp_path / "results" / "memorybench.db") as store:
        assert store.con.execute("SELECT count(*) FROM leases").fetchone()[0] == 0


@pytest.mark.parametrize("args", [
    ["--lengths", "999999999999"],
    ["--set", "model.hidden=1000000000"],
    ["--set", "model.embed=100000000"],
    ["--set", "task.symbols=100000000"],
    ["--set", "train.batch_size=100000000000"],
])
def test_a_cell_no_machine_here_can_hold_is_refused_before_training(invoke, tmp_path, args):
    done = invoke("run", "--task", "copy", "--model", "lstm", "--lengths", "10", *args)
    one_line_exit_2(done, "GiB to train, more than this machine's")
    assert list(tmp_path.iterdir()) == []


def test_dry_run_shows_the_memory_estimate(invoke):
    done = invoke("run", "--task", "copy", "--model", "lstm", "--lengths", "10", "--dry-run")
    assert "largest memory need of a cell: about" in done.output


def test_diagnostics_of_tasks_whose_names_slug_alike_get_their_own_figures(tmp_path):
    from test_report_diagnostics import diag_row, make_store

    from memorybench.report import diagnostics as report_diagnostics

    db = make_store(tmp_path / "d.db", [diag_row(task=name) for name in ("a.b", "a-b", "a_b")])
    files, context = report_diagnostics.build(report_diagnostics.load(db))
    figures = [f for f in files if f.endswith(".png")]
    assert len(context["groups"]) == 3 and len(figures) == len(set(figures)) == 6


def test_a_directory_given_as_results_is_named_a_directory(invoke, tmp_path):
    (tmp_path / "folder").mkdir()
    one_line_exit_2(invoke("compare", "folder", "--baseline", "folder"),
                    "folder is a directory; expected a .db store or an exported")


def test_parquet_without_pyarrow_names_the_extra(invoke, store, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import fails as if not installed
    one_line_exit_2(invoke("export", "--db", "t.db", "--format", "parquet", "--out", "a.pq"),
                    "pip install 'memorybench[parquet]'")
    (store.parent / "b.parquet").write_bytes(b"PAR1")
    one_line_exit_2(invoke("compare", "b.parquet", "--baseline", "t.db"), "memorybench[parquet]")
