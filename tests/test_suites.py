"""Suites: per-task training budgets and task parameters, every shipped suite resolves, every
task's spec gives its lengths for the short suites, and a suite that names a task it lacks
or cannot be read is one line."""

import os

import pytest

from memorybench import catalog
from memorybench.errors import UserError
from memorybench.sweep import Sweep, load_suite, suite_names
from memorybench.tasks import TASKS

from conftest import one_line_exit_2

SUITE = """
tasks = ["adding", "copy", "recall"]
models = ["elman"]
lengths = { adding = [5], copy = [5], recall = [24] }

[train]
steps = 50
batch_size = 16

[train.copy]
steps = 70

[task.recall]
pairs = 4
"""


def write_suite(tmp_path, text=SUITE):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


def by_task(cells):
    return {c.task: c for c in cells}


def test_a_per_task_table_applies_to_that_task_only(tmp_path):
    sweep, _ = load_suite(write_suite(tmp_path))
    cells = by_task(sweep.cells())
    assert cells["copy"].train.steps == 70
    assert cells["adding"].train.steps == 50
    assert cells["recall"].train.steps == 50
    assert all(c.train.batch_size == 16 for c in cells.values())
    assert cells["recall"].task_params["pairs"] == 4
    assert cells["copy"].task_params.get("pairs") is None


def test_a_flag_wins_over_a_per_task_table(tmp_path):
    sweep, _ = load_suite(write_suite(tmp_path))
    sweep.override("train", {"steps": 9})
    sweep.override("task", {"solved": 0.5})
    cells = by_task(sweep.cells())
    assert {c.train.steps for c in cells.values()} == {9}
    assert {c.task_params["solved"] for c in cells.values()} == {0.5}
    assert cells["recall"].task_params["pairs"] == 4


def test_the_cli_flag_wins_too(invoke, tmp_path):
    path = write_suite(tmp_path)
    result = invoke("run", "--suite", path, "--steps", "9", "--dry-run")
    assert result.exit_code == 0, result.output
    plain = invoke("run", "--suite", path, "--dry-run")
    assert plain.exit_code == 0, plain.output
    assert result.output != plain.output  # different budgets are different cells


@pytest.mark.parametrize("text,expected", [
    (SUITE.replace("[train.copy]", "[train.copyy]"),
     "[train.copyy]: unknown task of this suite 'copyy'; did you mean 'copy'?"),
    (SUITE.replace("[task.recall]", "[task.recal]"),
     "[task.recal]: unknown task of this suite 'recal'; did you mean 'recall'?"),
    (SUITE.replace("steps = 70", "stepz = 70"), "[train.copy]: unknown key 'stepz'"),
    (SUITE.replace("pairs = 4", "pairz = 4"), "task recall: unknown parameter 'pairz'"),
    (SUITE.replace("batch_size = 16", "batch = 16"), "unknown key 'batch'"),
])
def test_a_broken_per_task_table_is_one_clear_error(tmp_path, invoke, text, expected):
    with pytest.raises(UserError) as info:
        load_suite(write_suite(tmp_path, text))[0].cells()
    assert expected in str(info.value)
    result = invoke("run", "--suite", write_suite(tmp_path, text), "--dry-run")
    assert result.exit_code == 2
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("name", suite_names())
def test_every_shipped_suite_resolves_to_cells(name):
    sweep, description = load_suite(name)
    cells = sweep.cells()
    assert description
    assert len({c.key for c in cells}) == len(cells)
    assert {c.task for c in cells} == set(sweep.tasks)


def test_an_empty_sweep_is_still_an_error():
    with pytest.raises(UserError, match="empty sweep"):
        Sweep().cells()


# The lengths the leaderboard's ladders reach: the literature's.
LEADERBOARD_CAPS = {"copy": 1000, "adding": 1000, "recall": 512, "selective-copy": 512,
                    "induction": 512, "flipflop": 512, "parity": 256, "permutation": 256}


def test_the_standard_horizon_search_covers_every_task_and_model_at_the_literatures_lengths():
    from memorybench import catalog
    from memorybench.config import Request
    from memorybench.horizon.ladders import task_ladder
    from memorybench.horizon.plan import protocol_from, search_sweep

    protocol, extra = protocol_from(load_suite("standard")[0].horizon, {})
    assert sorted(extra["tasks"]) == catalog.task_names()
    # every network and baseline but the encoder, which sees the whole sequence (its length
    # is no memory distance) at attention's cost
    assert sorted(extra["models"]) == [m for m in catalog.model_names() if m != "encoder"]
    assert len(extra["seeds"]) == 3 and extra["params"] == 20000
    assert protocol.lrs == (1e-3, 3e-3, 1e-2) and protocol.resolution == 1.5
    assert protocol.lr_rungs == "first" and extra["caps"] == {"attention": 256}
    # v3: the full protocol, every horizon converged or labelled
    assert protocol.control and protocol.recipe == "common" and protocol.stop_margin == 0.2
    assert protocol.ceiling == 8 and protocol.lr_beyond == 2
    assert extra["ceilings"] == {"copy": 32}
    # v2, frozen with its results: no control, failures not extended, the threshold's stop
    v2, _ = protocol_from(load_suite("standard-v2")[0].horizon, {})
    assert (v2.control, v2.ceiling, v2.lr_beyond, v2.recipe, v2.stop_margin, v2.lr_rungs) == (
        False, 1, 0, "model", 0.0, "first-only")
    sweep, _ = search_sweep(Request("standard"))
    for task in catalog.task_names():
        _, cap, _, _ = task_ladder(task, sweep, protocol, None, None, extra["ladders"].get(task))
        spec_cap = catalog.task_spec(task)["horizon"]["cap"]
        assert cap >= LEADERBOARD_CAPS.get(task, spec_cap), task


def test_the_size_suite_searches_at_the_leaderboards_protocol_five_times_the_parameters():
    """The size axis compares a horizon at 100,000 parameters with the leaderboard's at 20,000:
    every search it holds must be the leaderboard's search of that (task, model) in all but
    the width (its protocol record, task settings, training budget, depth)."""
    from memorybench.config import Request
    from memorybench.horizon.plan import plan_searches, search_sweep

    def searches(name, tasks=(), models=()):
        sweep, protocol = search_sweep(Request(name, tasks=tasks, models=models))
        return {(s.task, s.model): (s, s.record(protocol)) for s in plan_searches(sweep, protocol)}

    size = searches("standard-size")
    assert len(size) == 21
    standard = searches("standard", sorted({t for t, _ in size}), sorted({m for _, m in size}))
    assert standard.keys() == size.keys()
    for pair, (search, record) in size.items():
        (ours, theirs), base = (record, standard[pair][1]), standard[pair][0].base
        assert {**ours, "suite": None} == {**theirs, "suite": None}, pair
        assert len(search.base) == len(base) > 0, pair
        for big, small in zip(search.base, base, strict=True):
            assert (big.task_params, big.train, big.seed, big.length) == (
                small.task_params, small.train, small.seed, small.length), pair
            width = {"hidden", "target_params"}
            assert {k: v for k, v in big.model_params.items() if k not in width} == {
                k: v for k, v in small.model_params.items() if k not in width}, pair
            assert (big.model_params["target_params"], small.model_params["target_params"]) \
                == (100000, 20000)


def test_the_quick_horizon_search_is_the_lectures_tasks_and_models_kept_short():
    from memorybench.config import Request
    from memorybench.horizon.plan import plan_searches, search_sweep

    sweep, protocol = search_sweep(Request("quick"))
    searches = plan_searches(sweep, protocol)
    networks = {s.model for s in searches if not s.baseline}
    assert networks == {"ffwindow", "elman", "lstm", "gru", "birnn", "orthogonal", "attention"}
    assert {s.task for s in searches} == {"adding", "copy", "agreement", "sentiment",
                                          "forecasting", "recall"}
    assert all(s.lengths[-1] == s.cap == 64 for s in searches)
    assert protocol.lrs == (1e-2,) and protocol.resolution == 2 and protocol.patience == 0
    assert protocol.ceiling == 8 and protocol.control  # a failure checked, as the full one
    cells = [c for s in searches for c in s.base if not c.is_baseline]
    assert cells and all(c.train.steps == 1000 and c.train.solved_evals == 2 and
                         c.model_params["target_params"] == 6500 for c in cells)
    assert {c.seed for c in cells} == {0, 1, 2}
    run_steps = {c.train.steps for c in load_suite("quick")[0].cells()}
    assert run_steps == {300}  # `run --suite quick` keeps its own budget


def test_the_standard_length_sweep_is_still_the_committed_results():
    import json
    from pathlib import Path

    from memorybench.config import Request
    from memorybench.sweep import build_sweep

    committed = Path(__file__).parent.parent / "results" / "standard-sweep.jsonl"
    sweep = build_sweep(Request("standard"))
    keys = {json.loads(line)["key"] for line in committed.read_text().splitlines()}
    assert {c.key for c in sweep.cells()} == keys


def test_every_task_spec_gives_its_lengths_for_the_short_suites():
    """A suite that runs "all" tasks reads each task's lengths from its spec."""
    assert TASKS.names()
    for name in TASKS.names():
        lengths = catalog.task_spec(name).get("suites", {})
        assert {"smoke", "ci", "quick"} <= set(lengths), name
    assert {"smoke", "ci", "quick"} <= set(suite_names())
    smoke = load_suite("smoke")[0]
    assert smoke.tasks == catalog.task_names() and smoke.models == catalog.model_names()


@pytest.mark.parametrize("table, expected", [
    ('lengths = { copyy = [4] }', "lengths.copyy: unknown task of this suite 'copyy'; "
     "did you mean 'copy'?"),
    ('[train.copyy]\nsteps = 3', "[train.copyy]"),
    ('[task.adding]\ntolerance = 0.1', "[task.adding]: unknown task of this suite"),
])
def test_a_suite_table_naming_a_task_it_lacks_is_an_error(invoke, tmp_path, table, expected):
    (tmp_path / "s.toml").write_text(f'tasks = ["copy"]\nmodels = ["lstm"]\n{table}\n')
    one_line_exit_2(invoke("run", "--suite", "s.toml", "--dry-run"), expected)


@pytest.mark.parametrize("suite", ["/dev/null/x.toml", "x" * 300 + ".toml", "loop.toml",
                                   "fifo.toml", "folder.toml"])
def test_a_suite_path_that_cannot_be_read_is_one_line(invoke, tmp_path, suite):
    (tmp_path / "loop.toml").symlink_to(tmp_path / "loop2.toml")
    (tmp_path / "loop2.toml").symlink_to(tmp_path / "loop.toml")
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "folder.toml").mkdir()
    one_line_exit_2(invoke("run", "--suite", suite, "--dry-run"), "expected a TOML file")
