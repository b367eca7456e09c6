"""Diagnostics measure what they claim: exact gradient decay on a linear RNN, step-wise states
equal to the fused forward, a probe that finds what a state holds, and the CLI end to end."""

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import torch

from memorybench import diagnostics
from memorybench.models import MODELS
from memorybench.models.base import Core, SequenceModel
from memorybench.store import Store
from memorybench.tasks import TASKS

from conftest import TINY

DIAG = ["--length", "12", "--steps", "3", "--set", "model.hidden=8",
        "--set", "train.batch_size=8"]


class LinearRNN(Core):
    """h_t = a h_{t-1} + x_t: every step Jacobian is a*I, so dLoss/dh_t = a^d dLoss/dh_{T-1}."""

    recurrent_state = True

    def __init__(self, d_in: int, hidden: int = 4, a: float = 0.9):
        super().__init__()
        self.a = a
        self.out_features = d_in

    def unroll(self, h):
        state, states = None, []
        for x_t in h.unbind(1):
            state = x_t if state is None else self.a * state + x_t  # (B, d)
            states.append((state,))
        return states, torch.stack([s[0] for s in states], dim=1)

    def forward(self, h, per_step):
        feats = self.unroll(h)[1]
        return feats if per_step else feats[:, -1]


class ShiftRegister(Core):
    """A state that holds exactly the last ``k`` inputs, and nothing older."""

    recurrent_state = True

    def __init__(self, d_in: int, hidden: int = 2, k: int = 4):
        super().__init__()
        self.k, self.d = k, d_in
        self.out_features = k * d_in

    def unroll(self, h):
        B, _, d = h.shape
        state, states = h.new_zeros(B, self.k * d), []
        for x_t in h.unbind(1):
            state = torch.cat([x_t, state[:, :-d]], dim=-1)  # (B, k d), newest first
            states.append((state,))
        return states, torch.stack([s[0] for s in states], dim=1)

    def forward(self, h, per_step):
        feats = self.unroll(h)[1]
        return feats if per_step else feats[:, -1]


def adding_model(core, **params):
    torch.manual_seed(0)
    return SequenceModel(TASKS.get("adding")().io, core, **params).double()


@pytest.mark.parametrize("a", [0.9, 0.5])
def test_gradient_of_a_linear_rnn_falls_as_a_to_the_distance(a):
    task = TASKS.get("adding")()
    batch = task.sample(16, 40, np.random.default_rng(0))
    batch.x, batch.y = batch.x.double(), batch.y.double()
    norms = diagnostics.gradient_norms(adding_model(LinearRNN, a=a), task, batch)  # (B, T)
    assert norms.shape == (16, 40)
    for d, k in [(0, 1), (1, 5), (3, 20), (10, 29)]:
        np.testing.assert_allclose(norms[:, d + k] / norms[:, d], a ** k, rtol=1e-9)
    geo = np.exp(np.log(norms).mean(0))
    assert diagnostics.fit_factor(geo) == pytest.approx(a, rel=1e-9)
    # the stored curve of gradient_flow fits the same factor
    assert diagnostics.gradient_flow(adding_model(LinearRNN, a=a), task, 40, 0)["factor"] \
        == pytest.approx(a, rel=1e-6)


@pytest.mark.parametrize("name", ["elman", "lstm", "gru", "irnn", "orthogonal"])
@pytest.mark.parametrize("layers", [1, 2])
def test_stepwise_states_equal_the_fused_forward(name, layers):
    torch.manual_seed(0)
    core = MODELS.get(name)(d_in=5, hidden=6, layers=layers)
    h = torch.randn(3, 9, 5)
    states, feats = core.unroll(h)
    assert len(states) == 9 and len(states[0]) == layers
    torch.testing.assert_close(feats, core(h, per_step=True), rtol=1e-5, atol=2e-5)
    assert all(s.shape == (3, 6) for step in states for s in step)


def test_untrained_elman_with_small_weights_forgets_exponentially():
    model = adding_model(MODELS.get("elman"), hidden=16)
    with torch.no_grad():
        model.core.rnn.weight_hh_l0.mul_(0.5)
    flow = diagnostics.gradient_flow(model, TASKS.get("adding")(), 60, 0)
    assert flow["factor"] < 0.9
    assert flow["mean"][50] < 1e-3 * flow["mean"][1]


def test_probe_reads_back_what_the_state_holds_and_nothing_older():
    model = adding_model(ShiftRegister, hidden=2, k=4).float()
    r2 = diagnostics.memory_probe(model, TASKS.get("adding")(), 40, 0)
    distances = diagnostics.probe_distances(40)
    held = [v for d, v in zip(distances, r2, strict=True) if d < 4]
    lost = [v for d, v in zip(distances, r2, strict=True) if d >= 4]
    assert held and min(held) > 0.99
    assert lost and max(lost) < 0.1


def test_attention_and_windows_have_no_recurrent_state():
    assert diagnostics.applies("elman") and diagnostics.applies("orthogonal")
    for name in ("attention", "ffwindow", "encoder", "birnn"):
        assert not diagnostics.applies(name)


def test_diagnose_stores_resumes_and_reports(invoke, tmp_path):
    first = invoke("diagnose", "--model", "elman", "--model", "attention", *DIAG)
    assert first.exit_code == 0, first.output
    assert "attention: does not apply" in first.output
    assert "1 to run, 0 already stored" in first.output
    with Store("results/memorybench.db", readonly=True) as store:
        rows = store.diagnostics()
    assert rows["model"].tolist() == ["elman"] and rows["status"].tolist() == ["ok"]
    result = json.loads(rows["result"][0])
    assert len(result["init"]["gradient"]["mean"]) == 12
    assert 0 < result["init"]["gradient"]["factor"]
    assert (tmp_path / "reports/latest/diagnostics/README.md").exists()
    assert "factor at init" in (tmp_path / "reports/latest/diagnostics/README.md").read_text()

    again = invoke("diagnose", "--model", "elman", *DIAG)
    assert again.exit_code == 0 and "0 to run, 1 already stored" in again.output

    for out in ("reports/a", "reports/b"):
        done = invoke("report", "--out", out)
        assert done.exit_code == 0, done.output
    readme = (tmp_path / "reports/a/README.md").read_text()
    assert "## Gradient flow" in readme and "factor at init" in readme
    assert 'id="gradient-flow"' in (tmp_path / "reports/a/index.html").read_text()
    flow = sorted((tmp_path / "reports/a/diagnostics").glob("*gradient-flow.png"))
    assert flow and flow[0].read_bytes().startswith(b"\x89PNG")
    code = ("import sys; from memorybench.report import render_report; "
            "render_report('results/memorybench.db', 'reports/c'); "
            "assert 'torch' not in sys.modules, 'the report layer imported torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = {p.relative_to(tmp_path / "reports/a"): p.read_bytes()
             for p in (tmp_path / "reports/a").rglob("*") if p.is_file()}
    assert files == {p.relative_to(tmp_path / "reports/b"): p.read_bytes()
                     for p in (tmp_path / "reports/b").rglob("*") if p.is_file()}


def test_report_of_cells_and_diagnostics_has_both(invoke, tmp_path):
    assert invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4,6",
                  *TINY).exit_code == 0
    assert invoke("diagnose", "--model", "lstm", *DIAG).exit_code == 0
    assert invoke("report").exit_code == 0
    readme = (tmp_path / "reports/latest/README.md").read_text()
    assert "## Task adding" in readme and "## Gradient flow" in readme
    assert "[Gradient flow](#gradient-flow)" in readme
    assert (tmp_path / "reports/latest/diagnostics/factors.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["--model", "lstmm"], "unknown model 'lstmm'"),
    (["--length", "0"], "--length 0 is not a positive length"),
    (["--task", "nope"], "unknown task 'nope'"),
])
def test_bad_input_is_one_line_and_stores_nothing(invoke, tmp_path, args, message):
    done = invoke("diagnose", *args)
    assert done.exit_code == 2
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.output
    assert not (tmp_path / "results").exists()


def test_a_store_without_diagnostics_reports_as_before(tmp_path):
    """An older store (schema 2) gains the table on migration and keeps its rows."""
    path = tmp_path / "v2.db"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute("DROP TABLE diagnostics")
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.close()
    with Store(path, readonly=True) as store:
        assert store.diagnostics().empty and store.diagnostic_keys() == set()
    with Store(path) as store:
        assert store.con.execute("SELECT count(*) FROM diagnostics").fetchone()[0] == 0
        assert store.con.execute("PRAGMA user_version").fetchone()[0] >= 3
