"""What a horizon command says it trained and found stored: counted from the store and the
searches' cells, each once, right after an interrupt and after the resumed search."""

import re

from memorybench import training
from memorybench.store import results

# adding × elman: the control (T=2), then T=4, 3 seeds each: two rounds of 3 cells; a
# failing rung is never extended (ceiling 1), nor given rates past the grid (lr-beyond 0)
SEARCH = ["horizon", "--task", "adding", "--model", "elman", "--start", "4", "--cap", "4",
          "--seeds", "0,1,2", "--lrs", "1e-2", "--multiples", "2", "--ceiling", "1",
          "--lr-beyond", "0", "--set", "model.hidden=8", "--set", "train.steps=6", "--set",
          "train.eval_every=3", "--set", "train.batch_size=8", "--set", "train.eval_size=32",
          "--test-size", "32", "--workers", "1", "--quiet", "--db", "h.db"]


def stop_after(monkeypatch) -> list[int]:
    """Ctrl-C as a cell starts training once as many cells as the list's one number
    trained (set it before each command; ``monkeypatch.undo`` would undo ``invoke``'s
    working directory too)."""
    real = training.Continuing.__call__
    limit, calls = [0], []

    def counted(self, cell, device):
        calls.append(cell.key)
        if len(calls) > limit[0]:
            calls.clear()
            raise KeyboardInterrupt
        return real(self, cell, device)

    monkeypatch.setattr(training.Continuing, "__call__", counted)
    return limit


def totals(stderr: str) -> tuple[int, int, int]:
    """(cells, trained now, found stored) of a closing line."""
    found = re.search(r"(\d+) cells \((\d+) trained now, (\d+) found stored", stderr)
    assert found, stderr
    return int(found[1]), int(found[2]), int(found[3])


def test_an_interrupted_search_counts_every_stored_cell_and_its_resume_what_it_trained(
        invoke, tmp_path, monkeypatch):
    limit = stop_after(monkeypatch)
    limit[0] = 4  # the control's 3 cells, and 1 of T=4's
    first = invoke(*SEARCH)
    assert first.exit_code == 130, first.output
    assert "4 cells of these searches are stored in h.db (4 trained now)" in first.stderr
    assert len(results.load(tmp_path / "h.db")) == 4
    limit[0] = 1  # again, after 1 cell: 5 stored, 1 of them now
    second = invoke(*SEARCH)
    assert "5 cells of these searches are stored in h.db (1 trained now)" in second.stderr
    limit[0] = 99
    resumed = invoke(*SEARCH)
    assert resumed.exit_code == 0, resumed.output
    assert totals(resumed.stderr) == (6, 1, 5)
    assert len(results.load(tmp_path / "h.db")) == 6
    assert totals(invoke(*SEARCH).stderr) == (6, 0, 6)  # a rerun trains nothing


def test_a_search_on_an_empty_store_trained_every_cell_it_counts(invoke):
    result = invoke(*SEARCH)
    assert result.exit_code == 0, result.output
    assert totals(result.stderr) == (6, 6, 0)
    assert "a full grid over the same ladders: 6 cells (1.0× the 6 cells" in result.stderr
