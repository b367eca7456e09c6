"""The cost model behind `run --dry-run`'s time estimate."""

import pytest

from memorybench.costs import cell_seconds, duration, sweep_seconds
from memorybench.sweep import Sweep


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
