"""The one progress bar of a horizon command: cells trained of those planned at most, and
the time left by the cost model (``memorybench.costs``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from memorybench.cells import Cell
from memorybench.costs import cell_seconds, duration

Row = dict[str, Any]  # a stored cell, missing values as None


def bound(cell: Cell) -> float:
    """The cost model's bound on a cell's seconds; 0 for a cell that cannot even sample
    (it fails in training, not in the progress bar)."""
    try:
        return cell_seconds(cell)
    except Exception:
        return 0.0


class Progress:
    """One bar over every round of a horizon command: the cells it trained of those it
    plans, at most (every rung left climbed, refined and checked: ``worst_left``; the
    count falls as searches close early), and the time left by the cost model
    (``memorybench.costs``, every cell at its full budget, so most finish sooner): of the
    round being trained, and at most in all."""

    def __init__(self, enabled: bool, workers: int):
        self.enabled, self.workers = enabled, workers
        self.bar: Any = None
        self.round_left = self.all_left = 0.0  # the cost model's bounds, in seconds
        self.costs: dict[str, float] = {}  # key -> the bound of a cell of this round

    def round(self, todo: list[Cell], left: list[Cell]) -> None:
        """A round starts: it trains ``todo``; ``left`` is all that may follow, at most."""
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=0, file=sys.stderr, unit="cell", desc="horizon",
                            bar_format="{desc}: {n_fmt}/{total_fmt} cells planned at most "
                            "|{bar}| {elapsed}{postfix}")
        keys = {c.key for c in todo}
        later = [c for c in left if c.key not in keys]
        self.costs = {c.key: bound(c) for c in todo}
        self.bar.total = self.bar.n + len(todo) + len(later)
        self.round_left = self.wall(list(self.costs.values()))
        self.all_left = self.wall(list(self.costs.values()) + [bound(c) for c in later])
        self.show()

    def more(self, todo: list[Cell]) -> None:
        """The round takes on ``todo``, rungs asked for as results arrived: cells of the
        bound already counted as may follow, now part of this round."""
        if not self.enabled or not todo:
            return
        new = {c.key: bound(c) for c in todo if c.key not in self.costs}
        self.costs |= new
        self.round_left += self.wall(list(new.values()))
        self.show()

    def wall(self, times: list[float]) -> float:
        """Seconds on the workers, longest cell first (``costs.sweep_seconds``)."""
        return max(sum(times) / min(self.workers, len(times)), max(times)) if times else 0.0

    def done(self, row: Row) -> None:
        """A cell came back."""
        if self.bar is None:
            return
        spent = self.costs.get(str(row.get("key")), 0.0) / self.workers
        self.round_left = max(0.0, self.round_left - spent)
        self.all_left = max(0.0, self.all_left - spent)
        self.bar.update()
        self.show()

    def show(self) -> None:
        self.bar.set_postfix_str(f"this round ≤ {duration(self.round_left)}, all ≤ "
                                 f"{duration(self.all_left)} left (cost model)", refresh=True)

    def write(self, line: str) -> None:
        """A line for the terminal that leaves the bar where it is."""
        if self.bar is None:
            click.echo(line)
        else:
            self.bar.clear()
            click.echo(line)
            self.bar.refresh()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()  # after an error too: the bar ends above what is said of it

    def close(self, finished: bool = False) -> None:
        """The bar ends; ``finished``: every search closed, so what was planned is what
        was trained."""
        if self.bar is not None:
            if finished:
                self.bar.total = self.bar.n
                self.round_left = self.all_left = 0.0
                self.show()
            self.bar.close()
            self.bar = None
