"""Out-of-range task parameters and lengths, through the real CLI: one line naming the
parameter and its valid range, exit 2, nothing trained."""

import pytest

BAD = [
    (["--task", "recall", "--set", "task.pairs=0"], "parameter pairs=0 is out of range; "
     "expected an integer in 1..keys (32)"),
    (["--task", "recall", "--set", "task.pairs=40"], "pairs=40 is out of range"),
    (["--task", "recall", "--lengths", "20"], "length 20 is invalid; expected an integer >= 24"),
    (["--task", "forecasting", "--set", "task.tolerance=0"], "tolerance=0 is out of range; "
     "expected tolerance > 0"),
    (["--task", "forecasting", "--set", "task.tolerance=-0.5"], "tolerance=-0.5 is out of range"),
    (["--task", "forecasting", "--set", "task.series=arima"], "series='arima' is out of range; "
     "expected seasonal | narma | mackey-glass"),
    (["--task", "forecasting", "--set", "task.series=mackey-glass", "--lengths", "10"],
     "expected tau >= 17"),
    (["--task", "forecasting", "--lengths", "1"], "expected an integer >= 2"),
    (["--task", "sentiment", "--set", "task.negation=1.5"], "negation=1.5 is out of range; "
     "expected 0 <= negation <= 1"),
    (["--task", "agreement", "--set", "task.fronted=-1"], "fronted=-1 is out of range"),
    (["--task", "agreement", "--set", "task.solved=0"], "solved=0 is out of range"),
    (["--task", "copy", "--model", "bow-logreg"], "empty sweep: none of the baselines"),
]


@pytest.mark.parametrize("args,expected", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_out_of_range_task_input_is_one_line_and_exit_2(invoke, args, expected):
    models = [] if "--model" in args else ["--model", "lstm"]
    result = invoke("run", *args, *models, "--dry-run")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("memorybench: error: "), result.stderr
    assert expected in lines[0]
