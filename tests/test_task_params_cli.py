"""Out-of-range task parameters and lengths, through the real CLI: one line naming the
parameter and its valid range, exit 2, nothing trained."""

import dataclasses
import json
from dataclasses import replace

import pytest

from memorybench.catalog import build_task
from memorybench.tasks.forecasting import Forecasting

from conftest import one_line_exit_2

BAD = [
    (["--task", "recall", "--set", "task.pairs=0"], "parameter pairs=0 is out of range; "
     "expected an integer in 1..keys (32)"),
    (["--task", "recall", "--set", "task.pairs=40"], "pairs=40 is out of range"),
    (["--task", "recall", "--lengths", "20"], "length 20 is invalid; expected an integer >= 24"),
    (["--task", "forecasting", "--set", "task.tolerance=0"], "tolerance=0.0 is out of range; "
     "expected 0 < tolerance < 1"),
    (["--task", "forecasting", "--set", "task.tolerance=-0.5"], "tolerance=-0.5 is out of range"),
    (["--task", "forecasting", "--set", "task.series=arima"], "series='arima' is out of range; "
     "expected seasonal | narma | mackey-glass"),
    (["--task", "forecasting", "--set", "task.tolerance=1"], "tolerance=1.0 is out of range; "
     "expected 0 < tolerance < 1"),
    (["--task", "forecasting", "--set", "task.series=mackey-glass", "--lengths", "1"],
     "length 1 is invalid; expected an integer >= 2"),
    (["--task", "agreement", "--lengths", "1"], "length 1 is invalid; expected an integer >= 3"),
    (["--task", "agreement", "--lengths", "2"], "length 2 is invalid; expected an integer >= 3"),
    (["--task", "forecasting", "--lengths", "1"], "expected an integer >= 2"),
    (["--task", "sentiment", "--set", "task.negation=1.5"], "negation=1.5 is out of range; "
     "expected 0 <= negation <= 1"),
    (["--task", "agreement", "--set", "task.fronted=-1"], "fronted=-1.0 is out of range"),
    (["--task", "agreement", "--set", "task.solved=0"], "solved=0.0 is out of range"),
    (["--task", "copy", "--model", "bow-logreg"], "empty sweep: none of the baselines"),
    # Wrong types: each parameter takes the type of its default.
    (["--task", "recall", "--set", "task.pairs=true"], "parameter pairs=True has the wrong "
     "type; expected an integer"),
    (["--task", "copy", "--set", "task.symbols=2.5"], "symbols=2.5 has the wrong type; "
     "expected an integer"),
    (["--task", "forecasting", "--set", "task.tolerance=abc"], "tolerance='abc' has the wrong "
     "type; expected a finite number"),
    (["--task", "forecasting", "--set", "task.series=3"], "series=3 has the wrong type; "
     "expected a string"),
    (["--task", "sentiment", "--set", "task.negation=abc"], "negation='abc' has the wrong type"),
    (["--task", "sentiment", "--set", "task.intensity=true"], "intensity=True has the wrong "
     "type; expected a finite number"),
    (["--task", "agreement", "--set", "task.solved=abc"], "solved='abc' has the wrong type"),
    (["--task", "adding", "--set", "task.tolerance=[0.1]"], "tolerance=[0.1] has the wrong "
     "type"),
]


@pytest.mark.parametrize("args,expected", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_out_of_range_task_input_is_one_line_and_exit_2(invoke, args, expected):
    models = [] if "--model" in args else ["--model", "lstm"]
    one_line_exit_2(invoke("run", *args, *models, "--dry-run"), expected)


def test_an_integer_for_a_number_parameter_is_stored_as_a_float():
    """``--set task.phi=1`` and ``task.phi=1.0`` are the same task, hence the same cell."""
    as_int, as_float = build_task("forecasting", {"phi": 1, "solved": 1}), Forecasting()
    assert type(as_int.phi) is float and type(as_int.solved) is float
    assert json.dumps(dataclasses.asdict(as_int)) == json.dumps(
        dataclasses.asdict(replace(as_float, solved=1.0)))
