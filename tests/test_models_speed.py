"""The models' speed table (benchmarks/model_speed.py) and its section of the performance
report. Timings themselves are not asserted: the machine is shared."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not (ROOT / "benchmarks" / "model_speed.py").exists(),
                                reason="benchmarks/ ships with the repository only")
if (ROOT / "benchmarks" / "model_speed.py").exists():
    import benchmarks.model_speed as benchmarks

COLUMNS = ["model", "task", "size", "params", "steps/s", "load"]


def test_speed_table_has_every_model_task_and_size():
    table = benchmarks.run(["lstm", "attention"], fast=True, sizes=("spec", "6500"), length=5,
                           batch=4)
    assert table.columns == COLUMNS
    rows = {(r[0], r[1], r[2]): r for r in table.rows}
    assert set(rows) == {(m, t, s) for m in ("lstm", "attention")
                         for t in benchmarks.TASKS for s in ("spec", "6500")}
    for (_, _, size), row in rows.items():
        count = int(row[3].replace(",", ""))
        if size == "6500":  # sized as `run --params 6500` sizes it
            assert abs(count - 6500) <= 650
        assert float(row[4].replace(",", "")) > 0
    assert "| lstm | copy | 6500 |" in table.markdown()


def test_performance_report_has_the_speed_section(tmp_path, monkeypatch):
    """`python -m benchmarks` writes the table as its own section (the other sections
    are stubbed out here; tests/test_benchmarks.py runs them all)."""
    from benchmarks import __main__ as harness
    from benchmarks.harness import Table

    def empty(title: str) -> Table:
        return Table(title, "", ["x"])

    monkeypatch.setattr(harness.torch, "set_num_threads", lambda n: None)  # keep pytest's
    monkeypatch.setattr(harness.overhead, "run", lambda *a, **k: (empty("1"), empty("3")))
    monkeypatch.setattr(harness, "data_section", lambda *a, **k: empty("2"))
    monkeypatch.setattr(harness.sweeps, "scaling", lambda *a, **k: empty("4"))
    monkeypatch.setattr(harness.sweeps, "memory", lambda *a, **k: empty("M"))
    monkeypatch.setattr(harness.growth, "run", lambda *a, **k: (empty("6"), {}))
    monkeypatch.setattr(harness.profile, "operator_profile", lambda *a, **k: empty("7"))
    monkeypatch.setattr(harness.profile, "denormals", lambda *a, **k: empty("7d"))
    out = tmp_path / "performance.md"
    harness.main(["--fast", "--model", "gru", "--task", "adding", "--out", str(out)])
    text = Path(out).read_text()
    assert "## 8. Models: training steps per second at length 100" in text
    assert "| " + " | ".join(COLUMNS) + " |" in text
    assert "| gru | copy | spec |" in text and "| gru | adding | 6500 |" in text
