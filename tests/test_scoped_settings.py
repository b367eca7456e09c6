"""Settings for one task or model (``--set model.mamba.layers=1``, ``model={"mamba": {...}}``,
a suite's ``[model.mamba]``) beside settings for all: one mechanism, one precedence rule
(a later layer wins; within a layer, scoped beats unscoped), an unscoped key set on every
selected task or model that takes it, and a key or a name that fits none refused in one
line. Keys stay what they were for the same effective settings."""

import json

import pytest

import memorybench as mb
from memorybench.cli.flags import parse_set
from memorybench.config import Request
from memorybench.errors import UserError
from memorybench.horizon.plan import plan_searches, search_sweep
from memorybench.sweep import build_sweep, load_suite

from conftest import TINY, one_line_exit_2

PAIR = {"tasks": ("copy", "adding"), "models": ("mamba", "lstm"), "lengths": (4,)}


def cells(**request):
    """(task, model) -> the one cell of a one-length, one-seed sweep."""
    return {(c.task, c.model): c for c in build_sweep(Request(**{**PAIR, **request})).cells()}


def test_set_reads_a_table_for_one_name_and_a_name_may_hold_a_dash():
    assert parse_set(("task.selective-copy.tokens=4", "model.mamba.layers=1",
                      "model.hidden=8", "train.copy.steps=9")) == {
        "train": {"copy": {"steps": 9}}, "task": {"selective-copy": {"tokens": 4}},
        "model": {"mamba": {"layers": 1}, "hidden": 8}}


@pytest.mark.parametrize("items, expected", [
    (("model..layers=1",), "expected SECTION.KEY=VALUE or SECTION.NAME.KEY=VALUE"),
    (("model.mamba.=1",), "expected SECTION.KEY=VALUE"),
    (("model.mamba=1", "model.mamba.layers=1"), "model.mamba was set to a value"),
    (("model.mamba.layers=1", "model.mamba=1"), "model.mamba names a table of settings"),
])
def test_a_malformed_scoped_set_is_one_line(items, expected):
    with pytest.raises(UserError, match=expected):
        parse_set(items)


def test_a_scoped_value_sets_its_task_or_model_only():
    by = cells(task={"copy": {"symbols": 4}}, model={"mamba": {"layers": 1}})
    assert by["copy", "mamba"].model_params["layers"] == 1
    assert by["copy", "lstm"].model_params["layers"] == 1  # lstm's spec default
    assert {by["copy", m].task_params["symbols"] for m in ("mamba", "lstm")} == {4}
    assert "symbols" not in by["adding", "lstm"].task_params
    plain = cells()
    assert by["adding", "lstm"].key == plain["adding", "lstm"].key  # untouched cells


def test_scoped_beats_unscoped_in_either_order_on_the_command_line():
    for items in (("model.layers=2", "model.mamba.layers=1"),
                  ("model.mamba.layers=1", "model.layers=2")):
        by = cells(model=parse_set(items)["model"])
        assert by["copy", "mamba"].model_params["layers"] == 1
        assert by["copy", "lstm"].model_params["layers"] == 2


def test_an_unscoped_key_sets_every_selected_model_that_takes_it_and_no_other():
    by = cells(model={"state": 4}, task={"symbols": 3})
    assert by["copy", "mamba"].model_params["state"] == 4
    assert "state" not in by["copy", "lstm"].model_params
    assert by["copy", "lstm"].task_params["symbols"] == 3
    plain = cells()
    assert by["adding", "lstm"].key == plain["adding", "lstm"].key  # it takes neither key


def test_the_scoped_and_the_unscoped_form_of_one_setting_are_one_cell():
    one = {"tasks": ("copy",), "models": ("lstm",), "lengths": (4,)}
    scoped = build_sweep(Request(**one, task={"copy": {"symbols": 3}},
                                 model={"lstm": {"hidden": 8}})).cells()
    flat = build_sweep(Request(**one, task={"symbols": 3}, model={"hidden": 8})).cells()
    assert [c.key for c in scoped] == [c.key for c in flat]


SUITE = """
tasks = ["copy"]
models = ["lstm", "mingru"]
lengths = [4]
[model]
layers = 1
[model.mingru]
layers = 2
[horizon]
params = 3000
[horizon.model]
lstm = { layers = 2 }
"""


def layers(sweep_cells):
    return {c.model: c.model_params["layers"] for c in sweep_cells}


def test_a_later_layer_wins_and_within_a_layer_scoped_beats_unscoped(tmp_path):
    (tmp_path / "s.toml").write_text(SUITE)
    path = str(tmp_path / "s.toml")

    def run(**model):
        return layers(build_sweep(Request(path, model=model)).cells())

    def horizon(**model):
        sweep, protocol = search_sweep(Request(path, seeds=(0,), model=model,
                                               protocol={"lrs": (1e-2,)}))
        return layers(c for s in plan_searches(sweep, protocol) for c in s.base)

    assert run() == {"lstm": 1, "mingru": 2}  # the suite: [model.mingru] over [model]
    assert run(layers=3) == {"lstm": 3, "mingru": 3}  # the flag, a later layer, over both
    assert run(layers=3, mingru={"layers": 1}) == {"lstm": 3, "mingru": 1}
    assert horizon() == {"lstm": 2, "mingru": 2}  # [horizon.model] over the suite's
    assert horizon(lstm={"layers": 1}) == {"lstm": 1, "mingru": 2}
    assert horizon(layers=3, lstm={"layers": 1}) == {"lstm": 1, "mingru": 3}


REFUSED = [
    (["--set", "model.layerz=2"], "model.layerz: unknown key 'layerz' (did you mean 'layers'?)"
     ": no model of mamba, lstm takes it"),
    (["--set", "task.pairs=2"], "task.pairs: unknown key 'pairs': no task of copy, adding"),
    (["--set", "model.lstm.state=2"], "model lstm parameters: unknown key 'state'"),
    (["--set", "task.adding.symbols=2"], "task adding: unknown parameter 'symbols'"),
    (["--set", "model.mambo.layers=1"], "model.mambo: 'mambo' is not a selected model; did you "
     "mean 'mamba'? selected: mamba, lstm"),
    (["--set", "model.gru.layers=1"], "'gru' is not a selected model"),
    (["--set", "task.recall.pairs=2"], "task.recall: 'recall' is not a selected task"),
    (["--set", "train.copi.steps=2"], "train.copi: 'copi' is not a selected task; did you "
     "mean 'copy'?"),
    (["--set", "train.copy.stepz=2"], "[train.copy]: unknown key 'stepz'"),
]


@pytest.mark.parametrize("command", ["run", "horizon"])
@pytest.mark.parametrize("args, expected", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_a_setting_that_fits_no_selected_task_or_model_is_one_line(invoke, tmp_path, command,
                                                                   args, expected):
    pair = ["--task", "copy", "--task", "adding", "--model", "mamba", "--model", "lstm"]
    one_line_exit_2(invoke(command, *pair, *args, "--dry-run", "--db", "x.db"), expected)
    assert not (tmp_path / "x.db").exists()


def test_the_issues_commands_work_on_run_and_horizon(invoke):
    args = ["--task", "copy", "--task", "adding", "--model", "mamba", "--model", "lstm",
            "--set", "model.mamba.layers=1", "--set", "task.copy.symbols=4",
            "--set", "task.selective-copy.tokens=4", "--task", "selective-copy", "--dry-run"]
    run = invoke("run", *args, "--lengths", "8", "--format", "json")
    assert run.exit_code == 0, run.output
    assert len(json.loads(run.stdout)["cells"]) == 6
    horizon = invoke("horizon", *args, "--seeds", "0", "--lrs", "1e-2")
    assert horizon.exit_code == 0, horizon.output
    assert horizon.stdout.count(" × ") >= 6


@pytest.mark.parametrize("text, expected", [
    ('[model]\nstate = 4', "no model of lstm takes it"),
    ('[task]\npairs = 4', "no task of copy takes it"),
    ('[horizon.model]\nstate = 4', "s.toml [horizon]: model.state: unknown key 'state'"),
])
def test_a_suites_flat_key_no_task_or_model_of_it_takes_is_one_line(invoke, tmp_path, text,
                                                                    expected):
    (tmp_path / "s.toml").write_text(f'tasks = ["copy"]\nmodels = ["lstm"]\nlengths = [4]\n'
                                     f'{text}\n')
    command = "horizon" if "horizon" in text else "run"
    one_line_exit_2(invoke(command, "--suite", "s.toml", "--dry-run", "--db", "x.db"),
                    expected)


def test_a_suites_flat_key_sets_those_that_take_it(tmp_path):
    (tmp_path / "s.toml").write_text('tasks = ["copy"]\nmodels = ["lstm", "mamba"]\n'
                                     'lengths = [4]\n[model]\nstate = 4\n')
    by = {c.model: c.model_params for c in load_suite(str(tmp_path / "s.toml"))[0].cells()}
    assert by["mamba"]["state"] == 4 and "state" not in by["lstm"]


def test_the_api_takes_a_table_per_selected_name_beside_plain_keys(tmp_path):
    frame = mb.run(tasks=["copy", "adding"], models=["lstm", "mingru"], lengths=[4], seeds=[0],
                   db=tmp_path / "r.db", task={"copy": {"symbols": 3}},
                   model={"hidden": 8, "mingru": {"layers": 1}}, steps=6, eval_every=3,
                   batch_size=8, eval_size=32, progress=False)
    config = {(r.task, r.model): json.loads(r.config) for r in frame.itertuples()}
    assert len(config) == 4
    assert config["copy", "lstm"]["task_params"]["symbols"] == 3
    assert config["copy", "mingru"]["model_params"]["layers"] == 1
    assert {c["model_params"]["hidden"] for c in config.values()} == {8}
    with pytest.raises(ValueError, match="'gru' is not a selected model"):
        mb.run(tasks="copy", models="lstm", lengths=[4], db=tmp_path / "r.db",
               model={"gru": {"layers": 1}})
    with pytest.raises(ValueError, match="'recall' is not a selected task"):
        mb.horizon(tasks="copy", models="lstm", db=tmp_path / "h.db",
                   task={"recall": {"pairs": 2}})
    with pytest.raises(ValueError, match="task settings 3 are invalid; expected a dict"):
        mb.run(tasks="copy", models="lstm", lengths=[4], db=tmp_path / "r.db", task=3)


def test_data_takes_the_tasks_own_table_and_refuses_another(invoke, tmp_path):
    base = ["data", "--task", "copy", "--lengths", "4", "--train-size", "8",
            "--validation-size", "8", "--test-size", "8"]
    done = invoke(*base, "--out", "d", "--set", "task.copy.symbols=3")
    assert done.exit_code == 0, done.output
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert "'symbols': 3" in repr(manifest) or '"symbols": 3' in json.dumps(manifest)
    one_line_exit_2(invoke(*base, "--out", "e", "--set", "task.recall.pairs=2"),
                    "'recall' is not a selected task")


def test_diagnose_checks_settings_as_run_does_and_lays_its_tasks_table_flat(invoke,
                                                                             monkeypatch):
    from memorybench import diagnostics

    seen = {}

    def plan_models(task, models, length, seeds, steps, overrides):
        seen.update(overrides=overrides, steps=steps)
        raise UserError("planned")

    monkeypatch.setattr(diagnostics, "plan_models", plan_models)
    one_line_exit_2(invoke("diagnose", "--task", "copy", "--model", "lstm", "--set",
                           "model.mamba.layers=1"), "'mamba' is not a selected model")
    one_line_exit_2(invoke("diagnose", "--task", "copy", "--model", "lstm", "--set",
                           "task.copy.symbols=3", "--set", "train.copy.clip=0.5"), "planned")
    assert seen["overrides"] == {"train": {"clip": 0.5}, "task": {"symbols": 3}, "model": {}}


def test_a_tiny_run_with_scoped_settings_stores_them(invoke):
    result = invoke("run", "--task", "copy", "--model", "elman", "--model", "lstm",
                    "--lengths", "4", *TINY, "--set", "model.lstm.hidden=6",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    frame = mb.load("results/memorybench.db")
    hidden = {r.model: json.loads(r.config)["model_params"]["hidden"]
              for r in frame.itertuples()}
    assert hidden == {"elman": 8, "lstm": 6}


@pytest.mark.parametrize("command, text, expected", [
    ("horizon", 'tasks = ["copy"]\n[model]\nhidden = 8\n[horizon]\ntasks = 3',
     "[horizon] tasks = 3 is invalid"),
    ("run", 'tasks = ["copi"]\n[task]\nsymbols = 4', "unknown task 'copi'; did you mean 'copy'"),
])
def test_a_bad_name_list_beside_flat_settings_keeps_its_own_error(invoke, tmp_path, command,
                                                                  text, expected):
    (tmp_path / "s.toml").write_text(f'models = ["lstm"]\nlengths = [4]\n{text}\n')
    one_line_exit_2(invoke(command, "--suite", "s.toml", "--dry-run", "--db", "x.db"),
                    expected)
