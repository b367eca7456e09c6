"""Before a length counts as failed: the rest of the grid and the rates past its edge are
tried there, and its seeds train on from their checkpoints while they were still learning
or had fewer than k x the steps the control took, up to a ceiling. And the checkpoints
that make an extension a continuation: one run extended equals one run trained at once,
and a run killed mid-way resumes to the same end."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from memorybench import checkpoints
from memorybench.horizon.checks import beyond, next_budget, rung_ceiling
from memorybench.horizon.failure import control_steps, decided, extendable
from memorybench.horizon.plan import plan_searches, protocol_from
from memorybench.horizon.rules import Rung, bracket, closed_state, cut, trial_of
from memorybench.store import results
from memorybench.sweep import Sweep
from memorybench.training import train_cell

ROOT = Path(__file__).resolve().parent.parent


# --- the arithmetic ------------------------------------------------------------------------
def test_a_rate_past_the_grid_follows_its_scale():
    grid = (1e-3, 3e-3, 1e-2)
    assert beyond(1e-2, grid, up=True) == 3e-2 and beyond(3e-2, grid, up=True) == 0.1
    assert beyond(1e-3, grid, up=False) == 3e-4 and beyond(3e-4, grid, up=False) == 1e-4
    assert beyond(2e-3, (1e-3, 2e-3), up=True) == pytest.approx(4e-3)  # off the 1-3 series


def test_budgets_double_up_to_the_ceiling():
    assert next_budget(1000, 1000, 8) == 2000 and next_budget(4000, 1000, 8) == 8000
    assert next_budget(8000, 1000, 8) is None
    assert next_budget(1000, 1000, 3) == 2000 and next_budget(2000, 1000, 3) == 3000
    assert next_budget(1000, 1000, 1) is None  # a ceiling of 1: never extended


def test_the_token_ceiling_halves_the_step_ceiling_where_a_rung_is_long():
    # 600 steps of 64 sequences: T x multiple <= 64,000,000 / 38,400 = 1,666
    assert [rung_ceiling(8, 600, 64, n, 64_000_000) for n in (128, 181, 256, 512, 2048)] == [
        8, 8, 4, 2, 1]
    assert rung_ceiling(32, 1000, 64, 8, 64_000_000) == 32  # copy's LSTM rungs: all of it
    assert rung_ceiling(8, 600, 64, 2048, 0) == 8  # 0: no limit


def test_a_failing_rung_above_the_control_trains_on_within_its_tokens():
    """Failures still learning: at the control they train on to the step ceiling, at a
    rung whose tokens reach the limit after one doubling they stop there (``≥ a
    (budget)``); the report's reading of a stored search agrees (``search_rows.pending``)."""
    import pandas as pd

    from memorybench.report.search_rows import pending

    search, protocol = _search(control=True, ceiling=8, lr_beyond=0)
    batch = search.base[0].train.batch_size
    search, protocol = _search(control=True, ceiling=8, lr_beyond=0,
                               ceiling_tokens=1000 * batch * 16 * 2)  # 2 x 1,000 at T = 16
    assert (search.steps_ceiling(16), search.steps_ceiling(8)) == (2, 4)
    assert search.control == 1 and search.steps_ceiling(1) == 8  # the control: all of it
    rows = {c.key: _row(True, 0.95, 300, 1000) for n in (1, 8) for c in search.cells(n)}
    budgets = []
    for _ in range(5):
        state, rungs = search.state(rows, protocol.resolution)
        asked = search.todo(state, rungs, rows)
        if not asked:
            break
        budgets.append(sorted({c.train.steps for c in asked}))
        rows |= {c.key: _row(False, 0.5, c.train.steps, c.train.steps, slope=0.05)
                 for c in asked}
    assert budgets == [[1000], [2000]]  # the grid, then one doubling of the better half
    assert state.closed and rungs[16].budget == 2000 and not rungs[16].passed
    record = search.record(protocol)
    assert record["ceiling_tokens"] == 1000 * batch * 32
    cells = search.at(16, rows, rungs)[0]
    frame = pd.DataFrame([{**rows[c.key], "length": c.length, "seed": c.seed,
                           "config": c.config()} for c in cells])
    assert pending(frame, rungs, state, record) is None  # at its tokens: not waiting
    more = {**record, "ceiling_tokens": 4 * record["ceiling_tokens"]}
    assert pending(frame, rungs, state, more) == 16  # with more tokens it would train on


def test_a_suites_ceiling_per_task_reaches_its_searches_and_the_flag_overrides_it(tmp_path):
    from memorybench.config import Request
    from memorybench.horizon.plan import search_sweep

    (tmp_path / "c.toml").write_text('tasks = ["copy", "adding"]\nmodels = ["lstm"]\n'
                                     '[horizon]\nceilings = { copy = 32 }\n')
    suite = str(tmp_path / "c.toml")
    searches = plan_searches(*search_sweep(Request(suite)))
    assert {s.task: s.ceiling for s in searches} == {"copy": 32, "adding": 8}
    assert {s.task: s.record(search_sweep(Request(suite))[1])["ceiling"]
            for s in searches} == {"copy": 32, "adding": 8}  # recorded for the report
    flagged = plan_searches(*search_sweep(Request(suite, protocol={"ceiling": 2})))
    assert {s.task: s.ceiling for s in flagged} == {"copy": 2, "adding": 2}


def test_a_failed_rung_trains_on_where_a_slower_rate_is_still_climbing():
    """The best rate's seeds flattened near the threshold (0.85, not climbing), a slower
    rate's still climbing (0.55): successive halving keeps both, and the rung trains on;
    with every kept rate flat it stops."""
    from memorybench.horizon.failure import any_extendable
    from memorybench.horizon.rules import Trial

    def trials(slow_rising):
        return ([Trial(1e-2, s, True, False, 0.85, 0.9, steps=1000, rising=False,
                       budget=1000) for s in range(3)]
                + [Trial(1e-3, s, True, False, 0.55, 0.9, steps=1000, rising=slow_rising,
                         budget=1000) for s in range(3)])

    assert decided(1, trials(True), (1e-3, 1e-2)).lr == 1e-2  # judged at the best rate
    assert not extendable(decided(1, trials(True), (1e-3, 1e-2)), 0.0)  # alone: stops
    assert any_extendable(1, trials(True), (1e-2, 1e-3), 0.0)
    assert not any_extendable(1, trials(False), (1e-2, 1e-3), 0.0)
    assert not any_extendable(1, trials(True), (1e-2,), 0.0)  # the slow rate not kept


def _rung(solved, ran_out, rising, budget=1000, steps=()):
    return Rung(8, 1e-2, dict(enumerate(solved)), False, {}, dict(enumerate(rising)), budget,
                dict(enumerate(ran_out)), tuple(steps))


def test_a_failed_rung_trains_on_while_rising_or_short_of_k_times_the_controls_steps():
    flat, rising = [False] * 3, [True, True, False]
    assert extendable(_rung([False] * 3, [True] * 3, rising), need=0)
    assert extendable(_rung([False] * 3, [True] * 3, flat), need=2000)  # 1,000 < k x control
    assert not extendable(_rung([False] * 3, [True] * 3, flat), need=1000)  # flat, enough
    assert not extendable(_rung([False] * 3, [False] * 3, [True] * 3), need=5000)  # stopped
    assert not extendable(_rung([True, True, False], [True] * 3, rising), need=5000)  # passed
    assert control_steps(_rung([True] * 3, [False] * 3, flat, steps=(300, 500, 900))) == 500
    assert control_steps(_rung([False] * 3, [True] * 3, flat)) is None


def test_a_rung_is_chosen_at_its_base_budget_and_judged_at_its_longest():
    def row(solved, validation, steps):
        return {"status": "ok", "solved": solved, "metric_name": "accuracy", "steps": steps,
                "solved_threshold": 0.9}

    def metrics(validation):
        return {"validation": {"accuracy": validation}}

    trials = [trial_of(lr, s, row(False, v, 1000), metrics(v), 1000)
              for lr, v in ((1e-3, 0.3), (1e-2, 0.6)) for s in range(3)]
    trials += [trial_of(1e-2, s, row(s < 2, 0.95, 1200), metrics(0.95), 2000) for s in range(3)]
    r = decided(8, trials, (1e-3, 1e-2))
    assert r.lr == 1e-2 and r.budget == 2000 and r.passed and r.lr_at_edge


# --- the search asks for each check in turn --------------------------------------------------
def _row(solved, validation, steps, budget, slope=0.0):
    """A stored cell: its validation metric, the steps it trained of its ``budget``, and a
    learning curve over them rising by ``slope`` per 100 steps (0: flat)."""
    curve = [[s, validation - slope * (steps - s) / 100, 1.0] for s in range(100, steps + 1, 100)]
    return {"status": "ok", "solved": solved, "metric_name": "accuracy", "steps": steps,
            "solved_threshold": 0.9, "metrics": {"validation": {"accuracy": validation},
                                                 "curve": curve}}


def _search(**protocol):
    settings, _ = protocol_from({"lrs": [1e-3, 1e-2], "control": False, "resolution": 2,
                                 **protocol}, {})
    sweep = Sweep(tasks=["copy"], models=["lstm"], seeds=[0, 1, 2])
    sweep.override("train", {"steps": 1000, "eval_every": 100})
    (search,) = plan_searches(sweep, settings, start=8, cap=16)
    return search, settings


def test_a_failing_held_rung_tries_the_grid_then_past_its_edge_then_more_steps():
    search, protocol = _search(lr_rungs="first", ceiling=4, control_multiple=4)
    rows = {c.key: _row(True, 0.95, 300 if c.train.lr == 1e-2 else 600, 1000)
            for c in search.cells(8)}  # the first rung: solved, fastest at 1e-2 (300 steps)
    state, rungs = search.state(rows, protocol.resolution)
    asked = search.todo(state, rungs, rows)
    assert state.next == 16 and {(c.train.lr, c.train.steps) for c in asked} == {(1e-2, 1000)}

    def fail(cells, validation=0.5, slope=0.0):
        rows.update({c.key: _row(False, validation.get(c.train.lr, 0.5) if isinstance(
            validation, dict) else validation, c.train.steps, c.train.steps, slope)
                     for c in cells})
        state, rungs = search.state(rows, protocol.resolution)
        return state, rungs, search.todo(state, rungs, rows)

    state, rungs, asked = fail(asked)  # the held rate fails: the rest of the grid
    assert {(c.train.lr, c.train.steps) for c in asked} == {(1e-3, 1000)} and len(asked) == 3
    state, rungs, asked = fail(asked, validation=0.3)  # 1e-2 still the best: past the edge
    assert {(c.train.lr, c.train.steps) for c in asked} == {(3e-2, 1000)}
    state, rungs, asked = fail(asked, validation=0.6)  # 3e-2 best: the next one past it
    assert {(c.train.lr, c.train.steps) for c in asked} == {(0.1, 1000)}
    state, rungs, asked = fail(asked, validation=0.4)  # 3e-2 inside: the better half of
    # the 4 rates trains on, flat, since 1,000 steps < 4 x the control's 300
    assert {(c.train.lr, c.train.steps) for c in asked} == {(3e-2, 2000), (1e-2, 2000)}
    state, rungs, asked = fail(asked, validation={1e-2: 0.65, 3e-2: 0.6}, slope=0.05)
    assert rungs == {8: rungs[8]}  # still open at 16: rising at 2,000, its best half on
    assert {(c.train.lr, c.train.steps) for c in asked} == {(1e-2, 4000)}
    state, rungs, asked = fail(asked, validation=0.7, slope=0.05)  # rising at the ceiling
    assert state.closed and asked == [] and rungs[16].budget == 4000
    assert cut(state, rungs) and bracket(state, 16, None, cut(state, rungs)) == "≥ 8 (budget)"
    assert rungs[16].lr == 1e-2  # the rate chosen at the longest budget
    assert len(search.trained(state, rungs, rows)) == 6 + 3 * 4 + 3 * 2 + 3  # all it asked for


def test_a_rate_chosen_past_the_grids_edge_at_the_first_rung_is_held_above_it():
    """The first rung failed at every rate of the grid and solved one step past its edge:
    the next rung trains its seeds at that rate (there are no cells of it in the grid's)."""
    search, protocol = _search(lr_rungs="first", ceiling=1, lr_beyond=1)
    rows = {c.key: _row(False, 0.3 if c.train.lr == 1e-3 else 0.6, 1000, 1000)
            for c in search.cells(8)}
    state, rungs = search.state(rows, protocol.resolution)
    asked = search.todo(state, rungs, rows)
    assert {c.train.lr for c in asked} == {3e-2} and len(asked) == 3
    rows |= {c.key: _row(True, 0.95, 500, 1000) for c in asked}
    state, rungs = search.state(rows, protocol.resolution)
    assert rungs[8].passed and rungs[8].lr == 3e-2 and state.next == 16
    nxt = search.todo(state, rungs, rows)
    assert {(c.length, c.train.lr) for c in nxt} == {(16, 3e-2)} and len(nxt) == 3
    assert {c.seed for c in nxt} == {0, 1, 2}


def test_a_flat_failure_with_enough_steps_counts_as_failed():
    search, protocol = _search(ceiling=8, control_multiple=2)
    rows = {c.key: _row(True, 0.95, 400, 1000) for c in search.cells(8)}
    rows |= {c.key: _row(False, 0.3 if c.train.lr == 1e-3 else 0.5, 1000, 1000)
             for c in search.cells(16)}
    state, rungs = search.state(rows, protocol.resolution)
    asked = search.todo(state, rungs, rows)  # 1e-2 at the edge: past it first
    assert {c.train.lr for c in asked} == {3e-2}
    rows |= {c.key: _row(False, 0.4, 1000, 1000) for c in asked}
    state, rungs = search.state(rows, protocol.resolution)
    # 1e-2 best again, inside the rates tried; flat, with 1,000 steps >= 2 x the control's 400
    assert state.closed and (state.lo, state.hi) == (8, 16) and not cut(state, rungs)
    assert bracket(state, 16) == "[8, 16)"


def test_a_failed_control_trains_on_to_the_ceiling_though_its_curves_are_flat():
    """recall's control at the v3 setting: minLSTM's seeds sat at 0.34 for 3,000 steps and
    reached 0.45-0.49 at 6,000. At the control a flat failure trains on to the ceiling;
    past it, a flat failure with enough steps stops (above). The report's reading of the
    stored search agrees at each budget (``search_rows.pending``): its control is still
    being checked, not "not learned", until the ceiling."""
    import pandas as pd

    from memorybench.report.search_rows import pending, rungs_of

    search, protocol = _search(control=True, ceiling=4, lr_beyond=0, control_multiple=2)
    control = search.control
    assert control is not None and control == search.lengths[0]
    record = search.record(protocol)
    rows: dict = {}
    budgets, waits, stored = [], [], []
    for _ in range(4):
        state, rungs = search.state(rows, protocol.resolution)
        asked = search.todo(state, rungs, rows)
        if rows:  # the report's reading of the cells stored so far
            frame = pd.DataFrame([{**rows[c.key], "length": c.length, "seed": c.seed,
                                   "config": c.config()} for c in stored])
            read = rungs_of(frame)
            waits.append(pending(frame, read, closed_state(read, control), record))
        if not asked or asked[0].length != control:
            break
        budgets.append(sorted({c.train.steps for c in asked}))
        rows |= {c.key: _row(False, 0.34, c.train.steps, c.train.steps) for c in asked}
        stored += asked
    assert budgets == [[1000], [2000], [4000]]  # flat, yet continued to 4 x 1,000
    assert state.next == search.lengths[1] and not rungs[control].passed
    assert waits == [control, control, None]  # the report: checking, until the ceiling


def test_a_run_stopped_for_no_progress_is_not_extended():
    search, protocol = _search(lr_beyond=0, control_multiple=100)
    rows = {c.key: _row(True, 0.95, 400, 1000) for c in search.cells(8)}
    rows |= {c.key: _row(False, 0.5, 600, 1000) for c in search.cells(16)}  # stopped at 600
    state, rungs = search.state(rows, protocol.resolution)
    assert state.closed and (state.lo, state.hi) == (8, 16)


def test_the_v2_protocol_asks_for_nothing_more():
    search, protocol = _search(lr_rungs="first-only", ceiling=1, lr_beyond=0)
    rows = {c.key: _row(True, 0.95, 400, 1000) for c in search.cells(8)}
    state, rungs = search.state(rows, protocol.resolution)
    rows |= {c.key: _row(False, 0.5, 1000, 1000, slope=0.05)
             for c in search.todo(state, rungs, rows)}
    state, rungs = search.state(rows, protocol.resolution)
    assert state.closed and rungs[16].budget_bound and len(rungs[16].seeds) == 3


# --- checkpoints -----------------------------------------------------------------------------
def _cell(steps: int):
    sweep = Sweep(tasks=["copy"], models=["gru"], lengths=[8], seeds=[0])
    sweep.override("train", {"steps": steps, "eval_every": 20, "batch_size": 16,
                             "eval_size": 64, "lr": 1e-2, "test_size": 64})
    sweep.override("model", {"hidden": 12})
    sweep.override("task", {"symbols": 3})
    (cell,) = sweep.cells()
    return cell


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    (file,) = sorted(folder.glob("*.safetensors"))
    return checkpoints.read(file).model


def test_a_run_extended_from_its_checkpoint_ends_as_one_trained_at_once(tmp_path):
    short, long = _cell(60), _cell(120)
    assert checkpoints.lineage(short) == checkpoints.lineage(long) and short.key != long.key
    train_cell(short, "cpu", str(tmp_path / "a"))
    assert [p.name.rsplit("-", 1)[1] for p in (tmp_path / "a").iterdir()] == ["60.safetensors"]
    extended = train_cell(long, "cpu", str(tmp_path / "a"))
    at_once = train_cell(long, "cpu", str(tmp_path / "b"))
    assert extended["metrics"]["curve"] == at_once["metrics"]["curve"]
    assert extended["metric"] == at_once["metric"] and extended["steps"] == 120
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")  # the 60-step file replaced
    assert a.keys() == b.keys() and len(a) > 0
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    plain = train_cell(long, "cpu")  # no checkpoints at all: the same result
    assert plain["metrics"]["curve"] == at_once["metrics"]["curve"]


def test_a_damaged_checkpoint_costs_time_not_a_result(tmp_path):
    cell = _cell(60)
    (tmp_path / f"{checkpoints.lineage(cell)}-40.safetensors").write_bytes(b"not a file")
    row = train_cell(cell, "cpu", str(tmp_path))
    assert row["status"] == "ok" and row["metrics"]["curve"] == train_cell(cell)["metrics"][
        "curve"]


KILLED = """
import sys
from memorybench.checkpoints import Checkpoint
from memorybench.training import build_model, train_network, setup_worker
from memorybench.catalog import task_of
import torch
sys.path.insert(0, {tests!r})
from test_failure_checks import _cell
setup_worker()
cell = _cell({steps})
task = task_of(cell)
model = build_model(cell, task)
train_network(model, task, cell.train, cell.length, cell.seed, torch.device("cpu"),
              Checkpoint({folder!r}, cell, every=0))
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_run_killed_midway_resumes_from_its_last_checkpoint(tmp_path, sig):
    steps = 600
    code = KILLED.format(tests=str(ROOT / "tests"), steps=steps, folder=str(tmp_path / "a"))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 120
    saved = []
    while time.monotonic() < deadline and proc.poll() is None:
        saved = [int(p.stem.rsplit("-", 1)[1]) for p in (tmp_path / "a").glob("*.safetensors")]
        if saved and max(saved) >= 100:
            break
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    assert saved and 100 <= max(saved) < steps  # killed mid-way, a checkpoint on disk
    assert not list((tmp_path / "a").glob(".*.tmp")) or sig == signal.SIGKILL
    cell = _cell(steps)
    resumed = train_cell(cell, "cpu", str(tmp_path / "a"))
    fresh = train_cell(cell, "cpu")
    assert resumed["metrics"]["curve"] == fresh["metrics"]["curve"]
    assert resumed["metric"] == fresh["metric"]


def test_checkpoints_are_removed_when_the_searches_close_unless_kept(invoke, tmp_path):
    (tmp_path / "s.toml").write_text(
        'tasks = ["adding"]\nmodels = ["elman"]\n[horizon]\nseeds = [0]\nlrs = [1e-2]\n'
        'multiples = [2]\ntest_size = 32\nladders = { adding = { start = 4, cap = 8 } }\n'
        'control = false\nceiling = 2\n[horizon.train]\nsteps = 6\neval_every = 3\n'
        'batch_size = 8\neval_size = 32\n[model]\nhidden = 8\n')
    args = ["horizon", "--suite", "s.toml", "--workers", "1", "--quiet"]
    kept = invoke(*args, "--db", "k.db", "--keep-checkpoints")
    assert kept.exit_code == 0, kept.output
    files = list((tmp_path / "k.checkpoints").glob("*.safetensors"))
    stored = results.load(tmp_path / "k.db")
    lineages = {checkpoints.lineage(c) for c in _cells_of(stored)}
    assert files and {f.stem.rsplit("-", 1)[0] for f in files} == lineages
    pruned = invoke(*args, "--db", "p.db")
    assert pruned.exit_code == 0, pruned.output
    assert list((tmp_path / "p.checkpoints").glob("*.safetensors")) == []


def _cells_of(frame):
    from memorybench.cells import Cell

    return [Cell.from_config(json.loads(c) if isinstance(c, str) else c)
            for c in frame["config"]]


def test_every_network_trains_with_one_recipe_unless_the_protocol_keeps_the_models():
    sweep = Sweep(tasks=["copy"], models=["orthogonal", "gru"], seeds=[0])
    common, _ = protocol_from({"lrs": [1e-3]}, {})
    own, _ = protocol_from({"lrs": [1e-3], "recipe": "model"}, {})
    assert {c.train.optimizer for s in plan_searches(sweep, common) for c in s.base} == {"adam"}
    by_model = {s.model: {c.train.optimizer for c in s.base} for s in plan_searches(sweep, own)}
    assert by_model == {"orthogonal": {"rmsprop"}, "gru": {"adam"}}
    with pytest.raises(Exception, match="recipe"):
        protocol_from({"recipe": "mine"}, {})


def test_the_protocols_flags_reach_the_search(invoke):
    args = ["horizon", "--task", "copy", "--model", "orthogonal", "--start", "8", "--cap", "8",
            "--seeds", "0", "--lrs", "1e-3,1e-2", "--dry-run", "--db", "h.db", "--no-control"]
    plain = invoke(*args, "--ceiling", "1", "--lr-beyond", "0")
    wider = invoke(*args, "--ceiling", "4", "--lr-beyond", "1", "--control-multiple", "2",
                   "--recipe", "model")
    assert plain.exit_code == wider.exit_code == 0, plain.output + wider.output
    assert "worst case left: 2 cells and 0 extensions" in plain.stdout
    # 1 rate past the edge, then 2 doublings at the better half of 3 rates: 2, then 1
    assert "worst case left: 2 cells and 4 extensions" in wider.stdout
    capped = invoke(*args, "--ceiling", "4", "--lr-beyond", "1", "--ceiling-tokens", "1")
    assert "worst case left: 2 cells and 1 extensions" in capped.stdout  # past the edge only
    negative = invoke(*args, "--ceiling-tokens", "-1")
    assert negative.exit_code == 2 and "ceiling_tokens -1 is invalid" in negative.output
    bad = invoke(*args, "--recipe", "mine")
    assert bad.exit_code == 2 and "mine" in bad.output


def test_an_early_stop_waits_for_its_margin_past_the_threshold_and_the_margin_is_keyed():
    def cell(margin: float):
        return Sweep(tasks=["sentiment"], models=["elman"], lengths=[4],
                     train={"steps": 40, "eval_every": 10, "batch_size": 8, "eval_size": 32,
                            "stop_margin": margin},
                     task={"solved": 0.01}, model={"hidden": 4}).cells()[0]

    plain, waiting = cell(0.0), cell(0.999)  # a stop at 0.01 + 0.999 x 0.99 = 0.999
    assert "stop_margin" not in plain.config()["train"]  # the default keeps old keys
    assert waiting.config()["train"]["stop_margin"] == 0.999 and plain.key != waiting.key
    once, late = train_cell(plain), train_cell(waiting)
    assert (once["steps"], once["steps_to_solve"]) == (10, 10)
    assert late["solved"] and late["steps_to_solve"] == 10  # solved at the threshold
    curve = late["metrics"]["curve"]
    assert late["steps"] == 40 or curve[-1][1] >= 0.999  # trained on until past the margin
    assert all(accuracy < 0.999 for _, accuracy, _ in curve[:-1])
    protocol, _ = protocol_from({"lrs": [1e-2]}, {})
    (search,) = plan_searches(Sweep(tasks=["copy"], models=["lstm"]), protocol)
    assert {c.train.stop_margin for c in search.base} == {0.2}  # the search's default
    with pytest.raises(Exception, match="stop_margin"):
        protocol_from({"stop_margin": 1.0}, {})


def test_the_stop_margin_flag_reaches_the_search(invoke):
    from memorybench.cli.flags import Options
    from memorybench.horizon.plan import search_sweep

    flags = Options(db="h.db", tasks=("copy",), models=("gru",), stop_margin=0.1)
    sweep, protocol = search_sweep(flags.request())
    (search,) = plan_searches(sweep, protocol)
    assert {c.train.stop_margin for c in search.base} == {0.1}
    args = ["horizon", "--task", "copy", "--model", "gru", "--start", "8", "--cap", "8",
            "--seeds", "0", "--dry-run", "--db", "h.db"]
    assert invoke(*args, "--stop-margin", "0.1").exit_code == 0
    bad = invoke(*args, "--stop-margin", "-1")
    assert bad.exit_code == 2 and "stop_margin" in bad.output
