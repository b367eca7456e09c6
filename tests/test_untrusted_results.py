"""Results files are untrusted input: a malformed row, a file that is not a regular file,
a broken line or a name holding an escape sequence is one line and exit 2 (or is shown
escaped), never a traceback, a hang or a changed file."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_report import cell

from memorybench.cells import COLUMNS, Cell, cell_key
from memorybench.cli import cli
from memorybench.config import TrainConfig
from memorybench.store import Store
from memorybench.store.rows import CONFIG_FIELDS, TRAIN_DEFAULTS
from memorybench.sweep import Sweep

from conftest import one_line_exit_2

ESC = "\x1b[31m"  # a colour: click strips it from output that is not a terminal, so the
# runner below says the output is one (color=True), as a user's terminal would be


def good_row(seed=0, length=5, task="copy", model="lstm"):
    """A row as `run` stores it: a config of the current form, keyed by its hash."""
    made = Sweep(tasks=["copy"], models=["lstm"], lengths=[length], seeds=[seed]).cells()[0]
    config = {**made.config(), "task": task, "model": model}
    config["key"] = cell_key(config)
    return cell(task, model, length, seed, 0.9 + 0.01 * seed, key=config["key"],
                config=config)


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return path


@pytest.fixture
def colour(tmp_path, monkeypatch):
    """The CLI as a terminal runs it: escape sequences would reach the screen."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False, color=True)


# --- (15) a malformed config, in every format and through every reader --------------------

BAD_CONFIGS = {  # the cases: name -> (how the config is broken, what the line says)
    "list": (lambda c: [1], "config that is not a JSON object"),
    "text": (lambda c: "abc", "config that is not valid JSON"),
    "no key": (lambda c: {k: v for k, v in c.items() if k != "key"}, "without 'key'"),
    "model_type list": (lambda c: {**c, "model_type": ["lstm"]},
                        "a config whose model_type is not text"),
    "integer key": (lambda c: {**c, "key": 5}, "a config whose key is not text"),
}


def bad_input(tmp_path, fmt, broken):
    """A results input of format ``fmt`` holding one good row whose config is ``broken``."""
    row = good_row()
    config = broken(row["config"])
    text = config if isinstance(config, str) else json.dumps(config)
    if fmt == "jsonl":
        return jsonl(tmp_path / "bad.jsonl", [{**row, "config": config}])
    if fmt == "csv":
        frame = pd.DataFrame([{**row, "config": text, "metrics": json.dumps(row["metrics"]),
                               "versions": json.dumps(row["versions"])}])
        frame.to_csv(tmp_path / "bad.csv", index=False)
        return tmp_path / "bad.csv"
    with Store(tmp_path / "bad.db") as store:
        store.put(row)
    con = sqlite3.connect(tmp_path / "bad.db")
    con.execute("UPDATE cells SET config = ?", (text,))
    con.commit()
    con.close()
    for companion in ("bad.db-wal", "bad.db-shm"):
        (tmp_path / companion).unlink(missing_ok=True)
    return tmp_path / "bad.db"


def commands(name, case):
    """The commands that read ``name``: import and rekey check a cell's identity (a config
    without its key), the readers of a table its types only."""
    if name.endswith(".db"):
        yield ["import", name, "--db", "into.db"]
    else:
        yield ["import", name, "--db", "into.db"]
        yield ["rekey", name]
    if case != "no key":
        yield ["compare", name, "--baseline", name]
        yield ["report", "--db", name, "--out", "rep"]
        if name.endswith(".db"):
            yield ["export", "--db", name]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "db"])
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_malformed_config_is_one_line_naming_file_and_row(invoke, tmp_path, fmt, case):
    broken, expected = BAD_CONFIGS[case]
    path = bad_input(tmp_path, fmt, broken)
    before = path.read_bytes()
    where = "bad.db: the stored cell" if fmt == "db" else f"bad.{fmt}: row 1 has"
    for args in commands(path.name, case):
        done = invoke(*args)
        one_line_exit_2(done, expected)
        line = done.stderr.strip()
        assert where in line or (args[0] == "export" and "--db bad.db" in line), (args, line)
        assert path.read_bytes() == before
        assert not (tmp_path / "into.db").exists() and not (tmp_path / "rep").exists()


def test_an_existing_store_is_unchanged_by_a_refused_import(invoke, tmp_path):
    jsonl(tmp_path / "good.jsonl", [good_row(1)])
    assert invoke("import", "good.jsonl", "--db", "into.db").exit_code == 0
    before = (tmp_path / "into.db").read_bytes()
    for fmt in ("jsonl", "csv", "db"):
        path = bad_input(tmp_path, fmt, BAD_CONFIGS["model_type list"][0])
        one_line_exit_2(invoke("import", path.name, "--db", "into.db"), "model_type")
        assert (tmp_path / "into.db").read_bytes() == before


# --- the fuzz: every field of a good row broken every way ---------------------------------

VARIANTS = {"missing": None, "null": None, "list": [1], "object": {"a": 1}, "text": "x",
            "integer": 7, "fraction": 0.5, "bool": True}
REQUIRED = {"key", "task", "model", "length", "seed", "status", "metric", "config"}
TRAIN = {"lr": "number", "steps": "integer", "early_stop": "bool", "extrapolate": "ints",
         "test_size": "integer", "optimizer": "text"}


def kind_of(column):
    if column in ("config", "metrics", "versions"):
        return "object"
    return {"TEXT": "text", "INTEGER": "integer", "REAL": "number"}[COLUMNS[column].split()[0]]


def fits(kind, value):
    """Whether ``value`` is of a type the store writes for a field of ``kind``."""
    integer = isinstance(value, int) and not isinstance(value, bool)
    return {"text": isinstance(value, str), "integer": integer, "object": isinstance(value, dict),
            "number": integer or isinstance(value, float), "bool": isinstance(value, bool),
            "version": integer or isinstance(value, str),
            "ints": isinstance(value, list) and all(isinstance(v, int) for v in value),
            }[kind]


CONFIG_KINDS = {"key": "text", "task": "text", "task_type": "text", "model": "text",
                "model_type": "text", "model_kind": "text", "length": "integer",
                "seed": "integer", "task_version": "version", "model_version": "version",
                "task_params": "object", "model_params": "object", "train": "object"}


NOT_NULL = {"key", "task", "model", "length", "seed", "status", "config"}
IDENTITY = {"key", "task", "model", "length", "seed"}


def broken_rows():
    """(name, row, must fail): the good row with one field (of the row, its config or its
    config's train table) missing or replaced by a value of each kind. Must fail: a value
    of a type the store never writes there, or a field every stored row has, missing."""
    row = good_row()
    for variant, value in VARIANTS.items():
        gone = variant == "missing"
        for column in COLUMNS:
            new = {k: v for k, v in row.items() if k != column}
            if not gone:
                new[column] = value
            if gone or value is None:
                wrong = column in (REQUIRED if gone else NOT_NULL)
            else:
                wrong = not (fits("integer", value) or fits("bool", value)) \
                    if column == "solved" else not fits(kind_of(column), value)
            yield f"{column} {variant}", new, wrong
        for field, kind in CONFIG_KINDS.items():
            config = {k: v for k, v in row["config"].items() if k != field}
            if not gone:
                config[field] = value
            wrong = field in IDENTITY if gone else not fits(kind, value)
            yield f"config.{field} {variant}", {**row, "config": config}, wrong
        for field, kind in TRAIN.items():
            train = {k: v for k, v in row["config"]["train"].items() if k != field}
            if not gone:
                train[field] = value
            yield (f"config.train.{field} {variant}",
                   {**row, "config": {**row["config"], "train": train}},
                   not gone and not fits(kind, value))


@pytest.mark.parametrize("command", ["import", "rekey"])
def test_every_field_broken_every_way_is_refused_in_one_line_or_read(invoke, tmp_path,
                                                                      command):
    """Each variant either reads (a value of a type the store writes, or a field a row may
    lack) or is exit 2 with one line; one of a type the store never writes must be exit 2.
    Nothing is written on a refusal."""
    path = tmp_path / "r.jsonl"
    args = ["import", "r.jsonl", "--db", "new.db"] if command == "import" else ["rekey",
                                                                                "r.jsonl"]
    jsonl(path, [good_row()])
    assert invoke(*args).exit_code == 0  # the good row itself reads
    (tmp_path / "new.db").unlink(missing_ok=True)
    tried = 0
    for name, row, wrong in broken_rows():
        jsonl(path, [row])
        before = path.read_bytes()
        done = invoke(*args)
        assert done.exit_code in ((2,) if wrong else (0, 2)), (name, done.output)
        if done.exit_code == 2:
            one_line_exit_2(done)
            assert path.read_bytes() == before, name
            assert not (tmp_path / "new.db").exists(), name
        (tmp_path / "new.db").unlink(missing_ok=True)
        tried += 1
    assert tried > 300


def test_the_fuzz_knows_every_field_a_config_has():
    assert set(CONFIG_KINDS) == set(CONFIG_FIELDS) == {f for f in Cell.__dataclass_fields__}
    assert set(TRAIN) <= set(TRAIN_DEFAULTS) == set(TrainConfig.__dataclass_fields__)


def test_a_malformed_config_in_an_older_store_is_refused_before_migrating(tmp_path):
    """A version-3 store is re-keyed on open; a config whose model_type is a list (no model
    can be looked up by it) is refused in one line, the store as it was."""
    from test_store import make_v1_store

    from memorybench.errors import UserError

    path = tmp_path / "v3.db"
    make_v1_store(path, n=1)
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE cells ADD COLUMN host TEXT")
    con.execute("CREATE TABLE diagnostics (key TEXT PRIMARY KEY)")
    con.execute("UPDATE cells SET config = ?", (json.dumps({"model_type": ["lstm"]}),))
    con.execute("PRAGMA user_version = 3")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(UserError, match="--db .*v3.db: the stored cell k0 has a config whose "
                                        "model_type is not text"):
        Store(path)
    assert path.read_bytes() == before


def test_a_csv_text_column_that_looks_like_a_number_reads_back_as_text(invoke, tmp_path):
    jsonl(tmp_path / "r.jsonl", [good_row(task="123", model="007")])
    assert invoke("import", "r.jsonl", "--db", "s.db").exit_code == 0
    assert invoke("export", "--db", "s.db", "--format", "csv", "--out", "r.csv").exit_code == 0
    done = invoke("compare", "r.csv", "--baseline", "r.jsonl")
    assert done.exit_code == 0 and "123" in done.stdout and "007" in done.stdout, done.output


# --- (19) names with escape sequences are shown escaped -----------------------------------

def evil_rows():
    """Two lengths and two seeds of a task and a model whose names hold a colour code."""
    return [good_row(seed, length, task=f"copy{ESC}", model=f"lstm{ESC}")
            for length in (5, 10) for seed in (0, 1)]


def shown_escaped(done):
    assert "\x1b" not in done.output, done.output
    assert "\\x1b" in done.output, done.output  # shown as text (a table may escape its [)


def test_import_conflict_lines_show_names_escaped(colour, tmp_path):
    rows = evil_rows()
    jsonl(tmp_path / "a.jsonl", rows)
    assert colour("import", "a.jsonl", "--db", "s.db").exit_code == 0
    jsonl(tmp_path / "b.jsonl", [{**rows[0], "metric": 0.5}])
    done = colour("import", "b.jsonl", "--db", "s.db")
    assert done.exit_code == 1 and "conflict: cell" in done.stderr
    shown_escaped(done)


def test_report_and_leaderboard_show_names_escaped(colour, tmp_path):
    from test_leaderboard import SUITE  # a small suite: the standard's caps take a minute

    (tmp_path / "small.toml").write_text(SUITE)
    jsonl(tmp_path / "a.jsonl", evil_rows())
    done = colour("leaderboard", "--results", "a.jsonl", "--out", "lb", "--suite",
                  "small.toml")
    assert done.exit_code == 0, done.output
    shown_escaped(done)
    jsonl(tmp_path / "one.jsonl", evil_rows()[:1])  # one length: the error names the task
    done = colour("report", "--db", "one.jsonl", "--out", "rep")
    assert done.exit_code == 2 and "one length only" in done.stderr
    shown_escaped(done)


def test_a_file_name_with_an_escape_is_shown_escaped(colour, tmp_path):
    jsonl(tmp_path / f"r{ESC}.jsonl", [good_row()])
    done = colour("rekey", f"r{ESC}.jsonl")
    assert done.exit_code == 0 and "0 of 1 keys changed" in done.stderr
    shown_escaped(done)


def test_a_horizon_line_shows_an_api_name_escaped():
    from memorybench.horizon.rules import Rung, State
    from memorybench.horizon.text import describe

    rungs = {8: Rung(8, 1e-3, {0: True, 1: True}, False, {}),
             16: Rung(16, 1e-3, {0: False, 1: False}, False, {})}
    line = describe(f"copy{ESC}", f"mine{ESC}", State(None, 8, 16, (8, 16)), rungs, 64)
    assert "\x1b" not in line and line.startswith("copy\\x1b[31m × mine\\x1b[31m: ")


# --- (20) a path that is not a regular file is refused before it is opened ----------------

def test_a_fifo_device_or_folder_as_results_is_refused_not_waited_on(tmp_path):
    """Run in a child process with a time limit: a regression hangs on the FIFO's open,
    which the limit turns into a failure."""
    jsonl(tmp_path / "good.jsonl", [good_row()])
    for name in ("fifo.jsonl", "fifo.db", "fifo.csv"):
        os.mkfifo(tmp_path / name)
    (tmp_path / "folder.jsonl").mkdir()
    cases = [
        (["import", "fifo.jsonl", "--db", "s.db"], "fifo.jsonl is a named pipe (FIFO)"),
        (["import", "good.jsonl", "--db", "fifo.db"], "--db fifo.db is a named pipe (FIFO)"),
        (["import", "folder.jsonl", "--db", "s.db"], "folder.jsonl is a directory"),
        (["rekey", "fifo.jsonl"], "fifo.jsonl is a named pipe (FIFO)"),
        (["report", "--db", "fifo.db", "--out", "rep"], "fifo.db is a named pipe (FIFO)"),
        (["report", "--db", "fifo.jsonl", "--out", "rep"], "fifo.jsonl is a named pipe"),
        (["compare", "fifo.jsonl", "--baseline", "good.jsonl"], "fifo.jsonl is a named pipe"),
        (["compare", "good.jsonl", "--baseline", "fifo.db"], "fifo.db is a named pipe"),
        (["compare", "good.jsonl", "--baseline", "fifo.jsonl", "--update-baseline"],
         "fifo.jsonl is a named pipe"),
        (["compare", "/dev/null", "--baseline", "good.jsonl"], "is a character device"),
        (["export", "--db", "fifo.db"], "--db fifo.db is a named pipe (FIFO)"),
        (["export", "--db", "s.db", "--format", "csv", "--out", "fifo.csv"],
         "fifo.csv is a named pipe (FIFO)"),
        (["leaderboard", "--results", "fifo.jsonl", "--out", "lb"], "fifo.jsonl is a named"),
        (["leaderboard", "--db", "fifo.db", "--results", "x.jsonl"], "fifo.db is a named"),
    ]
    script = ("import json, sys\nfrom click.testing import CliRunner\n"
              "from memorybench.cli import cli\n"
              "out = [(r.exit_code, r.stderr) for r in (CliRunner().invoke(cli, a) for a in "
              "json.loads(sys.argv[1]))]\nprint(json.dumps(out))\n")
    jsonl(tmp_path / "s.jsonl", [good_row(1)])
    subprocess.run([sys.executable, "-m", "memorybench", "import", "s.jsonl", "--db", "s.db"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=120)
    done = subprocess.run([sys.executable, "-c", script, json.dumps([a for a, _ in cases])],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for (args, expected), (code, stderr) in zip(cases, json.loads(done.stdout), strict=True):
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1 and expected in lines[0], (args, stderr)
    for name in ("fifo.jsonl", "fifo.db", "fifo.csv"):
        assert Path(tmp_path / name).is_fifo()


# --- (23) errors name the place and the file as what they are ------------------------------

def test_a_truncated_jsonl_names_the_broken_line_and_its_column(invoke, tmp_path):
    lines = [json.dumps(good_row(seed), sort_keys=True) for seed in range(4)]
    cut = lines[3][:36]
    try:
        json.loads(cut)
    except json.JSONDecodeError as exc:
        column = exc.colno
    (tmp_path / "t.jsonl").write_text("\n".join([*lines[:3], cut]) + "\n")
    before = (tmp_path / "t.jsonl").read_bytes()
    for args in (["import", "t.jsonl", "--db", "s.db"], ["rekey", "t.jsonl"],
                 ["compare", "t.jsonl", "--baseline", "t.jsonl"]):
        done = invoke(*args)
        one_line_exit_2(done, "t.jsonl: malformed jsonl results file (")
        assert f"line 4 column {column}: " in done.stderr and "line 1 " not in done.stderr
    assert (tmp_path / "t.jsonl").read_bytes() == before and not (tmp_path / "s.db").exists()


def test_a_line_that_is_not_an_object_is_named_by_its_line(invoke, tmp_path):
    (tmp_path / "t.jsonl").write_text(json.dumps(good_row()) + "\n\n[1, 2]\n")
    one_line_exit_2(invoke("compare", "t.jsonl", "--baseline", "t.jsonl"),
                    "line 3 is not a JSON object")


def not_sqlite(path):
    path.write_bytes(b"\x00\x01garbage" * 100)


def other_program(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (body TEXT)")
    con.commit()
    con.close()


@pytest.mark.parametrize("make,expected", [
    (not_sqlite, "notdb.db is not a memorybench database (not an SQLite file); expected a "
                 ".db store or an exported .csv/.json/.jsonl/.parquet file"),
    (other_program, "notdb.db is an SQLite database of another program, not a memorybench "
                    "store; expected a .db store"),
], ids=["not-sqlite", "other-program"])
def test_an_input_that_is_not_a_store_is_named_as_the_input_it_is(invoke, tmp_path, make,
                                                                   expected):
    make(tmp_path / "notdb.db")
    jsonl(tmp_path / "good.jsonl", [good_row()])
    before = (tmp_path / "notdb.db").read_bytes()
    for args in (["import", "notdb.db", "--db", "s.db"],
                 ["compare", "notdb.db", "--baseline", "good.jsonl"],
                 ["compare", "good.jsonl", "--baseline", "notdb.db"]):
        done = invoke(*args)
        one_line_exit_2(done, expected)
        assert "--db notdb.db" not in done.stderr
    one_line_exit_2(invoke("report", "--db", "notdb.db", "--out", "rep"), expected)
    one_line_exit_2(invoke("rekey", "notdb.db"), "notdb.db is not an exported results file")
    one_line_exit_2(invoke("export", "--db", "notdb.db"), "--db notdb.db is ")
    assert (tmp_path / "notdb.db").read_bytes() == before
