"""The training flags (``--steps``, ``--batch-size``, ``--lr``, ``--eval-every``): one
definition on every command that trains, with one help text, reaching the cells; ``horizon``
refuses one learning rate in one line pointing at its grid."""

import json

import pytest

import memorybench as mb
from memorybench.cli import cli
from memorybench.cli.flags import TRAINING_HELP, Options
from memorybench.horizon.plan import plan_searches, search_sweep

from conftest import one_line_exit_2


def option(command: str, name: str):
    (found,) = [p for p in cli.commands[command].params if p.name == name]
    return found


@pytest.mark.parametrize("name", list(TRAINING_HELP))
def test_every_training_command_has_the_flag_with_one_help_text(name):
    run, horizon, diagnose = (option(c, name) for c in ("run", "horizon", "diagnose"))
    assert run.help.startswith(TRAINING_HELP[name])
    assert horizon.help == run.help and horizon.opts == run.opts
    assert repr(horizon.type) == repr(run.type) == repr(diagnose.type)
    assert diagnose.help.startswith(TRAINING_HELP[name]) and diagnose.opts == run.opts
    assert horizon.hidden == (name == "lr") and not run.hidden and not diagnose.hidden


def test_horizon_steps_reach_every_cell_of_the_plan(invoke):
    request = Options(db="x.db", tasks=("copy",), models=("lstm",), steps=300,
                      batch_size=16, eval_every=50).request()
    sweep, protocol = search_sweep(request)
    (search,) = plan_searches(sweep, protocol)
    assert {(c.train.steps, c.train.batch_size, c.train.eval_every)
            for c in search.base} == {(300, 16, 50)}
    plain = invoke("horizon", "--task", "copy", "--model", "lstm", "--dry-run", "--db", "x.db")
    steps = invoke("horizon", "--task", "copy", "--model", "lstm", "--steps", "300",
                   "--dry-run", "--db", "x.db")
    assert steps.exit_code == 0, steps.output
    assert steps.stdout != plain.stdout  # a smaller budget: a smaller worst case


def test_horizon_steps_are_the_stored_cells_budget(invoke):
    result = invoke("horizon", "--task", "adding", "--model", "elman", "--start", "4",
                    "--cap", "4", "--seeds", "0", "--lrs", "1e-2", "--multiples", "2",
                    "--no-control", "--steps", "6", "--eval-every", "3", "--batch-size", "8",
                    "--set", "model.hidden=8", "--set", "train.eval_size=32",
                    "--test-size", "32", "--workers", "1", "--quiet", "--db", "h.db")
    assert result.exit_code == 0, result.output
    train = [json.loads(c)["train"] for c in mb.load("h.db")["config"]]
    assert train and {(t["steps"], t["batch_size"], t["eval_every"]) for t in train} == {
        (6, 8, 3)}


@pytest.mark.parametrize("args", [["--lr", "0.01"], ["--set", "train.lr=0.01"],
                                  ["--set", "train.copy.lr=0.01"]])
def test_horizon_refuses_one_learning_rate_and_points_at_the_grid(invoke, tmp_path, args):
    one_line_exit_2(invoke("horizon", "--task", "copy", "--model", "lstm", *args, "--dry-run",
                           "--db", "x.db"), "horizon searches a grid of learning rates")
    assert "--lrs" in invoke("horizon", "--task", "copy", "--model", "lstm", *args).stderr
    with pytest.raises(ValueError, match="lrs="):
        mb.horizon(tasks="copy", models="lstm", db=tmp_path / "h.db", lr=0.01)


def test_diagnose_takes_the_training_flags_as_train_settings(invoke, monkeypatch):
    from memorybench import diagnostics
    from memorybench.errors import UserError

    seen = {}

    def plan_models(task, models, length, seeds, steps, overrides):
        seen.update(steps=steps, train=overrides["train"])
        raise UserError("planned")

    monkeypatch.setattr(diagnostics, "plan_models", plan_models)
    one_line_exit_2(invoke("diagnose", "--model", "lstm", "--batch-size", "16", "--lr", "0.01",
                           "--eval-every", "20", "--set", "train.lr=0.5"), "planned")
    assert seen == {"steps": 200, "train": {"batch_size": 16, "lr": 0.01, "eval_every": 20}}
