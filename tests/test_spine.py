"""The spine: a plugin task or model is one .py + one .toml, a cell's key follows the code
that determines its result, and cells and diagnostics train through one loop."""

import json
import os
import subprocess
import sys

import pytest
import torch

from memorybench import catalog, diagnostics, training
from memorybench.sweep import Sweep, load_suite, suite_names
from memorybench.tasks import TASKS
from memorybench.training import train_cell

from conftest import TINY, one_line_exit_2

PLUGIN = """
import torch
from torch import nn

from memorybench.models.base import Core


class Model(Core):
    \"\"\"A tanh recurrence written by a third party: {comment}\"\"\"

    description = "a model from a plugin"
    recurrent_state = False

    def __init__(self, d_in, hidden=4, layers=1):
        super().__init__()
        self.rnn = nn.RNN(d_in, hidden, num_layers=layers, batch_first=True)
        self.out_features = hidden

    def forward(self, h, per_step):
        out, _ = self.rnn(h)  # (B, T, hidden)
        return out if per_step else out[:, -1]
"""
SPEC = """
description = "a plugin's own spec, read beside its code"

[params]
hidden = 6

[train]
lr = 0.02
"""


def install_plugin(root, comment="first version", spec=SPEC):
    """A third-party model on PYTHONPATH: one .py, one .toml beside it, and the entry
    point an installed distribution declares."""
    (root / "mbplugin.py").write_text(PLUGIN.format(comment=comment))
    if spec is not None:
        (root / "mine.toml").write_text(spec)
    info = root / "mbplugin-1.2.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mbplugin\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[memorybench.models]\nmine = mbplugin:Model\n")
    (info / "RECORD").write_text("mbplugin.py,,\n")


def cli(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "plugins")}
    return subprocess.run([sys.executable, "-m", "memorybench", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


RUN = ["run", "--task", "adding", "--model", "mine", "--lengths", "4", *TINY, "--db", "s.db"]


@pytest.fixture
def plugin_dir(tmp_path):
    (tmp_path / "plugins").mkdir()
    install_plugin(tmp_path / "plugins")
    return tmp_path


def stored_rows(tmp_path):
    done = cli(tmp_path, "export", "--db", "s.db", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_plugin_with_one_py_and_one_toml_runs_through_the_real_cli(plugin_dir):
    listed = cli(plugin_dir, "list")
    assert listed.returncode == 0, listed.stderr
    assert "a plugin's own spec, read beside its code" in listed.stdout
    done = cli(plugin_dir, *RUN)
    assert done.returncode == 0, done.stderr
    [row] = stored_rows(plugin_dir)
    assert row["status"] == "ok"
    assert row["config"]["train"]["lr"] == 0.02  # the plugin spec's training settings
    assert row["config"]["model_version"].startswith("sha256:")
    assert row["versions"]["plugins"] == {"model": "mbplugin==1.2"}


def test_editing_a_plugin_model_trains_it_again_and_an_unchanged_rerun_trains_nothing(
        plugin_dir):
    assert cli(plugin_dir, *RUN).returncode == 0
    again = cli(plugin_dir, *RUN)
    assert "0 to train, 1 already stored" in again.stderr
    install_plugin(plugin_dir / "plugins", comment="second version")
    edited = cli(plugin_dir, *RUN)
    assert "1 to train, 0 already stored" in edited.stderr, edited.stderr
    assert len(stored_rows(plugin_dir)) == 2


def test_rerun_trains_stored_cells_again_and_replaces_them(invoke):
    args = ["run", "--task", "adding", "--model", "elman", "--lengths", "4", *TINY]
    assert invoke(*args).exit_code == 0
    first = json.loads(invoke("export", "--format", "jsonl").output)["finished_at"]
    redo = invoke(*args, "--rerun")
    assert redo.exit_code == 0
    assert "1 to train, 0 already stored" in redo.stderr
    rows = invoke("export", "--format", "jsonl").output.splitlines()
    assert len(rows) == 1 and json.loads(rows[0])["finished_at"] >= first


def test_retry_failed_trains_a_failed_cell_again(invoke, monkeypatch):
    args = ["run", "--task", "adding", "--model", "elman", "--lengths", "4", *TINY]
    real = training._train

    def broken(cell, dev, result):
        raise RuntimeError("boom")

    monkeypatch.setattr(training, "_train", broken)
    assert invoke(*args).exit_code == 1
    monkeypatch.setattr(training, "_train", real)
    assert "0 to train, 1 already stored" in invoke(*args).stderr
    retried = invoke(*args, "--retry-failed")
    assert retried.exit_code == 0, retried.output
    [row] = [json.loads(line) for line in invoke("export", "--format", "jsonl").output.split(
        "\n") if line]
    assert row["status"] == "ok" and row["error"] is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_line(invoke, tmp_path):
    done = invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4", *TINY,
                  "--device", "cuda")
    one_line_exit_2(done, "--device cuda: no CUDA device is available here")
    assert list(tmp_path.iterdir()) == []


def test_spec_files_and_registered_names_match_one_to_one():
    """Every registered task and model has its spec, and every spec names a registered
    class (a variant through its ``type``)."""
    from memorybench.baselines import BASELINES
    from memorybench.models import MODELS

    tasks, models = catalog.spec_files("tasks"), catalog.spec_files("models")
    assert tasks and models
    assert set(TASKS.names()) <= set(tasks)
    assert set(MODELS.names()) <= set(models)
    for name in tasks:
        assert catalog.task_spec(name).get("type", name) in TASKS.names(), name
    for name in models:
        assert catalog.model_spec(name).get("type", name) in MODELS.names(), name
    assert not set(BASELINES.names()) & set(models)


def test_every_task_spec_gives_its_lengths_for_the_short_suites():
    """A suite that runs "all" tasks reads each task's lengths from its spec."""
    assert TASKS.names()
    for name in TASKS.names():
        lengths = catalog.task_spec(name).get("suites", {})
        assert {"smoke", "ci", "quick"} <= set(lengths), name
    assert {"smoke", "ci", "quick"} <= set(suite_names())
    smoke = load_suite("smoke")[0]
    assert smoke.tasks == catalog.task_names() and smoke.models == catalog.model_names()


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


def test_the_stored_cell_config_rebuilds_the_same_cell():
    from memorybench.cells import Cell

    cells = load_suite("smoke")[0].cells()
    assert cells
    for cell in cells[:40]:
        assert Cell.from_config(cell.config()) == cell


def test_builtin_code_versions_are_declared_and_a_plugin_is_hashed():
    from memorybench.models import MODELS
    from memorybench.models.recurrent import Elman

    assert {catalog.fingerprint(MODELS.get(n)) for n in MODELS.names()} == {1}

    class Local(Elman):
        pass

    Local.__module__ = "somewhere_else"
    assert str(catalog.fingerprint(Local)).startswith("sha256:")


def test_a_plugin_spec_with_an_unknown_key_is_one_line(plugin_dir):
    install_plugin(plugin_dir / "plugins", spec='descrption = "typo"\n')
    done = cli(plugin_dir, *RUN)
    assert done.returncode == 2
    assert "unknown key 'descrption'" in done.stderr and "Traceback" not in done.stderr


def test_a_contributor_reads_the_two_recipes_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Contributing", 1)[1]
    assert "### A new task" in section and "### A new model" in section



def test_a_broken_plugin_fails_alone(plugin_dir):
    plugins = plugin_dir / "plugins"
    (plugins / "brokenmb.py").write_text("raise ImportError('missing dependency xyz')\n")
    info = plugins / "brokenmb-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenmb\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[memorybench.models]\nbroken = brokenmb:Model\n")
    listed = cli(plugin_dir, "list")
    assert listed.returncode == 0, listed.stderr
    assert "lstm" in listed.stdout and "mine" in listed.stdout  # built-ins and other plugins
    warnings = [line for line in listed.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "'broken'" in warnings[0] and "xyz" in warnings[0]
    done = cli(plugin_dir, "run", "--task", "adding", "--model", "broken", "--lengths", "4",
               "--dry-run")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("memorybench: error: model plugin "
                                                          "'broken'")


def test_list_run_and_dry_run_speak_json(invoke):
    listed = json.loads(invoke("list", "--format", "json").stdout)
    assert {m["name"] for m in listed["models"]} >= {"lstm", "mamba"}
    assert {t["name"] for t in listed["tasks"]} == set(catalog.task_names())
    plan = json.loads(invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4,5",
                             *TINY, "--dry-run", "--format", "json").stdout)
    assert plan["to_run"] == 2 and {c["length"] for c in plan["cells"]} == {4, 5}
    done = invoke("run", "--task", "adding", "--model", "elman", "--lengths", "4", *TINY,
                  "--format", "json")
    assert done.exit_code == 0
    [row] = json.loads(done.stdout)  # progress and notes went to standard error
    assert row["model"] == "elman" and row["seeds"] == 1 and 0 <= row["mean"] <= 1
