"""Your own model, hardened: a store binds a model's name to one model, a model file that
calls sys.exit() is one line (at load) or one failed cell (in training), a model that looks
ahead is ranked as non-causal, and what a model prints never reaches standard output."""

import json
import sqlite3
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

import memorybench as mb
from memorybench import usermodels
from memorybench.cells import Cell
from memorybench.config import TrainConfig

from conftest import TINY, one_line_exit_2

SMALL = {"steps": 6, "eval_every": 3, "batch_size": 8, "eval_size": 32, "progress": False}
RUN = ["run", "--task", "adding", "--lengths", "4", *TINY]

GRU_FILE = """
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden: int = 8):
        super().__init__()
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]  # (B, T, hidden)
"""
LINEAR_FILE = """
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden: int = 8):
        super().__init__()
        self.lin = nn.Linear(hidden, hidden)

    def forward(self, x):
        return self.lin(x).cumsum(1)  # (B, T, hidden)
"""


def rows(db) -> list[dict]:
    frame = mb.load(db)
    return [{**r, "metrics": json.loads(r["metrics"])} for r in frame.to_dict("records")]


# --- (6) one name, one model per store ----------------------------------------------------
@pytest.fixture
def two_nets(tmp_path):
    (tmp_path / "good.py").write_text(GRU_FILE)
    (tmp_path / "other.py").write_text(LINEAR_FILE)
    return tmp_path


def test_a_second_model_under_a_stored_name_is_refused_naming_both_files(invoke, two_nets):
    assert invoke(*RUN, "--model-file", "good.py:Net", "--db", "s.db").exit_code == 0
    (stored,) = rows(two_nets / "s.db")
    assert stored["metrics"]["model_source"] == f"{two_nets / 'good.py'}:Net"
    for extra in ([], ["--dry-run"]):
        result = invoke(*RUN, "--model-file", "other.py:Net", "--db", "s.db", *extra)
        one_line_exit_2(result, "expected another name for it")
        line = result.stderr
        assert f"already holds net from {two_nets / 'good.py'}:Net (sha256:" in line
        assert f"this is {two_nets / 'other.py'}:Net (sha256:" in line
    planned = invoke("horizon", "--task", "adding", "--model-file", "other.py:Net", "--db",
                     "s.db", "--dry-run")  # a search's plan is refused the same way
    one_line_exit_2(planned, "expected another name for it")
    assert len(rows(two_nets / "s.db")) == 1
    # the same model again is no conflict (nothing to train), and another store is free
    again = invoke(*RUN, "--model-file", "good.py:Net", "--db", "s.db")
    assert again.exit_code == 0 and "0 to train" in again.stderr
    assert invoke(*RUN, "--model-file", "other.py:Net", "--db", "t.db").exit_code == 0


def test_an_edited_model_file_trains_again_and_the_report_shows_its_newest_code(
        invoke, two_nets):
    two = [*RUN, "--lengths", "4,6", "--model-file", "good.py:Net", "--db", "s.db"]
    assert invoke(*two).exit_code == 0
    time.sleep(1.1)  # newest by finished_at, stored to the second
    (two_nets / "good.py").write_text(GRU_FILE.replace("batch_first=True",
                                                       "batch_first=True, bias=False"))
    result = invoke(*two)
    assert result.exit_code == 0, result.stderr
    stored = mb.load(two_nets / "s.db")
    assert len(stored) == 4 and stored["params"].nunique() == 2  # the new code's cells, too
    report = invoke("report", "--db", "s.db", "--out", "rep")
    assert report.exit_code == 0, report.stderr
    text = (two_nets / "rep" / "README.md").read_text()
    assert "net: 2 cells of earlier versions left out" in text
    old, newest = stored.sort_values("finished_at")["params"].iloc[[0, -1]]
    rows = [line for line in text.splitlines() if line.startswith("| net ")]
    assert any(f"{newest:,}" in r for r in rows) and not any(f"{old:,}" in r for r in rows)


def test_a_stored_row_without_its_source_says_so(two_nets):
    db = two_nets / "s.db"
    mb.run(tasks="adding", models=[f"{two_nets / 'good.py'}:Net"], lengths=[4], db=db, **SMALL)
    with sqlite3.connect(db) as con:  # a row stored before sources were recorded
        con.execute("UPDATE cells SET metrics = json_remove(metrics, '$.model_source')")
    with pytest.raises(ValueError, match=r"holds net from \(file not recorded\) \(sha256:"):
        mb.run(tasks="adding", models=[f"{two_nets / 'other.py'}:Net"], lengths=[4], db=db,
               **SMALL)


def net_a(hidden: int = 8):
    return nn.Linear(hidden, hidden)


def net_b(hidden: int = 8):
    return nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())


def test_horizon_refuses_a_name_the_store_holds_for_another_model(tmp_path):
    db = tmp_path / "h.db"
    mb.run(tasks="copy", models=[("net", net_a)], lengths=[4], db=db, **SMALL)
    with pytest.raises(ValueError, match="model net: this store already holds net from "
                       r".*test_user_models.py:net_a .*this is .*test_user_models.py:net_b"):
        mb.horizon(tasks="copy", models=[("net", net_b)], seeds=[0], start=4, cap=8,
                   lrs=[1e-2], multiples=[2], test_size=32, db=db, **SMALL)
    assert len(mb.load(db)) == 1


def test_registered_models_are_not_bound(tmp_path):
    """A built-in's versions are the code's history: cells of another version of elman
    in the store are no reason to refuse elman."""
    db = tmp_path / "r.db"
    mb.run(tasks="copy", models=["elman"], lengths=[4], db=db, **SMALL)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE cells SET config = json_set(config, '$.model_version', 0)")
    frame = mb.run(tasks="copy", models=["elman"], lengths=[5], db=db, **SMALL)
    assert len(frame) == 1 and len(mb.load(db)) == 2


# --- (9) sys.exit() in a model's code -----------------------------------------------------
EXIT_AT_IMPORT = "import sys\nsys.exit(0)\n"
EXIT_IN_TRAINING = """
import sys

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden: int = 8):
        super().__init__()
        self.lin = nn.Linear(hidden, hidden)

    def forward(self, x):
        if self.training and torch.is_grad_enabled():  # only when it trains
            sys.exit(0)
        return self.lin(x)  # (B, T, hidden)
"""


def test_a_file_that_exits_at_import_is_one_line(invoke, tmp_path):
    (tmp_path / "exits.py").write_text(EXIT_AT_IMPORT)
    one_line_exit_2(invoke(*RUN, "--model-file", "exits.py:Net"),
                    "running exits.py called sys.exit(0); expected a file that defines models")
    with pytest.raises(ValueError, match=r"called sys.exit\(0\)"):
        mb.run(tasks="adding", models=[f"{tmp_path / 'exits.py'}:Net"], lengths=[4],
               db=tmp_path / "r.db", **SMALL)
    assert not (tmp_path / "r.db").exists()


def exit_building(hidden: int = 8):
    sys.exit(3)


class ExitsInForward(nn.Module):
    def __init__(self, hidden: int = 8):
        super().__init__()

    def forward(self, x):
        sys.exit("bye")


class ExitsOnLongerInputs(ExitsInForward):
    def forward(self, x):
        if x.shape[1] > 3:  # passes the shape check's 3 steps, not the causality probe's 6
            raise SystemExit(1)
        return x  # (B, T, hidden)


@pytest.mark.parametrize("model, expected", [
    (exit_building, "exit_building() called sys.exit(3); expected it to build the module"),
    (ExitsInForward, "its module called sys.exit('bye') on a (2, 3, 8) batch"),
    (ExitsOnLongerInputs, "forward(h, per_step=True) called sys.exit(1) on a (2, 6, 8) batch "
     "of random inputs"),
])
def test_a_model_that_exits_while_it_is_checked_is_one_error(tmp_path, model, expected):
    with pytest.raises(ValueError) as info:
        mb.run(tasks="adding", models=[model], lengths=[4], db=tmp_path / "r.db", **SMALL)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_ctrl_c_in_a_model_is_not_turned_into_an_error():
    def interrupted(hidden: int = 8):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        usermodels.resolve([interrupted])


def test_a_model_that_exits_in_training_fails_its_cells_alone(invoke, tmp_path):
    (tmp_path / "exits.py").write_text(EXIT_IN_TRAINING)
    result = invoke(*RUN, "--model", "elman", "--model-file", "exits.py:Net", "--db", "s.db")
    assert result.exit_code == 1, result.output
    assert "trained 2 cells (1 failed, 1 ok)" in result.stderr
    by_model = {r["model"]: r for r in rows(tmp_path / "s.db")}
    assert by_model["elman"]["status"] == "ok"
    assert by_model["net"]["status"] == "failed"
    assert by_model["net"]["error"] == "SystemExit: the model's code called sys.exit(0)"


def test_a_sys_exit_that_escapes_other_work_fails_the_unit():
    cell = Cell("adding", "adding", 1, {}, 4, "elman", "elman", "network", 1, {},
                TrainConfig(), 0)

    def exits(unit, device):
        sys.exit(2)

    row = usermodels.WithModels({}, exits)(cell, "cpu")
    assert row["status"] == "failed" and "sys.exit(2)" in row["error"]


# --- (10) causality, probed ---------------------------------------------------------------
class BackwardsGRU(nn.Module):
    """A GRU run from the last step to the first: every output sees the whole future."""

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)

    def forward(self, x):
        return self.rnn(x.flip(1))[0].flip(1)  # (B, T, hidden)


def test_a_backwards_gru_is_stored_and_ranked_as_non_causal(tmp_path, capsys):
    frame = mb.run(tasks="copy", models=[BackwardsGRU, net_a], lengths=[4],
                   db=tmp_path / "r.db", **SMALL)
    causal = {r["model"]: r["metrics"]["causal"] for r in rows(tmp_path / "r.db")}
    assert causal == {"backwardsgru": False, "net_a": True} and len(frame) == 2
    err = capsys.readouterr().err
    assert err.count("model backwardsgru: its outputs at step 0 change when later inputs "
                     "change; it is ranked as non-causal") == 1
    assert "net_a: its outputs" not in err


def peeks_in_training(hidden: int = 8):
    class Peek(nn.Module):  # like a batch norm over time: the future leaks in train mode
        def forward(self, x):
            return x + x.mean(1, keepdim=True) if self.training else x  # (B, T, hidden)

    return Peek()


def with_dropout(hidden: int = 8):
    return nn.Sequential(nn.Linear(hidden, hidden), nn.Dropout(0.5))


def declared(hidden: int = 8):
    return BackwardsGRU(hidden)


declared.causal = False


@pytest.mark.parametrize("factory, causal, noted", [
    (peeks_in_training, False, True),  # probed in train mode too
    (with_dropout, True, False),  # the same dropout draws in both passes
    (declared, False, False),  # a model that says it looks ahead is not probed
])
def test_the_probe_marks_only_a_model_that_looks_ahead(factory, causal, noted, capsys):
    _, classes = usermodels.resolve([factory])
    assert classes[factory.__name__].causal is causal
    assert ("ranked as non-causal" in capsys.readouterr().err) is noted


# --- (23a) a model's prints go to standard error ------------------------------------------
NOISY_FILE = """
from torch import nn

print("importing noisy")


class Net(nn.Module):
    def __init__(self, hidden: int = 8):
        super().__init__()
        print("building noisy")
        self.lin = nn.Linear(hidden, hidden)

    def forward(self, x):
        print("forward noisy")
        return self.lin(x).cumsum(1)  # (B, T, hidden)
"""


def test_a_printing_model_leaves_the_json_on_standard_output(invoke, tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY_FILE)
    result = invoke(*RUN, "--model-file", "noisy.py:Net", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["model"] == "net"
    assert all(f"{what} noisy" in result.stderr for what in ("importing", "building",
                                                             "forward"))


def test_worker_processes_print_to_standard_error_too(tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY_FILE)
    done = subprocess.run([sys.executable, "-m", "memorybench", *RUN, "--seeds", "0,1",
                           "--workers", "2", "--model-file", "noisy.py:Net", "--format",
                           "json"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["seeds"] == 2
    assert done.stderr.count("forward noisy") > 10


def test_a_printing_model_prints_nothing_on_standard_output_from_python(tmp_path, capsys):
    def noisy(hidden: int = 8):
        print("building")
        return nn.Linear(hidden, hidden)

    mb.run(tasks="copy", models=[noisy], lengths=[4], db=tmp_path / "r.db", **SMALL)
    out, err = capsys.readouterr()
    assert out == "" and "building" in err


def test_the_probe_leaves_the_random_state_as_it_was():
    state = torch.random.get_rng_state()
    usermodels.resolve([("fresh", with_dropout)])
    assert torch.equal(state, torch.random.get_rng_state())
