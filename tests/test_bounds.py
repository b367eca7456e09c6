"""The bounds of what a command may ask for (``memorybench.config``: MAX_LENGTH, MAX_RUNGS,
MAX_SEED, DATA_COPIES) and values given twice: each refused with one line and exit 2 before
any work, by ``data``, ``run``, ``horizon`` and the API alike, nothing written."""

import time

import numpy as np
import pytest

import memorybench as mb
from memorybench import catalog, datasets
from memorybench.config import MAX_LENGTH, MAX_RUNGS, Protocol, Request, TrainConfig
from memorybench.errors import UserError
from memorybench.horizon.rules import ladder

from conftest import one_line_exit_2

HUGE = "100000000"  # 10^8: past MAX_LENGTH, and far past any machine's memory as data
GIB = 2 ** 30


@pytest.fixture
def machine(monkeypatch):
    """A machine of 16 GiB, whatever this one has: the size bound is then the same here
    and in CI, and a refused size is never tried."""
    monkeypatch.setattr(datasets, "machine_memory", lambda: 16 * GIB)


# --- lengths ---------------------------------------------------------------------------------
def test_every_task_generates_its_longest_length_and_refuses_one_more():
    for name in catalog.task_names():
        task = catalog.build_task(name, catalog.task_spec(name).get("params", {}))
        task.check_length(MAX_LENGTH)
        batch = task.sample(1, MAX_LENGTH, np.random.default_rng(0))
        assert MAX_LENGTH <= batch.x.shape[1] <= 3 * MAX_LENGTH, name
        with pytest.raises(UserError, match="too long; expected at most 1,000,000"):
            task.check_length(MAX_LENGTH + 1)


@pytest.mark.parametrize("args, expected", [
    (["data", "--task", "copy", "--lengths", HUGE, "--out", "d"], "length 100,000,000 is too"),
    (["run", "--task", "copy", "--model", "lstm", "--lengths", f"10,{HUGE}", "--db", "h.db"],
     "length 100000000 is invalid; expected integers from 1 to 1,000,000"),
    (["horizon", "--task", "copy", "--model", "lstm", "--cap", "1000000000", "--dry-run",
      "--db", "h.db"], "horizon cap 1000000000 is invalid; expected an integer from 1 to"),
    (["horizon", "--task", "copy", "--model", "lstm", "--cap", str(10 ** 20), "--db", "h.db"],
     "horizon cap 100000000000000000000 is invalid"),
    (["horizon", "--task", "copy", "--model", "lstm", "--start", str(10 ** 20), "--db",
      "h.db"], "horizon start 100000000000000000000 is invalid"),
    (["horizon", "--task", "copy", "--model", "lstm", "--cap", "1024", "--factor", "1.001",
      "--dry-run", "--db", "h.db"], "has more than 200 lengths; expected a larger --factor"),
])
def test_a_length_past_the_bound_is_one_line_and_nothing_is_written(invoke, tmp_path, args,
                                                                   expected):
    started = time.perf_counter()
    one_line_exit_2(invoke(*args), expected)
    assert time.perf_counter() - started < 30  # refused, not generated
    assert not any(tmp_path.iterdir())


def test_the_api_refuses_the_same_lengths(tmp_path):
    with pytest.raises(ValueError, match="too long"):
        mb.data("copy", lengths=[10 ** 8], out=tmp_path / "d")
    with pytest.raises(ValueError, match="from 1 to 1,000,000"):
        mb.run(tasks="copy", models="lstm", lengths=[10 ** 8], db=tmp_path / "r.db")
    with pytest.raises(ValueError, match="horizon cap 1000000000 is invalid"):
        mb.horizon(tasks="copy", models="lstm", cap=10 ** 9, db=tmp_path / "h.db")
    assert not any(tmp_path.iterdir())


def test_a_ladder_is_refused_as_it_climbs_and_a_huge_factor_is_two_rungs():
    started = time.perf_counter()
    with pytest.raises(UserError, match=f"more than {MAX_RUNGS} lengths"):
        ladder(1, MAX_LENGTH, 1 + 1e-12)  # would be 10^6 rungs
    assert time.perf_counter() - started < 1
    assert ladder(8, 64, 1e308) == [8, 64]  # x becomes infinite: no rung between
    assert len(ladder(1, MAX_LENGTH, 1.1)) == 146 < MAX_RUNGS


def test_a_dry_run_to_the_longest_length_builds_no_huge_array(invoke):
    result = invoke("horizon", "--task", "copy", "--model", "lstm", "--cap", str(MAX_LENGTH),
                    "--dry-run", "--db", "h.db")
    assert result.exit_code == 0, result.output
    assert "524288 1000000;" in result.stdout


@pytest.mark.parametrize("lines, expected", [
    ('probes = { adding = { elman = [6, 100000000] } }',
     "lists of lengths from 1 to 1,000,000"),
    ('probes = { adding = { elman = [6, 6] } }', "probes: adding elman: 6 is given twice"),
    ('probes = { agreement = { elman = [1] } }',
     "probes: agreement elman: task agreement: length 1 is invalid"),
    ('caps = { elman = 100000000 }', "caps = {'elman': 100000000} is invalid"),
    ('ladders = { adding = { cap = 100000000 } }', "horizon cap 100000000 is invalid"),
    ('seeds = [0, 0]', "[horizon] seeds: 0 is given twice"),
    ('seeds = [-1]', "[horizon] seeds: seed -1 is invalid"),
    ('lrs = [1e-2, 0.01]', "learning rates: 0.01 is given twice"),
])
def test_a_suites_bad_search_value_is_one_line(invoke, tmp_path, lines, expected):
    (tmp_path / "s.toml").write_text(f'tasks = ["adding", "agreement"]\nmodels = ["elman"]\n'
                                     f'[horizon]\n{lines}\n')
    one_line_exit_2(invoke("horizon", "--suite", "s.toml", "--dry-run", "--db", "h.db"),
                    expected)


def test_a_suites_seeds_given_twice_are_refused_by_its_search(invoke, tmp_path):
    (tmp_path / "s.toml").write_text('tasks = ["adding"]\nmodels = ["elman"]\nseeds = [1, 1]\n')
    one_line_exit_2(invoke("horizon", "--suite", "s.toml", "--dry-run", "--db", "h.db"),
                    "suite s.toml: seeds: 1 is given twice")
    one_line_exit_2(invoke("run", "--suite", "s.toml", "--dry-run", "--db", "r.db"),
                    "seeds: 1 is given twice")


# --- data's size -------------------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["--train-size", HUGE], "100,002,000 examples (100,000,000 training"),
    (["--test-size", HUGE], "1,000 validation, 100,000,000 test"),
    (["--validation-size", HUGE], "100,000,000 validation"),
    (["--batch-size", "1000000000", "--train-size", "5"], "(1,000,000,000 training"),
    (["--lengths", "1000000"], "at length 1,000,000"),
])
def test_data_refuses_a_file_this_machine_cannot_build(invoke, tmp_path, machine, args,
                                                       expected):
    base = {"--lengths": "10"}
    flags = [x for k, v in base.items() if k not in args for x in (k, v)]
    result = invoke("data", "--task", "copy", "--out", "d", *flags, *args)
    one_line_exit_2(result, expected)
    assert "GiB per file, above the 5.3 GiB this machine can build" in result.stderr
    assert not (tmp_path / "d").exists()


def test_the_size_estimate_is_the_arrays_written():
    cfg = TrainConfig(batch_size=16, eval_size=16, test_size=16)
    for name in catalog.task_names():
        task = catalog.build_task(name, catalog.task_spec(name).get("params", {}))
        length = max(task.min_length, 40)
        arrays = datasets.examples(task, length, 0, cfg, 16)
        actual = sum(a.nbytes for a in arrays.values())
        estimate = 48 * datasets.example_bytes(task, length)
        assert 0.9 * actual <= estimate <= actual, name  # per-example facts left out


def test_data_builds_a_file_within_the_bound(invoke, tmp_path, monkeypatch):
    # copy at 10: 1,024 + 16 + 16 examples of 30 steps, 480 bytes each: about 0.5 MB
    monkeypatch.setattr(datasets, "machine_memory", lambda: 3 * 510_000)
    args = ["data", "--task", "copy", "--lengths", "10", "--out", "d", "--test-size", "16",
            "--validation-size", "16", "--batch-size", "1024", "--train-size"]
    assert invoke(*args, "1000").exit_code == 0
    one_line_exit_2(invoke(*args, "1025"), "2,080 examples")


# --- seeds and values given twice ------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["data", "--task", "copy", "--lengths", "10", "--seeds", "-1", "--out", "d"],
     "--seeds: seed -1 is invalid; expected an integer from 0 to 2**63 - 1"),
    (["data", "--task", "copy", "--lengths", "10", "--seeds", "0,0", "--out", "d"],
     "--seeds: 0 is given twice"),
    (["data", "--task", "copy", "--lengths", "10,10", "--out", "d"], "--lengths: 10 is given"),
    (["run", "--task", "copy", "--model", "lstm", "--lengths", "10", "--seeds", "0,0",
      "--db", "h.db"], "--seeds: 0 is given twice"),
    (["run", "--task", "copy", "--model", "lstm", "--lengths", "10,10", "--db", "h.db"],
     "--lengths: 10 is given twice"),
    (["horizon", "--task", "copy", "--model", "lstm", "--seeds", "0,0", "--db", "h.db"],
     "--seeds: 0 is given twice"),
    (["horizon", "--task", "copy", "--model", "lstm", "--lrs", "1e-2,1e-2,0.01", "--db",
      "h.db"], "learning rates: 0.01 is given twice (equal numbers are one value)"),
    (["horizon", "--task", "copy", "--model", "lstm", "--lrs", "1e-3,1e-2,0.010", "--db",
      "h.db"], "learning rates: 0.01 is given twice"),
    (["horizon", "--task", "copy", "--model", "lstm", "--multiples", "2,2", "--db", "h.db"],
     "extrapolation multiples: 2 is given twice"),
])
def test_a_bad_or_repeated_seed_rate_or_length_is_one_line(invoke, tmp_path, args, expected):
    one_line_exit_2(invoke(*args), expected)
    assert not any(tmp_path.iterdir())


def test_the_api_and_the_settings_refuse_the_same(tmp_path):
    with pytest.raises(ValueError, match="seed -1 is invalid"):
        mb.data("copy", lengths=[10], seeds=[-1], out=tmp_path / "d")
    with pytest.raises(ValueError, match="--seeds: 0 is given twice"):
        mb.run(tasks="copy", models="lstm", lengths=[4], seeds=[0, 0], db=tmp_path / "r.db")
    with pytest.raises(ValueError, match="learning rates: 0.01 is given twice"):
        mb.horizon(tasks="copy", models="lstm", lrs=[0.01, 1e-2], db=tmp_path / "h.db")
    assert not any(tmp_path.iterdir())
    with pytest.raises(UserError, match="seed 1.5 is invalid"):
        Request(seeds=[0, 1.5])
    with pytest.raises(UserError, match="learning rates: 0.001 is given twice"):
        Protocol(lrs=(1e-3, 0.001))


def test_a_model_specs_grid_given_twice_is_refused(invoke, monkeypatch):
    spec = {**catalog.model_spec("lstm"), "horizon": {"lrs": [1e-2, 0.01]}}
    real = catalog.model_spec
    monkeypatch.setattr(catalog, "model_spec", lambda n: spec if n == "lstm" else real(n))
    one_line_exit_2(invoke("horizon", "--task", "copy", "--model", "lstm", "--dry-run",
                           "--db", "h.db"), "learning rates: 0.01 is given twice")
