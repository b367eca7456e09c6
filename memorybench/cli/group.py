"""The ``memorybench`` click group, the options its commands share, and the one-line
error handling every command gets (``Cli``)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from memorybench.errors import UserError, printable
from memorybench.store import DEFAULT_DB

EXIT_USAGE = 2


# The commands in the order a newcomer needs them: the main job first.
ORDER = ("horizon", "report", "run", "compare", "list", "export", "import", "leaderboard",
         "diagnose", "data", "score", "rekey")


class Cli(click.Group):
    """A click group whose user errors are one line on stderr with exit code 2, and whose
    help lists the commands in ``ORDER`` with each one's whole first sentence."""

    def list_commands(self, ctx):
        names = super().list_commands(ctx)
        return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]

    def format_commands(self, ctx, formatter):
        rows = [(name, self.commands[name].get_short_help_str(limit=300))
                for name in self.list_commands(ctx) if not self.commands[name].hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            self.raw_args = list(sys.argv[1:] if args is None else args)  # for "resume with"
            args = self.raw_args or ["--help"]  # no command: the overview, not an error
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except (UserError, click.ClickException) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            # One line, terminal-safe: a message may quote a name from a file (a task
            # named with an escape sequence), which is shown, never sent to the terminal.
            click.echo(f"memorybench: error: {printable(message)}", err=True)
            code = EXIT_USAGE
        except (click.Abort, KeyboardInterrupt):
            click.echo("memorybench: interrupted", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


class FiniteFloat(click.FloatRange):
    """A number in range that is also finite: NaN passes every comparison a range makes
    (``--margin nan`` once switched the regression gate off), so it is refused here."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


db_option = click.option("--db", "db", type=click.Path(path_type=Path), default=DEFAULT_DB,
                         show_default=True, help="Results database (SQLite).")
model_file_option = click.option(
    "--model-file", "model_files", multiple=True, metavar="PATH.py:NAME[=ALIAS]",
    help="Your own model from a Python file: a Core subclass or a function (or nn.Module "
    "class) building a module that maps (batch, time, features) to (batch, time, out); "
    "--set model.X=... sets its arguments; NAME=ALIAS runs it under ALIAS (lowercase "
    "letters, digits, '-', '_'); one with no width argument trains at its own size. Repeat "
    "for several.")


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="memorybench")
def cli():
    """How far back can a sequence model remember?

    Crosses memory tasks with sequence models, trains every pair over a sweep of lengths,
    and stores every result.

    \b
    Examples:
      memorybench horizon --suite quick     # the main job: each model's memory horizon
      memorybench report                    # reports/latest/index.html and README.md
      memorybench list                      # every task, model, baseline and suite
      memorybench run --suite smoke         # a sweep: every cell of tasks x models x lengths
      memorybench export --format csv --out results.csv

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

