"""The leaderboard is rebuilt from committed results, and a stale committed report is caught."""

import json
from pathlib import Path

import pytest

from conftest import TINY

ROOT = Path(__file__).resolve().parent.parent


def test_leaderboard_rebuilds_from_results_and_check_catches_staleness(invoke, tmp_path):
    assert invoke("run", "--task", "adding", "--model", "gru", "--model", "elman", "--lengths",
                  "4,6", "--seeds", "0,1", *TINY).exit_code == 0
    built = invoke("leaderboard", "--db", "results/memorybench.db", "--results", "lb.jsonl",
                   "--out", "lb")
    assert built.exit_code == 0, built.output
    assert "| model / task" in built.stdout and "gru" in built.stdout
    assert (tmp_path / "lb" / "README.md").exists() and (tmp_path / "lb" / "index.html").exists()
    assert len((tmp_path / "lb.jsonl").read_text().splitlines()) == 8

    fresh = invoke("leaderboard", "--results", "lb.jsonl", "--out", "lb", "--check")
    assert fresh.exit_code == 0 and "up to date" in fresh.stderr

    lines = (tmp_path / "lb.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["metric"] = 1.0 - (row["metric"] or 0.0)  # the results moved; the report did not
    (tmp_path / "lb.jsonl").write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    stale = invoke("leaderboard", "--results", "lb.jsonl", "--out", "lb", "--check")
    assert stale.exit_code == 1 and "is stale" in stale.stderr


@pytest.mark.skipif(not (ROOT / "results" / "standard.jsonl").exists(),
                    reason="no standard-suite results are committed yet")
def test_the_committed_leaderboard_is_up_to_date(invoke):
    result = invoke("leaderboard", "--results", str(ROOT / "results" / "standard.jsonl"),
                    "--out", str(ROOT / "reports" / "leaderboard"), "--check")
    assert result.exit_code == 0, result.stderr
