"""Plugins: a third-party model is one .py + one .toml on the path with an entry point; it
runs through the real CLI, an edit to its code trains it again, and a broken one fails alone."""

import json
import os
import subprocess
import sys

import pytest

from conftest import TINY

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
