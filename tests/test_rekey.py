"""`memorybench rekey`: an older results file brought to the current keys, in place, with
nothing else in it changed, and never into a file no command can read."""

import json

import pandas as pd
import pytest

from memorybench.cells import cell_key
from memorybench.store import results
from memorybench.sweep import Sweep
from tests.conftest import one_line_exit_2
from tests.test_report import cell


def old_row(seed, score, **fields):
    """A row as an older memorybench exported it: its config names no model version, and
    its key was hashed without one."""
    new = Sweep(tasks=["copy"], models=["lstm"], lengths=[5], seeds=[seed]).cells()[0]
    config = {k: v for k, v in new.config().items() if k not in ("key", "model_version")}
    config["key"] = cell_key(config)
    return cell("copy", "lstm", 5, seed, score, key=config["key"], config=config, **fields), \
        new.key


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def test_rekey_changes_keys_and_configs_only_and_keeps_other_fields(invoke, tmp_path):
    (a, new_a), (b, new_b) = old_row(0, 0.9, comment="first run"), old_row(1, 0.8)
    write_jsonl(tmp_path / "r.jsonl", [b, a])
    result = invoke("rekey", "r.jsonl")
    assert result.exit_code == 0 and "2 of 2 keys changed" in result.stderr
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["key"] for r in rows] == [new_b, new_a]  # the file's own order
    assert rows[1]["comment"] == "first run"  # a field the store does not know is kept
    assert rows[1]["config"]["model_version"] == 1 and rows[1]["config"]["key"] == new_a
    for before, after in zip([b, a], rows, strict=True):
        assert {k: v for k, v in after.items() if k not in ("key", "config")} == \
            {k: v for k, v in before.items() if k not in ("key", "config")}
    assert set(results.load(tmp_path / "r.jsonl")["key"]) == {new_a, new_b}


def test_rekey_keeps_a_csv_files_own_columns(invoke, tmp_path):
    a, new_a = old_row(0, 0.9)
    table = pd.DataFrame([{**a, "config": json.dumps(a["config"]),
                           "metrics": json.dumps(a["metrics"]),
                           "versions": json.dumps(a["versions"])}])
    table["notes"] = "kept"
    table.to_csv(tmp_path / "r.csv", index=False)
    assert invoke("rekey", "r.csv").exit_code == 0
    back = pd.read_csv(tmp_path / "r.csv")
    assert list(back["notes"]) == ["kept"] and list(back["key"]) == [new_a]


def test_rekey_leaves_a_file_with_current_keys_untouched(invoke, tmp_path):
    (a, _), (b, _) = old_row(0, 0.9), old_row(1, 0.8)
    write_jsonl(tmp_path / "r.jsonl", [a, b])
    assert invoke("rekey", "r.jsonl").exit_code == 0
    before = (tmp_path / "r.jsonl").read_bytes()
    result = invoke("rekey", "r.jsonl")
    assert result.exit_code == 0
    assert "0 of 2 keys changed; the file is left as it was" in result.stderr
    assert (tmp_path / "r.jsonl").read_bytes() == before


def test_two_rows_that_would_share_a_key_are_refused_and_the_file_kept(invoke, tmp_path):
    a, _ = old_row(0, 0.9)
    twin = {**a, "key": "an-older-key-of-the-same-cell", "metric": 0.5}
    write_jsonl(tmp_path / "r.jsonl", [a, twin])
    before = (tmp_path / "r.jsonl").read_bytes()
    one_line_exit_2(invoke("rekey", "r.jsonl"), "2 cells would share key")
    assert (tmp_path / "r.jsonl").read_bytes() == before


@pytest.fixture(autouse=True)
def _here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
