"""The store keeps every row: across schema versions, concurrent writers and retries; no
command writes over it, a damaged one is refused untouched, and read-only commands leave
nothing beside it."""

import sqlite3

import pytest

from memorybench.cells import COLUMNS
from memorybench.errors import UserError
from memorybench.store import Store
from memorybench.store.file import APPLICATION_ID
from memorybench.store.schema import SCHEMA_VERSION

from conftest import RUN, one_line_exit_2

# The version-1 schema, frozen as it shipped, to prove that migration keeps old rows.
V1_COLUMNS = [c for c in COLUMNS if c not in ("host", "state_size")]


def row(key, status="ok", metric=0.5, **extra):
    base = {"key": key, "task": "copy", "model": "lstm", "length": 10, "seed": 0,
            "status": status, "metric": metric, "metrics": {}, "versions": {}, "config": {}}
    return {**base, **extra}


def make_v1_store(path, n=3):
    con = sqlite3.connect(path)
    cols = ", ".join(f"{c} {COLUMNS[c]}" for c in V1_COLUMNS)
    con.execute(f"CREATE TABLE cells ({cols})")
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute("PRAGMA user_version = 1")
    for i in range(n):
        con.execute("INSERT INTO cells (key, task, model, length, seed, status, metric) "
                    "VALUES (?, 'copy', 'lstm', 10, ?, 'ok', 0.25)", (f"k{i}", i))
    con.commit()
    con.close()


def test_an_older_store_is_migrated_forward_without_losing_rows(tmp_path):
    path = tmp_path / "old.db"
    make_v1_store(path)
    with Store(path, readonly=True) as store:  # reading does not migrate
        assert len(store.frame()) == 3 and store.frame()["host"].isna().all()
    with Store(path) as store:
        frame = store.frame()
        assert store.con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.con.execute("SELECT count(*) FROM diagnostics").fetchone()[0] == 0  # v3
    assert frame["key"].tolist() == ["k0", "k1", "k2"]
    assert (frame["metric"] == 0.25).all()


def test_a_v3_store_is_rekeyed_to_the_keys_cells_have_now(tmp_path):
    """Version 3 keys did not hash the model's code version: opening the store re-keys
    every row from its stored config, so the same cell is found as stored, not retrained."""
    import json

    from memorybench.cells import cell_key
    from memorybench.sweep import Sweep

    cell = Sweep(tasks=["copy"], models=["lstm"], lengths=[5]).cells()[0]
    old = {k: v for k, v in cell.config().items() if k not in ("key", "model_version")}
    old["key"] = cell_key(old)
    path = tmp_path / "v3.db"
    make_v1_store(path, n=0)
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE cells ADD COLUMN host TEXT")
    con.execute("CREATE TABLE diagnostics (key TEXT PRIMARY KEY)")
    con.execute("PRAGMA user_version = 3")
    con.execute("INSERT INTO cells (key, task, model, length, seed, status, metric, config) "
                "VALUES (?, 'copy', 'lstm', 5, 0, 'ok', 0.5, ?)", (old["key"], json.dumps(old)))
    con.commit()
    con.close()
    with Store(path) as store:
        assert store.statuses() == {cell.key: "ok"}
        assert json.loads(store.frame()["config"][0])["model_version"] == 1


def test_a_store_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(UserError, match="newer than this memorybench"):
        Store(path)
    assert path.read_bytes() == before


def test_a_cell_is_stored_once_and_only_a_failure_is_replaced(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.put(row("a", metric=0.7))
        store.put(row("a", metric=0.1))
        store.put(row("b", status="failed", metric=None, error="boom"))
        store.put(row("b", metric=0.9))
        frame = store.frame().set_index("key")
    assert frame.loc["a", "metric"] == 0.7
    assert frame.loc["b", "status"] == "ok" and frame.loc["b", "metric"] == 0.9


def test_two_connections_write_one_store(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as one, Store(path) as two:
        for i in range(20):
            (one if i % 2 else two).put(row(f"k{i}"))
            (two if i % 2 else one).put(row(f"k{i}", metric=0.0))  # the overlap is ignored
    with Store(path, readonly=True) as store:
        frame = store.frame()
    assert len(frame) == 20 and frame["key"].is_unique
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _open_together(path, processes=4):
    """Open ``path`` from several processes released at the same instant; their errors."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    errors, go = ctx.Queue(), ctx.Event()

    def opener():
        go.wait()
        try:
            Store(path).close()
        except BaseException as exc:  # anything, not only the one-line errors
            errors.put(repr(exc))

    procs = [ctx.Process(target=opener) for _ in range(processes)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(60)
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
    assert not hung and all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    return failures


def test_processes_creating_one_new_store_at_once_all_succeed(tmp_path):
    for i in range(30):
        path = tmp_path / f"new{i}.db"
        assert _open_together(path) == []
        with Store(path, readonly=True) as store:
            assert store.frame().empty


def test_processes_migrating_one_old_store_at_once_all_succeed_and_keep_rows(tmp_path):
    for i in range(30):
        path = tmp_path / f"old{i}.db"
        make_v1_store(path)
        assert _open_together(path) == []
        with Store(path, readonly=True) as store:
            assert store.frame()["key"].tolist() == ["k0", "k1", "k2"]


def test_a_store_damaged_inside_is_refused_untouched(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        for i in range(200):  # several pages of rows
            store.put(row(f"k{i}", error="x" * 200))
    data = bytearray(path.read_bytes())
    assert len(data) > 3 * 4096
    data[4096:4160] = b"\xa5" * 64  # the header of page 2, a table page
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="damaged database"):
        Store(path)
    with pytest.raises(UserError, match="damaged database"):
        Store(path, readonly=True)
    assert path.read_bytes() == bytes(data)
    assert not (tmp_path / "s.db-wal").exists() and not (tmp_path / "s.db-shm").exists()


@pytest.mark.parametrize("out", ["t.db", "t.db-wal", "t.db-shm", "./sub/../t.db"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_never_writes_over_its_store(invoke, store, out, fmt):
    (store.parent / "sub").mkdir(exist_ok=True)
    before = store.read_bytes()
    one_line_exit_2(invoke("export", "--db", "t.db", "--out", out, "--format", fmt),
                    "expected an output path that is not an input")
    assert store.read_bytes() == before


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


@pytest.mark.parametrize("command", [["export", "--db", "t.db"],
                                     ["run", *RUN[1:], "--db", "t.db", "--dry-run"],
                                     ["compare", "t.db", "--baseline", "t.db"]])
def test_read_only_commands_leave_nothing_beside_the_store(invoke, store, command):
    for companion in ("t.db-wal", "t.db-shm"):
        (store.parent / companion).unlink(missing_ok=True)
    assert invoke(*command).exit_code == 0
    assert sorted(p.name for p in store.parent.iterdir()) == ["t.db"]
