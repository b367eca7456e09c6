"""The ``memorybench`` command line: click wiring only. Commands that train live in
``cli/train.py`` (list, run, diagnose), commands that read results in ``cli/results.py``
(export, import, compare, report, leaderboard, rekey), commands that take a task's data
elsewhere in ``cli/data.py`` (data, score); the work itself is done by the modules they
call."""

from __future__ import annotations

from pathlib import Path

import click

from memorybench.flags import Cli
from memorybench.store import DEFAULT_DB

db_option = click.option("--db", "db", type=click.Path(path_type=Path), default=DEFAULT_DB,
                         show_default=True, help="Results database (SQLite).")
model_file_option = click.option(
    "--model-file", "model_files", multiple=True, metavar="PATH.py:NAME",
    help="Your own model from a Python file: a Core subclass or a function (or nn.Module "
    "class) building a module that maps (batch, time, features) to (batch, time, out); "
    "--set model.X=... sets its arguments. Repeat for several.")


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="memorybench")
def cli():
    """How far back can a sequence model remember?

    Crosses memory tasks with sequence models, trains every pair over a sweep of lengths,
    and stores every result.

    \b
    Example:
      memorybench list
      memorybench run --suite smoke
      memorybench export --format csv --out results.csv
      memorybench report --out reports/latest

    \b
    Exit codes:
      0  done
      1  done, but some cells of the sweep are stored as failed (run), something got
         worse or went missing (compare), or the committed report is stale (leaderboard)
      2  bad input: one line on standard error says what is wrong; nothing was stored
      130  interrupted (Ctrl-C); what finished before is stored
    """


def main() -> None:
    cli()


from memorybench.cli import data, horizon, results, train  # noqa: E402,F401  (registers them)
