"""Diagnostics measure what they claim: exact gradient decay on a linear RNN, step-wise states
equal to the fused forward, a probe that finds what a state holds, and the CLI end to end; a
diagnostic trains through its cell's own loop, and a diverged one is recorded, not raised."""

import json
import sqlite3
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from memorybench import diagnostics, training
from memorybench.config import TrainConfig
from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.base import Core, SequenceModel
from memorybench.store import Store
from memorybench.sweep import Sweep
from memorybench.tasks import TASKS
from memorybench.training import train_cell, train_network

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
    distances = diagnostics.probe_distances(TASKS.get("adding")(), 40)
    assert distances == [0, 1, 2, 4, 7, 11, 17, 26, 39]  # geometric over all 40
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
    # 3 steps teach nothing: the output says the "trained" model is at chance
    assert "note: elman (seed 0) ended at chance level after at most 3 steps" in first.output
    with Store("results/memorybench.db", readonly=True) as store:
        rows = store.diagnostics()
    assert rows["model"].tolist() == ["attention", "elman"]
    assert rows["status"].tolist() == ["not applicable", "ok"]
    result = json.loads(rows["result"][1])
    assert len(result["init"]["gradient"]["mean"]) == 12
    assert 0 < result["init"]["gradient"]["factor"]
    assert result["chance"] == pytest.approx(TASKS.get("adding")().chance(12))
    assert result["trained"]["steps"] == 3
    folder = tmp_path / "reports/latest/diagnostics"
    assert (folder / "README.md").exists()
    assert "factor at init" in (folder / "README.md").read_text()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755

    again = invoke("diagnose", "--model", "elman", *DIAG)
    assert again.exit_code == 0 and "0 to run, 1 already stored" in again.output

    for out in ("reports/a", "reports/b"):
        done = invoke("report", "--out", out)
        assert done.exit_code == 0, done.output
    readme = (tmp_path / "reports/a/README.md").read_text()
    assert "## Gradient flow" in readme and "factor at init" in readme
    assert "Not applicable: attention" in readme.split("## Gradient flow")[1]
    assert "at chance" in readme.split("## Gradient flow")[1]
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


def test_settings_are_kept_apart_and_seeds_run_in_parallel(invoke, tmp_path):
    base = ["diagnose", "--model", "elman", *DIAG]
    assert invoke(*base, "--seeds", "0,1", "--workers", "2").exit_code == 0
    assert invoke(*base, "--set", "train.lr=0.5").exit_code == 0
    with Store("results/memorybench.db", readonly=True) as store:
        assert sorted(store.diagnostics()["seed"]) == [0, 0, 1]
    readme = (tmp_path / "reports/latest/diagnostics/README.md").read_text()
    assert readme.count("## adding, T=12") == 2
    assert "train.lr=0.5" in readme


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
    (["--model", "attention", "--model", "ffwindow"], "nothing to diagnose: attention, "
     "ffwindow carry no per-step recurrent state"),
    (["--model", "elman", "--set", "model.hidden=0"], "model elman: hidden=0"),
    (["--model", "elman", "--set", "model.hidden=x"], "parameter hidden='x' is invalid"),
    (["--model", "elman", "--out", "taken.txt"], "--out taken.txt is a file"),
    (["--model", "elman", "--out", "."], "--out . is not a folder a report can be written"),
])
def test_bad_input_is_one_line_and_stores_nothing(invoke, tmp_path, args, message):
    (tmp_path / "taken.txt").write_text("keep")
    done = invoke("diagnose", *args)
    assert done.exit_code == 2
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.txt"]  # no store, no report
    assert (tmp_path / "taken.txt").read_text() == "keep"


def test_a_model_that_does_not_build_is_a_user_error(monkeypatch):
    class Broken(LinearRNN):
        def __init__(self, d_in, hidden=4, layers=1):
            raise RuntimeError("cannot allocate a state of that size\nmore")

    config = diagnostics.plan("adding", "elman", 12, 0, 3)
    monkeypatch.setattr(diagnostics, "model_class_of", lambda cell: Broken)
    with pytest.raises(UserError, match="model elman: parameters .* do not build "
                       r"\(RuntimeError: cannot allocate a state of that size\)"):
        diagnostics.check_builds(config)


def test_training_stops_early_once_solved():
    """Agreement's chance is 0.5: with a threshold of 0.01 the first evaluation solves it."""
    task = TASKS.get("agreement")(solved=0.01)
    for early, steps in ((True, 2), (False, 6)):
        model = SequenceModel(task.io, MODELS.get("elman"), hidden=8)
        cfg = TrainConfig(steps=6, batch_size=8, eval_every=2, eval_size=32, early_stop=early)
        done = train_network(model, task, cfg, 6, 0, torch.device("cpu"))
        assert done.steps == steps
        assert [c[0] for c in done.curve] == list(range(2, steps + 1, 2))


def test_the_probe_does_not_overfit_noise():
    """190 features of noise, a target they do not hold: held-out R² stays near 0 (a barely
    penalised read-out fitted on 400 examples scored about -0.5 here)."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(diagnostics.PROBE_EXAMPLES, 190))
    target = rng.normal(size=(diagnostics.PROBE_EXAMPLES, 1))
    assert diagnostics.probe_fit(features, target) > -0.05
    assert diagnostics.probe_fit(features, np.ones((diagnostics.PROBE_EXAMPLES, 3))) is None


def test_copy_is_measured_over_its_whole_sequence():
    """Copy's sequence is T + 20 steps: distances run to T + 19, counted from its end."""
    task = TASKS.get("copy")()
    assert diagnostics.sequence_steps(task, 12) == 32
    model = SequenceModel(task.io, ShiftRegister, hidden=2, k=4).double()
    flow = diagnostics.gradient_flow(model, task, 12, 0)
    assert len(flow["mean"]) == 32
    r2 = diagnostics.memory_probe(model.float(), task, 12, 0)
    # only the symbols vary, at distances 22..31 (the most recent read 22 steps back)
    distances = diagnostics.probe_distances(task, 12)
    assert distances == [22, 23, 24, 25, 26, 27, 29, 31]
    assert all(v is not None for v in r2) and len(r2) == len(distances)


def test_a_store_without_diagnostics_reports_as_before(tmp_path):
    """An older store (schema 2) gains the table on migration and keeps its rows."""
    path = tmp_path / "v2.db"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute("DROP TABLE diagnostics")
    con.execute("ALTER TABLE cells DROP COLUMN state_size")  # added in schema 4
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.close()
    with Store(path, readonly=True) as store:
        assert store.diagnostics().empty and store.diagnostic_keys() == set()
    with Store(path) as store:
        assert store.con.execute("SELECT count(*) FROM diagnostics").fetchone()[0] == 0
        assert store.con.execute("PRAGMA user_version").fetchone()[0] >= 3


def test_a_diagnostic_trains_exactly_as_its_cell_does():
    """One training loop: same held-out set, same steps, same trained metric."""
    diag = diagnostics.plan("adding", "elman", 6, 0, 20, {"train": {"eval_every": 10},
                                                          "task": {}, "model": {"hidden": 8}})
    cell = Sweep(tasks=["adding"], models=["elman"], lengths=[6],
                 train={"steps": 20, "eval_every": 10}, model={"hidden": 8}).cells()[0]
    assert diag.cell == cell
    row = diagnostics.diagnose(diag)
    result = train_cell(cell)
    assert row["status"] == "ok" and result["status"] == "ok"
    assert row["result"]["trained"]["metric"] == result["metric"]
    assert row["result"]["trained"]["curve"] == result["metrics"]["curve"]


def test_a_diverged_diagnostic_is_recorded_not_raised(monkeypatch):
    monkeypatch.setattr(training, "train_steps", lambda *args, **kw: 3)
    diag = diagnostics.plan("adding", "elman", 6, 0, 10, {"train": {}, "task": {},
                                                          "model": {"hidden": 8}})
    row = diagnostics.diagnose(diag)
    assert row["status"] == "diverged" and "step 3" in row["error"]
    assert row["result"]["init"]["gradient"]["mean"]  # measured before training
