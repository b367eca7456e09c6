"""The ``memorybench`` command line: click wiring only. Commands that train live in
``cli/train.py`` (list, run, diagnose), commands that read results in ``cli/results.py``
(export, import, compare, report, leaderboard, rekey), commands that take a task's data
elsewhere in ``cli/data.py`` (data, score); the work itself is done by the modules they
call. Each command imports those modules inside its function: they load torch (or pandas
and matplotlib), and ``memorybench --help``, a typo or Ctrl-C must answer at once."""

from memorybench.cli import data, horizon, results, train  # noqa: F401  (registers them)
from memorybench.cli.group import cli, main

__all__ = ["cli", "main"]
