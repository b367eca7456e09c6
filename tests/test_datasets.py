"""`memorybench data` and `memorybench score`: a task's examples taken elsewhere, exactly as
its cells see them, and predictions made elsewhere scored with the task's own metric."""

import json

import numpy as np
import pytest
import torch

import memorybench as mb
from memorybench import catalog, training
from memorybench.config import TrainConfig
from memorybench.models.base import SequenceModel

from conftest import one_line_exit_2


@pytest.fixture
def copy_data(tmp_path):
    return mb.data("copy", lengths=[4, 6], seeds=[0, 1], out=tmp_path / "d", train_size=24,
                   validation_size=32, test_size=16, batch_size=8)


def test_one_file_per_length_and_seed_with_a_manifest(copy_data, tmp_path):
    names = sorted(p.name for p in copy_data)
    assert names == ["copy-T4-seed0.npz", "copy-T4-seed1.npz", "copy-T6-seed0.npz",
                     "copy-T6-seed1.npz"]
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    entry = manifest["files"]["copy-T4-seed0.npz"]
    assert entry["sizes"] == {"train": 24, "validation": 32, "test": 16}
    assert entry["task_version"] == 1 and entry["task_params"]["symbols"] == 10
    assert entry["content_hash"].startswith("sha256:") and entry["chance"] == 0.125
    again = mb.data("copy", lengths=[4], seeds=[0], out=tmp_path / "e", train_size=24,
                    validation_size=32, test_size=16, batch_size=8)
    assert again[0].read_bytes() == copy_data[0].read_bytes()  # the same bytes every time


def test_the_examples_are_those_a_cell_trains_and_is_scored_on(copy_data, monkeypatch):
    data = np.load(copy_data[0])  # copy, T=4, seed 0
    task = catalog.build_task("copy", catalog.task_spec("copy")["params"])
    cfg = TrainConfig(steps=3, batch_size=8, eval_size=32, eval_every=3, test_size=16)
    assert np.array_equal(training.held_out_set(task, cfg, 4, 0).x.numpy(),
                          data["validation_x"])
    assert np.array_equal(training.test_set(task, cfg, 4, 0).y.numpy(), data["test_y"])
    drawn = []
    original = training.sample_unseen
    monkeypatch.setattr(training, "sample_unseen",
                        lambda *a, **k: drawn.append(original(*a, **k)) or drawn[-1])
    model = SequenceModel(task.io, catalog.model_class("elman"), hidden=4)
    training.train_network(model, task, cfg, 4, 0, torch.device("cpu"))
    assert np.array_equal(torch.cat([b.x for b in drawn]).numpy(), data["train_x"])


def test_score_uses_the_task_metric_and_chance(copy_data, tmp_path, invoke):
    y = np.load(copy_data[0])["test_y"]
    perfect = mb.score(copy_data[0], np.eye(10)[y] * 5.0)
    assert (perfect["metric"], perfect["value"], perfect["solved"]) == ("accuracy", 1.0, True)
    np.save(tmp_path / "blank.npy", np.zeros((*y.shape, 10), dtype=np.float32))
    result = invoke("score", "--data", str(copy_data[0]), "--predictions",
                    str(tmp_path / "blank.npy"), "--format", "json")
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    assert scored["chance"] == 0.125 and scored["solved"] is False and scored["examples"] == 16


def test_data_command_writes_the_files(invoke, tmp_path):
    result = invoke("data", "--task", "adding", "--lengths", "5", "--seeds", "0,1", "--out",
                    "out", "--train-size", "10", "--test-size", "8")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["out/adding-T5-seed0.npz", "out/adding-T5-seed1.npz"]
    data = np.load(tmp_path / "out" / "adding-T5-seed0.npz")
    assert data["train_x"].shape == (10, 5, 2) and data["test_y"].shape == (8, 1)


@pytest.mark.parametrize("case, expected", [
    ("shape", "predictions of shape (16, 10) do not fit the test set of copy-T4-seed0.npz; "
              "expected (16, 24, 10) (logits"),
    ("changed", "do not match the hash in its manifest"),
    ("missing", "no such data file"),
    ("unlisted", "is not listed in"),
    ("no key", "has no array named predictions or test"),
])
def test_bad_score_input_is_one_line_exit_2(copy_data, tmp_path, invoke, case, expected):
    data, predictions = copy_data[0], tmp_path / "p.npy"
    y = np.load(data)["test_y"]
    np.save(predictions, np.zeros((*y.shape, 10)))
    if case == "shape":
        np.save(predictions, np.zeros((len(y), 10)))
    elif case == "changed":
        arrays = dict(np.load(data))
        arrays["test_y"][0, -1] = (arrays["test_y"][0, -1] + 1) % 8
        np.savez_compressed(data, **arrays)
    elif case == "missing":
        data = tmp_path / "d" / "nope.npz"
    elif case == "unlisted":
        data = data.rename(data.with_name("other.npz"))
    elif case == "no key":
        predictions = tmp_path / "p.npz"
        np.savez(predictions, logits=np.zeros(3))
    result = invoke("score", "--data", str(data), "--predictions", str(predictions))
    one_line_exit_2(result, expected)


def _edit_entry(data, change, rehash=False):
    """Change the manifest entry of ``data``; ``rehash``: forge its entry hash to match."""
    from memorybench import datasets

    path = data.parent / "manifest.json"
    manifest = json.loads(path.read_text())
    entry = manifest["files"][data.name]
    entry = change(entry)
    if rehash and isinstance(entry, dict):
        entry["entry_hash"] = datasets.entry_hash(entry)
    manifest["files"][data.name] = entry
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("case, expected", [
    ("solved", "does not match its own hash (the manifest was changed)"),
    ("chance", "does not match its own hash (the manifest was changed)"),
    ("length", "does not match its own hash (the manifest was changed)"),
    ("no io", "its manifest entry has no 'io'"),
    ("no task", "its manifest entry has no 'task'"),
    ("no hash", "its manifest entry has no 'content_hash'"),
    ("bad params", "its manifest entry has a malformed 'task_params'"),
    ("not a table", "its manifest entry is not a table"),
    ("extra param", "its manifest's task parameters do not fit task copy"),
    ("no test_y", "has no array test_y"),
    ("nan", "predictions hold 1 NaN or infinite values"),
    ("inf", "predictions hold 2 NaN or infinite values"),
])
def test_a_damaged_manifest_or_nonfinite_predictions_are_one_line_exit_2(
        copy_data, tmp_path, invoke, case, expected):
    from memorybench import datasets

    data, predictions = copy_data[0], tmp_path / "p.npy"
    y = np.load(data)["test_y"]
    logits = np.zeros((*y.shape, 10))
    edits = {
        "solved": lambda e: {**e, "task_params": {**e["task_params"], "solved": 0.01}},
        "chance": lambda e: {**e, "chance": 0.99},
        "length": lambda e: {**e, "length": 1000},
        "no io": lambda e: {k: v for k, v in e.items() if k != "io"},
        "no task": lambda e: {k: v for k, v in e.items() if k != "task"},
        "no hash": lambda e: {k: v for k, v in e.items() if k != "content_hash"},
        "bad params": lambda e: {**e, "task_params": [1, 2]},
        "not a table": lambda e: "copy",
    }
    if case in edits:
        _edit_entry(data, edits[case])
    elif case == "extra param":
        _edit_entry(data, lambda e: {**e, "task_params": {**e["task_params"], "x": 1}},
                    rehash=True)
    elif case == "no test_y":
        arrays = {k: v for k, v in np.load(data).items() if k != "test_y"}
        np.savez_compressed(data, **arrays)
        _edit_entry(data, lambda e: {**e, "content_hash": datasets.content_hash(arrays)},
                    rehash=True)
    elif case == "nan":
        logits[0, 0, 0] = np.nan
    elif case == "inf":
        logits[1, 2, 3], logits[0, 0, 1] = np.inf, -np.inf
    np.save(predictions, logits)
    result = invoke("score", "--data", str(data), "--predictions", str(predictions))
    one_line_exit_2(result, expected)


def test_score_takes_a_tensor_that_requires_grad_and_refuses_a_ragged_list(copy_data):
    data = copy_data[0]
    y = np.load(data)["test_y"]
    logits = torch.zeros(*y.shape, 10, requires_grad=True)
    assert mb.score(data, logits)["examples"] == len(y)
    with pytest.raises(ValueError, match="predictions cannot be read as one array"):
        mb.score(data, [[0.0, 1.0], [0.0]])


def test_score_json_is_strict_json(copy_data, tmp_path, invoke):
    data = copy_data[0]
    y = np.load(data)["test_y"]
    np.save(tmp_path / "p.npy", np.zeros((*y.shape, 10)))
    result = invoke("score", "--data", str(data), "--predictions", str(tmp_path / "p.npy"),
                    "--format", "json")
    assert result.exit_code == 0, result.output
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
