"""`memorybench import`: results made elsewhere merged into a store by cell key, nothing
stored ever overwritten, duplicates and conflicts counted, a damaged file changing nothing."""

import json

from memorybench.cells import cell_key
from memorybench.store import Store
from tests.conftest import one_line_exit_2
from tests.test_report import cell


def one(model, length, seed, score):
    """A stored row with a config of the current form (it names its model's version), keyed
    by the hash of that config as `run` keys it."""
    config = {"task": "copy", "model": model, "length": length, "seed": seed,
              "model_version": 1}
    config["key"] = cell_key(config)
    return cell("copy", model, length, seed, score, config=config, key=config["key"])


def rows():
    return [one(model, length, seed, 0.9 + 0.01 * seed)
            for model in ("lstm", "gru") for length in (10, 20) for seed in range(2)]


def exported(invoke, tmp_path, name="part.jsonl", cells=None):
    """A tiny store written as `run` would, exported as a file is committed."""
    db = tmp_path / f"{name}.db"
    with Store(db) as store:
        for row in cells or rows():
            store.put(row)
    result = invoke("export", "--db", str(db), "--format", "jsonl", "--out",
                    str(tmp_path / name))
    assert result.exit_code == 0, result.output
    return tmp_path / name


def stored(db):
    with Store(db, readonly=True) as store:
        return store.frame()


def test_import_adds_every_cell_then_counts_a_reimport_as_duplicates(invoke, tmp_path):
    part = exported(invoke, tmp_path)
    result = invoke("import", str(part), "--db", "merged.db")
    assert result.exit_code == 0, result.output
    assert "imported 8, duplicates 0, conflicts 0" in result.stderr
    first = stored(tmp_path / "merged.db")
    result = invoke("import", str(part), "--db", "merged.db")
    assert result.exit_code == 0
    assert "imported 0, duplicates 8, conflicts 0" in result.stderr
    again = stored(tmp_path / "merged.db")
    assert again.equals(first)
    # the merged store exports exactly what was imported
    assert invoke("export", "--db", "merged.db", "--format", "jsonl").output == part.read_text()


def test_a_changed_metric_is_a_conflict_reported_by_key_and_never_overwritten(invoke,
                                                                              tmp_path):
    part = exported(invoke, tmp_path)
    invoke("import", str(part), "--db", "merged.db")
    lines = part.read_text().splitlines()
    row = json.loads(lines[0])
    row["metric"] = 0.1
    extra = one("lstm", 40, 0, 0.5)
    other = exported(invoke, tmp_path, "other.jsonl", [extra])
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    result = invoke("import", str(edited), str(other), "--db", "merged.db")
    assert result.exit_code == 1
    assert f"conflict: cell {row['key']} " in result.stderr
    assert "differs from the stored one in metric;" in result.stderr
    assert "imported 1, duplicates 7, conflicts 1" in result.stderr
    kept = stored(tmp_path / "merged.db").set_index("key")
    assert kept.loc[row["key"], "metric"] != 0.1 and extra["key"] in kept.index
    result = invoke("import", str(edited), "--db", "merged.db", "--skip-conflicts")
    assert result.exit_code == 0
    assert "imported 0, duplicates 7, conflicts 1" in result.stderr


def test_a_damaged_file_is_one_line_and_leaves_the_store_untouched(invoke, tmp_path):
    part = exported(invoke, tmp_path)
    invoke("import", str(part), "--db", "merged.db")
    before = (tmp_path / "merged.db").read_bytes()
    more = exported(invoke, tmp_path, "more.jsonl", [one("lstm", 40, 0, 0.5)])
    broken = tmp_path / "broken.jsonl"
    broken.write_text(part.read_text() + '{"key": "x", "task": \n')
    one_line_exit_2(invoke("import", str(more), str(broken), "--db", "merged.db"),
                    "broken.jsonl: malformed jsonl")
    assert (tmp_path / "merged.db").read_bytes() == before
    one_line_exit_2(invoke("import", str(broken), "--db", "new.db"), "malformed")
    assert not (tmp_path / "new.db").exists()


def test_a_store_imports_like_its_export_and_not_into_itself(invoke, tmp_path):
    exported(invoke, tmp_path)  # writes part.jsonl.db
    result = invoke("import", str(tmp_path / "part.jsonl.db"), "--db", "merged.db")
    assert "imported 8, duplicates 0, conflicts 0" in result.stderr
    result = invoke("import", str(tmp_path / "part.jsonl"), "--db", "merged.db")
    assert "imported 0, duplicates 8, conflicts 0" in result.stderr
    one_line_exit_2(invoke("import", "merged.db", "--db", "merged.db"), "is the input")


def test_an_older_export_is_imported_under_the_current_keys(invoke, tmp_path):
    from memorybench.cells import upgrade_config

    old = cell("copy", "lstm", 10, 0, 0.9, key="old-key",
               config={"task": "copy", "model": "lstm", "model_type": "lstm", "length": 10,
                       "seed": 0, "key": "old-key"})
    part = exported(invoke, tmp_path, "old.jsonl", [old])
    result = invoke("import", str(part), "--db", "merged.db")
    assert "imported 1, duplicates 0, conflicts 0" in result.stderr
    [key] = stored(tmp_path / "merged.db")["key"]
    assert key == upgrade_config(old["config"])["key"] != "old-key"


def test_a_forged_or_impossible_row_is_refused_and_nothing_imported(invoke, tmp_path):
    """A results file is untrusted input: a row relabelled to another cell, or holding what
    no cell can hold, is one line and exit 2, and the store is not touched."""
    good = [json.loads(line) for line in exported(invoke, tmp_path).read_text().splitlines()]
    forgeries = {
        "relabelled": {"task": "adding", "model": "gru", "length": 1000, "metric": 1.0},
        "key": {"key": "0" * 20, "config": dict(good[0]["config"], key="0" * 20)},
        "nan": {"metric": None},
        "above 1": {"metric": 7.0},
        "below 0": {"metric": -5.0},
        "huge": {"metric": 1e308},
        "status": {"status": "hacked"},
        "length": {"length": -4},
        "metrics list": {"metrics": [1, 2]},
    }
    expected = {"relabelled": "but its config says copy x",
                "key": "which is not the hash of its config",
                "nan": "is ok with a metric of", "above 1": "is ok with a metric of 7.0",
                "below 0": "is ok with a metric of -5.0", "huge": "is ok with a metric of",
                "status": "has status 'hacked'", "length": "has length -4",
                "metrics list": "metrics that are not a JSON object"}
    assert set(forgeries) == set(expected)
    for name, change in forgeries.items():
        rows = [dict(good[0], **change), *good[1:]]
        path = tmp_path / f"{name.replace(' ', '-')}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        result = invoke("import", str(path), "--db", "forged.db")
        one_line_exit_2(result, expected[name])
        assert not (tmp_path / "forged.db").exists(), name
