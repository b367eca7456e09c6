"""The regression gate: compare fails on a real regression and passes on an unchanged run;
it reads every export format, never writes over its inputs, and prints stored text safely."""

import json
import sys

import pandas as pd
import pytest

from memorybench.store import Store, results
from memorybench.store.compare import compare

from conftest import one_line_exit_2

TRAIN = ["run", "--task", "adding", "--model", "gru", "--lengths", "5", "--seeds", "0,1,2",
         "--set", "model.hidden=24", "--steps", "250", "--eval-every", "250", "--batch-size",
         "32", "--set", "train.eval_size=200", "--set", "train.lr=0.01", "--workers", "1",
         "--quiet"]


def frame(metrics, status=None, model="lstm", length=10):
    n = len(metrics)
    return pd.DataFrame({"key": [f"k{i}" for i in range(n)], "task": "copy", "model": model,
                         "length": length, "seed": range(n), "metric": metrics,
                         "status": status or ["ok"] * n, "chance": 0.125})


def verdict(new, old, margin=0.05):
    rows = compare(new, old, margin).rows
    assert len(rows) == 1
    return rows[0]["verdict"]


def test_a_clear_consistent_drop_is_worse_and_a_rise_is_improved():
    assert verdict(frame([0.5, 0.55, 0.6]), frame([0.9, 0.95, 0.9])) == "worse"
    assert verdict(frame([0.9, 0.95, 0.9]), frame([0.5, 0.55, 0.6])) == "improved"


def test_a_drop_within_the_margin_is_unchanged():
    assert verdict(frame([0.86, 0.87, 0.88]), frame([0.9, 0.9, 0.9])) == "unchanged"


def test_a_drop_whose_interval_includes_zero_is_unchanged():
    # Mean drop 0.2, but one seed improved: the paired interval straddles zero.
    assert verdict(frame([0.2, 0.2, 1.0]), frame([0.9, 0.9, 0.2])) == "unchanged"


def test_a_diverged_cell_counts_as_memoryless():
    new = frame([None, None, None], status=["diverged"] * 3)
    assert verdict(new, frame([0.9, 0.9, 0.9])) == "worse"


def test_missing_and_extra_cells_are_listed_and_missing_fails():
    old = pd.concat([frame([0.9, 0.9]), frame([0.5], model="gru")])
    new = pd.concat([frame([0.9, 0.9]), frame([0.5], model="elman")])
    outcome = compare(new, old)
    assert [c["model"] for c in outcome.missing] == ["gru"]
    assert [c["model"] for c in outcome.extra] == ["elman"]
    assert outcome.failed


def test_the_gate_fails_on_a_crippled_model_and_passes_unchanged(invoke, monkeypatch):
    assert invoke(*TRAIN, "--db", "old.db").exit_code == 0
    assert invoke(*TRAIN, "--db", "same.db").exit_code == 0
    unchanged = invoke("compare", "same.db", "--baseline", "old.db")
    assert unchanged.exit_code == 0, unchanged.output
    assert "0 worse, 0 improved, 1 unchanged" in unchanged.stdout

    from memorybench.models.recurrent import GRU

    original = GRU.forward
    # Crippled: the recurrent core sees no input, so it cannot remember the marked values.
    monkeypatch.setattr(GRU, "forward", lambda self, h, per_step: original(self, h * 0, per_step))
    assert invoke(*TRAIN, "--db", "new.db").exit_code == 0
    old_mean = results.load("old.db")["metric"].mean()
    assert old_mean > 0.3, "the healthy model must learn something for the gate to mean much"
    worse = invoke("compare", "new.db", "--baseline", "old.db", "--format", "json")
    assert worse.exit_code == 1
    report = json.loads(worse.stdout)
    assert report["failed"] and [r["model"] for r in report["worse"]] == ["gru"]


def test_update_baseline_rewrites_it_as_committed_text(invoke, tmp_path):
    with Store("new.db") as store:
        for i, m in enumerate([0.2, 0.3]):
            store.put({"key": f"k{i}", "task": "copy", "model": "lstm", "length": 10,
                       "seed": i, "status": "ok", "metric": m, "chance": 0.125,
                       "metrics": {"accuracy": m}, "versions": {}, "config": {"seed": i}})
    (tmp_path / "base.jsonl").write_text("")
    result = invoke("compare", "new.db", "--baseline", "base.jsonl", "--update-baseline")
    assert result.exit_code == 0
    lines = (tmp_path / "base.jsonl").read_text().splitlines()
    assert [json.loads(line)["metric"] for line in lines] == [0.2, 0.3]
    assert invoke("compare", "new.db", "--baseline", "base.jsonl").exit_code == 0


@pytest.mark.parametrize("content,expected", [
    ("{not json\n", "malformed jsonl results file"),
    ('{"a": 1}\n', "not a results table (no column 'key')"),
    ("[1, 2]", "malformed json results file"),
    ('{"key": "k", "task": "copy", "model": "lstm", "length": null, "seed": 0, '
     '"status": "ok", "metric": 0.5}\n', "row 1 has no length"),
    ('{"key": "k", "task": "copy", "model": "lstm", "length": 1e400, "seed": 0, '
     '"status": "ok", "metric": 0.5}\n', "row 1 has a length that is not an integer"),
    ('{"key": "k", "task": "copy", "model": "lstm", "length": 10, "seed": 0, '
     '"status": "ok", "metric": Infinity}\n', "row 1 has an infinite metric"),
    ('{"key": "k", "task": ["copy"], "model": "lstm", "length": 10, "seed": 0, '
     '"status": "ok", "metric": 0.5}\n', "row 1 has a task that is not text"),
    ('{"key": "k", "task": "copy", "model": "lstm", "length": 10, "seed": 0, '
     '"status": "ok", "metric": 0.5}\n' * 2, "row 2 repeats cell k"),
], ids=["broken-jsonl", "wrong-columns", "not-records", "null-length", "huge-length",
        "infinite-metric", "list-task", "repeated-cell"])
def test_a_malformed_results_file_is_one_line_exit_2_and_left_as_it_was(invoke, tmp_path,
                                                                        content, expected):
    suffix = ".json" if content.startswith("[") else ".jsonl"
    bad = tmp_path / f"bad{suffix}"
    bad.write_text(content)
    with Store("ok.db") as store:
        store.put({"key": "k", "task": "copy", "model": "lstm", "length": 10, "seed": 0,
                   "status": "ok", "metric": 0.5})
    for args in (["compare", str(bad), "--baseline", "ok.db"],
                 ["compare", "ok.db", "--baseline", str(bad), "--update-baseline"]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert bad.read_text() == content


def test_a_diverged_cells_infinite_loss_exports_and_imports_back(invoke, tmp_path):
    """Training that diverges is a result: its cell, loss inf, survives export and import
    (merging sittings of a run), while an infinite loss on a cell stored ok is refused."""
    from memorybench.cells import cell_key

    config = {"task": "copy", "model": "irnn", "length": 256, "seed": 1, "model_version": 1}
    config["key"] = cell_key(config)
    row = {"key": config["key"], "task": "copy", "model": "irnn", "length": 256, "seed": 1,
           "status": "diverged", "metric": 0.5, "loss": float("inf"), "diverged_step": 500,
           "config": config}
    with Store("a.db") as store:
        store.put(row)
    assert invoke("export", "--db", "a.db", "--format", "jsonl", "--out", "a.jsonl").exit_code == 0
    assert '"loss": Infinity' in (tmp_path / "a.jsonl").read_text()
    result = invoke("import", "a.jsonl", "--db", "b.db")
    assert result.exit_code == 0, result.output
    with Store("b.db", readonly=True) as store:
        back = store.frame()
    assert back["status"].tolist() == ["diverged"] and back["loss"].tolist() == [float("inf")]
    assert invoke("import", "a.jsonl", "--db", "b.db").exit_code == 0  # a duplicate, no conflict
    (tmp_path / "ok.jsonl").write_text((tmp_path / "a.jsonl").read_text().replace(
        '"status": "diverged"', '"status": "ok"'))
    result = invoke("import", "ok.jsonl", "--db", "c.db")
    assert result.exit_code == 2 and "row 1 has an infinite loss" in result.stderr


def test_every_export_format_reads_back_for_compare(invoke):
    assert invoke("run", "--task", "copy", "--model", "gru", "--lengths", "4", "--steps", "4",
                  "--set", "model.hidden=8", "--set", "train.eval_size=16", "--batch-size",
                  "4", "--workers", "1", "--quiet").exit_code == 0
    for fmt in ("csv", "json", "jsonl", "parquet"):
        assert invoke("export", "--format", fmt, "--out", f"r.{fmt}").exit_code == 0
        result = invoke("compare", f"r.{fmt}", "--baseline", "results/memorybench.db")
        assert result.exit_code == 0 and "1 unchanged" in result.stdout, (fmt, result.output)


def test_update_baseline_never_writes_over_the_new_results(invoke, store):
    assert invoke("export", "--db", "t.db", "--out", "new.jsonl", "--format", "jsonl") \
        .exit_code == 0
    one_line_exit_2(invoke("compare", "new.jsonl", "--baseline", "new.jsonl",
                           "--update-baseline"), "not an input")


def test_compare_prints_no_raw_escape_sequences(invoke, store):
    assert invoke("export", "--db", "t.db", "--out", "a.jsonl", "--format", "jsonl") \
        .exit_code == 0
    row = json.loads((store.parent / "a.jsonl").read_text())
    row["model"] = "evil\x1b[2J"
    (store.parent / "b.jsonl").write_text(json.dumps(row) + "\n")
    done = invoke("compare", "b.jsonl", "--baseline", "b.jsonl")
    assert "\x1b" not in done.output and "evil\\x1b[2J" in done.output


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


def configured(metrics, lr, version=1, model="elman"):
    """Cells of one setting: a config with a learning rate and a model version."""
    rows = frame(metrics, model=model)
    rows["config"] = [json.dumps({"task": "copy", "model": model, "length": 10, "seed": i,
                                  "model_version": version, "train": {"lr": lr},
                                  "key": f"{lr}-{version}-{i}"})
                      for i in range(len(metrics))]
    rows["key"] = [f"{lr}-{version}-{i}" for i in range(len(metrics))]
    return rows


def test_cells_of_another_setting_are_not_averaged_in_as_seeds():
    """old: lr 1e-2; new: lr 1e-2 again and lr 1e-6 (worse by 0.3): the two settings are
    not one cell's seeds. The 1e-2 cells pair; the 1e-6 cells have no baseline."""
    old = configured([0.9, 0.9, 0.9], 1e-2)
    new = pd.concat([configured([0.9, 0.9, 0.9], 1e-2), configured([0.6, 0.6, 0.6], 1e-6)])
    outcome = compare(new, old)
    assert [(r["verdict"], r["seeds"], r["setting"]) for r in outcome.rows] == [
        ("unchanged", 3, "train.lr=0.01")]
    assert len(outcome.extra) == 3 and not outcome.missing and not outcome.failed


def test_the_one_setting_left_on_each_side_pairs_and_says_what_differs(invoke, tmp_path):
    old, new = configured([0.9, 0.9, 0.9], 1e-2), configured([0.6, 0.6, 0.6], 1e-6, version=2)
    row, = compare(new, old).rows
    assert row["verdict"] == "worse" and row["setting"] == ""
    assert row["differs"] == "model_version 1 -> 2; train.lr 0.01 -> 1e-06"
    for name, rows in (("new.jsonl", new), ("old.jsonl", old)):
        results.write(rows.reindex(columns=results.COLUMNS), tmp_path / name, "jsonl")
    result = invoke("compare", str(tmp_path / "new.jsonl"), "--baseline",
                    str(tmp_path / "old.jsonl"))
    assert result.exit_code == 1
    assert "(configs differ: model_version 1 -> 2; train.lr 0.01 -> 1e-06)" in result.stdout
