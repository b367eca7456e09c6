"""The cost model behind `run --dry-run`'s time estimate, and the memory estimate that
refuses, before training, a cell no machine here can hold."""

from pathlib import Path

import pytest

from memorybench.costs import cell_seconds, duration, sweep_seconds
from memorybench.sweep import Sweep

from conftest import one_line_exit_2

ROOT = Path(__file__).resolve().parent.parent


def cells(**train):
    return Sweep(tasks=["copy"], models=["lstm", "attention", "majority"], lengths=[10, 100],
                 train={"steps": 100, **train}).cells()


def test_a_cell_costs_more_the_longer_and_the_more_steps_it_trains():
    short, long = (c for c in cells() if c.model == "lstm")
    assert 0 < cell_seconds(short) < cell_seconds(long)
    more = next(c for c in cells(steps=200) if c.model == "lstm" and c.length == 100)
    assert cell_seconds(more) > cell_seconds(long)


def test_more_workers_finish_sooner_but_never_before_the_longest_cell():
    sweep = cells()
    one, two = sweep_seconds(sweep, 1), sweep_seconds(sweep, 2)
    assert two < one
    assert sweep_seconds(sweep, 100) >= max(cell_seconds(c) for c in sweep)
    assert sweep_seconds([], 2) == 0


@pytest.mark.parametrize("seconds, text", [(7.2, "7s"), (125, "2m 05s"), (3725, "1h 02m")])
def test_durations_read_like_a_clock(seconds, text):
    assert duration(seconds) == text


def test_dry_run_prints_each_cells_estimate_and_the_sweeps(invoke):
    result = invoke("run", "--task", "copy", "--model", "gru", "--lengths", "4,8",
                    "--workers", "2", "--dry-run")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "est." in lines[0]
    assert "estimated time: at most" in lines[-1] and "with 2 workers" in lines[-1]


@pytest.mark.skipif(not (ROOT / "benchmarks" / "__main__.py").exists(),
                    reason="the benchmarks/ folder ships with the repository, not the package")
def test_the_cost_model_counts_a_loops_calls_per_time_step_whatever_the_width():
    from memorybench.costs import coefficients, step_seconds

    narrow = step_seconds("orthogonal", 64, 100, {"hidden": 8})
    assert narrow > 100 * coefficients()["orthogonal"]["seq"]  # the calls stay at any width
    assert step_seconds("orthogonal", 64, 200, {"hidden": 8}) > 1.9 * narrow - 0.01
    # attention alone grows with T squared
    a100, a400 = (step_seconds("attention", 64, t, {"hidden": 64}) for t in (100, 400))
    assert a400 > 4.5 * a100


@pytest.mark.parametrize("args", [
    ["--lengths", "1000000", "--set", "train.batch_size=100000"],  # the longest length
    ["--set", "model.hidden=1000000000"],
    ["--set", "model.embed=100000000"],
    ["--set", "task.symbols=100000000"],
    ["--set", "train.batch_size=100000000000"],
])
def test_a_cell_no_machine_here_can_hold_is_refused_before_training(invoke, tmp_path, args):
    lengths = [] if "--lengths" in args else ["--lengths", "10"]
    done = invoke("run", "--task", "copy", "--model", "lstm", *lengths, *args)
    one_line_exit_2(done, "GiB to train, more than this machine's")
    assert list(tmp_path.iterdir()) == []


def test_dry_run_shows_the_memory_estimate(invoke):
    done = invoke("run", "--task", "copy", "--model", "lstm", "--lengths", "10", "--dry-run")
    assert "largest memory need of a cell: about" in done.output
