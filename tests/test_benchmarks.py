"""The performance harness keeps running (its speed targets live in its report, not here)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (ROOT / "benchmarks" / "__main__.py").exists(),
                    reason="the benchmarks/ folder ships with the repository, not the package")
@pytest.mark.slow
def test_the_fast_harness_writes_every_section(tmp_path):
    out = tmp_path / "performance.md"
    subprocess.run([sys.executable, "-m", "benchmarks", "--fast", "--model", "gru", "--task",
                    "adding", "--out", str(out)], cwd=ROOT, check=True, capture_output=True,
                   timeout=600)
    text = out.read_text()
    for title in ["1. Overhead", "2. Data", "3. Evaluation", "4. Scaling", "6. Growth",
                  "7. Profile: gru on copy", "7. Profile: denormals",
                  "8. Models: training steps per second", "Memory: peak resident memory",
                  "9. Scans: minGRU / minLSTM vs fused GRU / LSTM"]:
        assert f"## {title}" in text
    assert "| gru |" in text and "| adding |" in text
    assert "load average" in text and "python -m benchmarks --fast" in text


@pytest.mark.skipif(not (ROOT / "benchmarks" / "__main__.py").exists(),
                    reason="the benchmarks/ folder ships with the repository, not the package")
def test_the_orthogonal_floor_times_only_products_and_expm():
    from benchmarks.orthogonal_floor import expm_seconds, floor_seconds

    assert 0 < floor_seconds(steps=3, batch=2, hidden=4, seconds=0.01) < 1
    assert 0 < expm_seconds(hidden=4, seconds=0.01) < 1


def test_the_budget_ratio_is_steps_to_solve_over_the_shortest_lengths():
    import pandas as pd

    from benchmarks.budget_ratio import ratios

    def row(length, steps, solved=True, kind="network", seed=0):
        return {"task": "copy", "model": "gru", "seed": seed, "length": length,
                "status": "ok", "solved": solved, "steps": steps,
                "config": {"model_kind": kind, "train": {"lr": 1e-2}}}

    frame = pd.DataFrame([row(8, 200), row(16, 300), row(32, 800), row(64, 1000, False),
                          row(8, 100, kind="baseline", seed=1), row(8, 400, seed=2)])
    assert sorted(ratios(frame)) == [1.5, 4.0]  # unsolved, baselines, lone lengths left out


def test_the_stop_margin_reads_how_far_past_the_threshold_each_early_stop_was():
    import pandas as pd

    from benchmarks.stop_margin import early_stops

    def row(validation, test, steps=200, kind="network"):
        return {"task": "copy", "model": "gru", "length": 8, "status": "ok",
                "metric_name": "accuracy", "metric": test, "solved_threshold": 0.9,
                "steps": steps, "metrics": {"validation": {"accuracy": validation}},
                "config": {"model_kind": kind, "train": {"steps": 1000}}}

    frame = pd.DataFrame([row(0.92, 0.89), row(0.99, 0.95), row(0.95, 0.9, steps=1000),
                          row(0.85, 0.8), row(0.95, 0.5, kind="baseline")])
    stops = early_stops(frame)  # trained to its budget, under, and baselines left out
    assert [(round(m, 6), under) for m, under, _ in stops] == [(0.2, True), (0.9, False)]


def test_the_search_cost_tells_each_cells_part_of_the_protocol():
    from types import SimpleNamespace

    from benchmarks.search_cost import role

    search = {"ladder": [1, 8, 16], "steps": 1000, "lrs": [1e-3, 1e-2]}

    def row(length, lr, steps=1000, control=False, record=True):
        metrics = {"search": search if record else None, "control": control}
        return SimpleNamespace(length=length, metrics=metrics,
                               config={"train": {"lr": lr, "steps": steps}})

    assert role(row(1, 1e-3, control=True), 8, 1e-2) == "control"
    assert role(row(8, 1e-3), 8, 1e-2) == "ladder"  # the first rung's grid
    assert role(row(16, 1e-2), 8, 1e-2) == "ladder"  # the held rate up the ladder
    assert role(row(16, 1e-3), 8, 1e-2) == "rest of the grid"  # a failing rung's
    assert role(row(16, 3e-2), 8, 1e-2) == "past the edge"
    assert role(row(16, 1e-2, steps=2000), 8, 1e-2) == "longer budget"
    assert role(row(16, 1e-2, record=False), 8, 1e-2) == "unrecorded"
    assert role(row(1, 1e-2, steps=2000, control=True), 8, 1e-2) == "longer budget"
    assert role(row(1, 3e-2, control=True), 8, 1e-2) == "past the edge"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mingru", "minlstm", "mamba"])
def test_each_modern_model_is_timed_against_its_public_implementation(model):
    from benchmarks.references import PACKAGES, compare

    pytest.importorskip(PACKAGES[model], reason="pip install -e '.[references]'")
    result = compare(model, length=8, batch=4, params=3000, rounds=1, steps=1)
    assert result["ms"] > 0 and result["reference_ms"] > 0 and result["ratio"] > 0
    # the same width and depth: parameter counts within 10% of each other
    assert abs(result["reference_params"] / result["params"] - 1) < 0.1


@pytest.mark.parametrize("model", ["elman", "lstm", "gru"])
@pytest.mark.parametrize("task", ["copy", "adding"])
def test_an_ensembles_members_compute_what_each_computes_alone(model, task):
    import numpy as np
    import torch

    from benchmarks.ensembles import BlockRNN, LoopRNN, members_of

    built, members, _ = members_of(model, task, 6, 3000, 3)
    batches = [built.sample(4, 6, np.random.default_rng(e)) for e in range(3)]
    x = torch.stack([b.x for b in batches])
    assert members  # three members, each seeded apart
    for form in (BlockRNN, LoopRNN):
        together = form(members)(x)
        for e, b in enumerate(batches):
            torch.testing.assert_close(together[e], members[e](b.x), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_compile_speed_times_a_model_eager_and_compiled():
    from benchmarks.compile_speed import measure

    result = measure("lstm", length=4, params=2000, rounds=1, steps=1)
    assert "why" in result or (result["eager"][1] > 0 and result["compiled"][1] > 0)


@pytest.mark.parametrize("causal", [True, False])
def test_attentions_other_kernels_compute_the_built_ins_function(causal):
    import numpy as np
    import torch

    from benchmarks.attention_speed import models

    task, _, built = models("copy", 6, 3000, None, ["mha", "sdpa", "matmul"])
    for model in built.values():
        model.core.causal = causal
    x = task.sample(4, 6, np.random.default_rng(0)).x
    with torch.no_grad():
        for kernel in ("sdpa", "matmul"):
            torch.testing.assert_close(built[kernel](x), built["mha"](x), atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not (ROOT / "benchmarks" / "__main__.py").exists(),
                    reason="the benchmarks/ folder ships with the repository, not the package")
@pytest.mark.parametrize("model", ["orthogonal", "gru"])
def test_the_two_forms_of_a_recurrence_compute_the_same_function_and_gradients(model):
    import numpy as np
    import torch

    from benchmarks.recurrence_speed import pair

    nets, task, _ = pair(model, 5, 4, 3000, {})
    assert set(nets) == {"autograd", "hand"}
    data = task.sample(4, 5, np.random.default_rng(0))
    outs, grads = {}, {}
    for form, net in nets.items():
        outs[form] = net(data.x)
        grads[form] = torch.autograd.grad(task.loss(outs[form], data), list(net.parameters()))
    torch.testing.assert_close(outs["hand"], outs["autograd"])
    assert len(grads["hand"]) > 0
    for a, b in zip(grads["hand"], grads["autograd"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.skipif(not (ROOT / "benchmarks" / "__main__.py").exists(),
                    reason="the benchmarks/ folder ships with the repository, not the package")
def test_the_device_benchmark_skips_without_cuda_and_times_a_cpu(capsys):
    import torch

    from benchmarks.device_speed import main, ms_per_step

    if not torch.cuda.is_available():
        main(["--model", "lstm"])
        assert "no CUDA device here" in capsys.readouterr().out
    assert ms_per_step("lstm", 4, 4, 2000, torch.device("cpu"), rounds=1, steps=1) > 0


def test_the_plateau_tests_table_counts_every_case_once_per_rule(capsys):
    """python -m benchmarks.plateau_test on the committed v3 cells: one row per rule, each
    splitting every continued failing cell into the four outcomes, and counting the cells
    that solved their length later but were read flat."""
    from benchmarks import plateau_test

    plateau_test.main([])
    out = capsys.readouterr().out
    total = int(out.split(" failing cells")[0])
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line
            and not line.startswith("| rule")]
    assert total > 0 and len(rows) == len(plateau_test.RULES)
    cells = [[int(x) for x in row.strip("| ").split(" | ")[3:]] for row in rows]
    assert all(sum(c[:4]) == total for c in cells)
    later = int(out.split("; ")[-1].split(" solved")[0])
    assert all(c[4] <= later and c[5] <= total - later for c in cells)
    plateau_test.main(["--above-control"])  # the rungs where the rule decides: fewer cases
    above = int(capsys.readouterr().out.split(" failing cells")[0])
    assert 0 < above < total
    plateau_test.main(["--above-control", "--task", "parity"])  # one task's cases only
    parity = int(capsys.readouterr().out.split(" failing cells")[0])
    plateau_test.main(["--above-control", "--task", "parity", "--task", "permutation"])
    both = int(capsys.readouterr().out.split(" failing cells")[0])
    assert 0 < parity < both <= above
    with pytest.raises(SystemExit, match="no failing cell"):
        plateau_test.main(["--task", "no-such-task"])


def test_the_extrapolation_cost_is_a_cells_own_pass_in_its_training_steps(capsys):
    from benchmarks import extrapolation_cost

    extrapolation_cost.main(["--case", "copy,lstm,8", "--rounds", "1", "--steps", "1"])
    (row,) = [line for line in capsys.readouterr().out.splitlines()
              if line.startswith("| copy | lstm | 8 |")]
    ms, seconds, steps, share = (c.strip() for c in row.split("|")[4:8])
    assert float(ms) > 0 and float(seconds) > 0 and share.endswith("of 1,000 steps")
    # the pass in steps is its seconds over a step's (rounded as printed)
    assert float(steps) == pytest.approx(float(seconds) * 1e3 / float(ms), rel=0.5, abs=2)


def test_a_harness_run_keeps_the_sections_it_did_not_measure(tmp_path):
    """``python -m benchmarks`` rewrites its own sections and keeps those the standalone
    modules wrote (attention's kernels, the extrapolation pass, ...), with their notes."""
    from benchmarks.__main__ import kept_sections

    report = tmp_path / "performance.md"
    assert kept_sections(report, {"1. Overhead"}) == ""
    report.write_text("# memorybench performance\n\nMeasured today.\n\n## 1. Overhead\n\n| a |\n"
                      "\n## 14. Attention\n\n| b |\n\nSection 14 measured with `x`.\n\n"
                      "## 16. Extrapolation\n\n| c |\n")
    kept = kept_sections(report, {"1. Overhead"})
    assert kept == ("\n## 14. Attention\n\n| b |\n\nSection 14 measured with `x`.\n"
                    "\n## 16. Extrapolation\n\n| c |\n")
