"""The ``memorybench`` command line: list, run, export, report."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from memorybench.console import print_diagnostics, print_plan, print_summary
from memorybench.errors import UserError
from memorybench.store import DEFAULT_DB

EXIT_USAGE = 2


class Cli(click.Group):
    """A click group whose user errors are one line on stderr with exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            self.raw_args = list(sys.argv[1:] if args is None else args)  # for "resume with"
            args = self.raw_args or ["--help"]  # no command: the overview, not an error
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except (UserError, click.ClickException) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            click.echo(f"memorybench: error: {message}", err=True)
            code = EXIT_USAGE
        except click.Abort:
            click.echo("memorybench: interrupted", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


db_option = click.option("--db", "db", type=click.Path(path_type=Path), default=DEFAULT_DB,
                         show_default=True, help="Results database (SQLite).")


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
    """


@cli.command("list")
def list_cmd():
    """Every task, model, classical baseline and suite, one line each.

    \b
    Example:
      memorybench list
    """
    from memorybench.catalog import describe, is_baseline, model_names, task_names
    from memorybench.sweep import load_suite, suite_names

    def section(title: str, rows: list[tuple[str, str]]) -> None:
        click.echo(f"{title}:")
        width = max((len(name) for name, _ in rows), default=0)
        for name, text in rows:
            click.echo(f"  {name:<{width}}  {text}")

    section("tasks", [(n, describe("task", n)) for n in task_names()])
    names = model_names()
    section("models", [(n, describe("model", n)) for n in names if not is_baseline(n)])
    section("baselines", [(n, describe("model", n)) for n in names if is_baseline(n)])
    section("suites", [(n, load_suite(n)[1]) for n in suite_names()])


@cli.command()
@click.option("--suite", help="A named suite (see `memorybench list`) or a path to a TOML file.")
@click.option("--task", "tasks", multiple=True, help="Task to run; repeat for several.")
@click.option("--model", "models", multiple=True, help="Model to run; repeat for several.")
@click.option("--lengths", help="Comma-separated lengths, e.g. 10,50,100 (default: each "
              "task's spec).")
@click.option("--seeds", help="Comma-separated seeds, e.g. 0,1,2 (default: 0).")
@click.option("--steps", type=click.IntRange(min=1), help="Training budget in steps per cell.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Examples per training step.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate.")
@click.option("--eval-every", type=click.IntRange(min=1), help="Steps between evaluations.")
@click.option("--params", "n_params", type=click.IntRange(min=1), metavar="N",
              help="Equal-size comparison: set each model's hidden width so it has about N "
              "trainable parameters (within 10%) [default: the specs' widths].")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override any spec value: train.*, task.* or model.* "
              "(e.g. --set model.hidden=64).")
@db_option
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Cells trained at once, one process and one torch thread each "
              "[default: number of cores].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where to train; auto picks CUDA when present.")
@click.option("--dry-run", is_flag=True, help="Print the plan and train nothing.")
@click.option("--retry-failed", is_flag=True, help="Train again the cells stored as failed.")
@click.option("--rerun", is_flag=True, help="Train again every cell of the sweep, also those "
              "stored, and replace their stored results.")
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="local: processes on this machine (joblib); dask: a "
              "dask.distributed cluster (pip install 'memorybench[dask]').")
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://HOST:8786 "
              "(implies --backend dask; without it, dask starts a LocalCluster).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(suite, tasks, models, lengths, seeds, steps, batch_size, lr, eval_every, n_params,
        settings, db, workers, device, dry_run, retry_failed, rerun, backend, scheduler, quiet):
    """Train every cell of a sweep that is not stored yet, and store it.

    A sweep is tasks x models x lengths x seeds, from a suite and/or flags (flags win).
    With --task but no --model, every model runs (and the other way round). Cells already
    in the store are skipped, so rerunning a command resumes it.

    \b
    Example:
      memorybench run --task adding --task copy --model elman --model lstm --model gru \\
          --lengths 10,50,100 --seeds 0,1
      memorybench run --suite smoke --dry-run
      memorybench run --task copy --model lstm --model orthogonal --params 6500
    """
    from memorybench.flags import check_device, sweep_from_flags
    from memorybench.runner import (
        SweepInterrupted,
        default_workers,
        make_plan,
        require_dask,
        run_plan,
    )
    from memorybench.store import Store

    train = {"steps": steps, "batch_size": batch_size, "lr": lr, "eval_every": eval_every}
    cells = sweep_from_flags(suite, tasks, models, lengths, seeds, train, settings,
                             n_params).cells()
    device = check_device(device)
    workers = workers or default_workers()
    if (scheduler or backend == "dask") and not dry_run:
        require_dask(scheduler)

    with Store(db, readonly=dry_run) as store:
        plan = make_plan(cells, store.statuses(), retry_failed, rerun)
        if dry_run:
            print_plan(plan, workers)
            return 0
        click.echo(f"{len(plan.cells)} cells: {len(plan.todo)} to train, "
                   f"{len(plan.stored)} already stored in {db}", err=True)
        try:
            counts = run_plan(plan, store, workers=workers, device=device,
                              backend="dask" if scheduler else backend, scheduler=scheduler,
                              progress=not quiet,
                              put=lambda row: store.put(row, replace=rerun))
        except SweepInterrupted as stop:
            resume = shlex.join(["memorybench", *click.get_current_context().find_root()
                                 .command.raw_args])
            click.echo(f"memorybench: interrupted; {sum(stop.counts.values())} cells trained "
                       f"and stored in {db} before it. Resume with: {resume}", err=True)
            return 130
        frame = store.frame()
    mine = frame[frame["key"].isin({c.key for c in plan.cells})]
    print_summary(mine)
    trained = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    click.echo(f"trained {sum(counts.values())} cells ({trained}); results in {db}", err=True)
    failed = int((mine["status"] == "failed").sum())
    if failed > counts.get("failed", 0):
        click.echo(f"{failed} cells of this sweep are stored as failed; train them again "
                   "with --retry-failed", err=True)
    return 1 if failed else 0


@cli.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl", "parquet"]),
              default="csv", show_default=True, help="Table format.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write [default: standard output; required for parquet].")
@click.option("--task", "tasks", multiple=True, help="Only these tasks.")
@click.option("--model", "models", multiple=True, help="Only these models.")
def export(db, fmt, out, tasks, models):
    """Every stored result as one table (csv, json, jsonl or parquet).

    JSON columns (config, metrics, versions) stay JSON text in csv and parquet, and become
    nested objects in json and jsonl (one cell per line, the format results are committed
    in). Every format reads back with `memorybench compare` and `report --db`.

    \b
    Example:
      memorybench export --format csv > results.csv
      memorybench export --format parquet --out results.parquet --task copy
    """
    from memorybench import results

    if not db.exists():
        raise UserError(f"--db {db}: no such database; run `memorybench run` first or pass "
                        "--db PATH")
    frame = results.load(db)
    for column, names in (("task", tasks), ("model", models)):
        stored = sorted(set(frame[column]))
        for name in names:
            if name not in stored:
                raise UserError(f"--{column} {name} matches no stored result; stored "
                                f"{column}s: {', '.join(stored) or 'none'}")
        if names:
            frame = frame[frame[column].isin(names)]
    if out is not None:
        results.write(frame, out, fmt)
        click.echo(f"wrote {len(frame)} results to {out}", err=True)
    elif fmt == "parquet":
        raise UserError("--format parquet writes binary data; expected --out FILE")
    else:
        click.echo(results.to_text(frame, fmt), nl=False)


@cli.command()
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--baseline", required=True, type=click.Path(path_type=Path),
              help="Results to compare against: a store (.db) or an exported file.")
@click.option("--margin", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Smallest drop of the mean metric that counts as worse (absolute).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json for machines.")
@click.option("--update-baseline", is_flag=True,
              help="After comparing, rewrite --baseline with NEW (for a reviewed change).")
def compare(new, baseline, margin, fmt, update_baseline):
    """Pair the cells of NEW and --baseline by task/model/length/seed: worse, improved,
    unchanged, missing, extra. Exits 1 when anything got worse or went missing.

    A (task, model, length) is worse only when its mean metric over seeds dropped by more
    than --margin and a paired bootstrap 95% interval of the difference excludes zero.

    \b
    Example:
      memorybench compare results/memorybench.db --baseline results/ci-baseline.jsonl
      memorybench compare new.jsonl --baseline old.jsonl --format json
    """
    from memorybench import results
    from memorybench.compare import compare as compare_results
    from memorybench.compare import render_text

    new_frame = results.load(new)
    first = update_baseline and (not baseline.exists() or baseline.stat().st_size == 0)
    old_frame = results.empty() if first else results.load(baseline)  # a new baseline
    outcome = compare_results(new_frame, old_frame, margin)
    if fmt == "json":
        click.echo(json.dumps(outcome.to_dict(), indent=1))
    else:
        click.echo(render_text(outcome))
    if update_baseline:
        fmt_out = results.FILE_FORMATS.get(baseline.suffix)
        if fmt_out is None:
            raise UserError(f"--update-baseline: {baseline} is not an exported results file; "
                            "expected a .jsonl, .json, .csv or .parquet path")
        results.write(new_frame, baseline, fmt_out)
        click.echo(f"rewrote {baseline} with {len(new_frame)} results", err=True)
        return 0
    return 1 if outcome.failed else 0


@cli.command()
@db_option
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports") / "latest",
              show_default=True, help="Folder to write (replaced if it holds a previous report).")
@click.option("--task", "tasks", multiple=True, help="Only these tasks; repeat for several.")
@click.option("--model", "models", multiple=True, help="Only these models; repeat for several.")
@click.option("--format", "formats", metavar="html,md", default="html,md", show_default=True,
              help="Comma list: html (index.html, figures embedded) and/or md (README.md).")
def report(db, out, tasks, models, formats):
    """A results store as a report: figures, tables, memory horizons, published references.

    Writes index.html (one self-contained file), README.md and figures/*.png into --out.
    Nothing is written unless the whole report renders.

    \b
    Example:
      memorybench report
      memorybench report --db results/x.db --out reports/x --task copy --format html,md
    """
    from memorybench.report import parse_formats, render_report

    written = render_report(db, out, tasks, models, parse_formats(formats))
    click.echo(f"wrote {len(written)} files to {out}", err=True)


@cli.command()
@click.option("--task", default="adding", show_default=True, help="Task to diagnose.")
@click.option("--model", "models", multiple=True, help="Model to diagnose; repeat for several "
              "[default: elman, lstm, gru, orthogonal].")
@click.option("--length", type=int, default=100, show_default=True,
              help="Sequence length T: gradients are measured at every distance from the "
              "last step of the sequence (T steps; T + 20 for copy).")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds.")
@click.option("--steps", type=click.IntRange(min=1), default=200, show_default=True,
              help="Diagnostic training budget: 'after training' means after at most these "
              "many steps of the cell's own protocol (task and model specs, held-out "
              "evaluation every eval_every steps, early stop once solved). The specs train "
              "for thousands of steps; a model still at chance is flagged in the output.")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override any spec value, as in `run` (e.g. --set model.hidden=64).")
@db_option
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports") / "latest",
              show_default=True, help="Report folder; its diagnostics/ subfolder (figures, "
              "README.md, factors.csv) is rewritten from the store.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Diagnostics run at once, one process and one torch thread each "
              "[default: number of cores].")
def diagnose(task, models, length, seeds, steps, settings, db, out, workers):
    """Why a model forgets: gradient flow and a memory probe, at init and after training.

    For each model: the norm of dLoss/dh_t, the gradient reaching the hidden state at each
    step t, against the distance from the last step, with its fitted per-step decay factor;
    and how well a linear probe reads the task-relevant input back from the final state at
    each distance; beside them the trained metric and the task's chance level. Results go
    to the store's diagnostics table (rerunning skips stored ones) and to
    --out/diagnostics/; `memorybench report` then adds a "Gradient flow" section. Models
    without a per-step recurrent state (attention, ffwindow) are noted and skipped. The
    first example takes about 4 minutes with 2 workers on 2 CPU cores, most of it the
    LSTM's and the orthogonal RNN's 200 training steps at T=200.

    \b
    Example:
      memorybench diagnose --task adding --model elman --model lstm --model orthogonal \\
          --length 200
      memorybench diagnose --task adding --model lstm --length 50 --steps 2000 --seeds 0,1,2
    """
    from memorybench import diagnostics
    from memorybench.flags import parse_ints, parse_set
    from memorybench.report import check_out
    from memorybench.report import diagnostics as report_diagnostics
    from memorybench.runner import Plan, SweepInterrupted, default_workers, run_plan
    from memorybench.store import Store

    names = list(dict.fromkeys(models or ["elman", "lstm", "gru", "orthogonal"]))
    seed_list = parse_ints("--seeds", seeds, "0,1,2") or [0]
    todo, not_applicable, skipped = diagnostics.plan_models(
        task, names, length, seed_list, steps, parse_set(settings))
    check_out(out)  # a bad --out is refused now, not after minutes of training
    for name in skipped:
        click.echo(f"{name}: does not apply: a per-step recurrent state does not exist in "
                   "this model (no state is carried from step to step); skipped", err=True)

    def said(row: dict) -> None:
        click.echo(f"{row['model']} seed {row['seed']}: {row['status']}"
                   + (f" ({row['error']})" if row["error"] else "")
                   + f" in {row['wall_time']:.0f}s", err=True)

    with Store(db) as store:
        for diag in not_applicable:
            store.put_diagnostic(diag.not_applicable())  # so the report says so too
        stored = store.diagnostic_keys()
        plan = Plan(todo, [d for d in todo if d.key not in stored],
                    [d for d in todo if d.key in stored])
        click.echo(f"{len(todo)} diagnostics: {len(plan.todo)} to run, "
                   f"{len(plan.stored)} already stored in {db}", err=True)
        try:
            counts = run_plan(plan, store, workers=workers or default_workers(),
                              work=diagnostics.diagnose, put=store.put_diagnostic,
                              on_result=said, progress=False)
        except SweepInterrupted as stop:
            click.echo(f"memorybench: interrupted; {sum(stop.counts.values())} diagnostics "
                       f"stored in {db} before it; run the same command to resume", err=True)
            return 130
        frame = store.diagnostics()
    print_diagnostics(frame, {d.key for d in todo}, steps)
    written = report_diagnostics.write(db, out)
    click.echo(f"wrote {len(written)} files to {out / report_diagnostics.FOLDER}", err=True)
    return 1 if counts["failed"] else 0


@cli.command()
@click.option("--results", "results_path", type=click.Path(path_type=Path),
              default=Path("results") / "standard.jsonl", show_default=True,
              help="The committed per-seed results of the standard suite (JSON lines).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports") / "leaderboard",
              show_default=True, help="Folder of the leaderboard report.")
@click.option("--db", type=click.Path(path_type=Path),
              help="First rewrite --results from this store (after `run --suite standard`).")
@click.option("--suite", default="standard", show_default=True,
              help="With --db: the suite whose cells make the leaderboard; all must be stored.")
@click.option("--check", is_flag=True,
              help="Change nothing; exit 1 if the committed report is stale.")
def leaderboard(results_path, out, db, suite, check):
    """Rebuild the leaderboard: the memory horizon table and the report of the committed
    standard-suite results.

    \b
    Example:
      memorybench run --suite standard --db results/standard.db
      memorybench leaderboard --db results/standard.db    # rewrite results, rebuild report
      memorybench leaderboard --check                     # is the committed report stale?
    """
    import tempfile

    from memorybench import results
    from memorybench.report import render_report, summary, tables

    if db is not None and not check:
        results.write(suite_rows(db, suite), results_path, "jsonl")
    frame = summary.normalise(results.load(results_path))
    if check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "report"
            render_report(results_path, fresh)
            stale = stale_files(fresh, out)
        if stale:
            click.echo(f"{out} is stale ({', '.join(stale)} differ from a fresh render); "
                       "rebuild it with `memorybench leaderboard`", err=True)
            return 1
        click.echo(f"{out} is up to date with {results_path}", err=True)
        return 0
    render_report(results_path, out)
    horizons = summary.horizons(summary.by_length(frame))
    table = tables.horizon_table(horizons, sorted(frame["model"].unique()),
                                 sorted(frame["task"].unique()))
    click.echo(table.markdown())
    click.echo(f"wrote the leaderboard report to {out}", err=True)
    return 0


def suite_rows(db: Path, suite: str):
    """The stored rows of every cell of ``suite``; a cell not stored yet is an error."""
    from memorybench import results
    from memorybench.sweep import load_suite

    frame = results.load(db)
    keys = {c.key for c in load_suite(suite)[0].cells()}
    missing = keys - set(frame["key"])
    if missing:
        raise UserError(f"{db} lacks {len(missing)} of the {len(keys)} cells of suite {suite}; "
                        f"train them first: memorybench run --suite {suite} --db {db}")
    keep = frame["key"].isin(keys)
    if not keep.all():
        click.echo(f"left out {int((~keep).sum())} stored cells that are not in suite {suite}",
                   err=True)
    return frame[keep]


def stale_files(fresh: Path, committed: Path) -> list[str]:
    """Files that differ between two report folders (``report.leaderboard.stale_files``)."""
    from memorybench.report.leaderboard import stale_files as stale

    return stale(fresh, committed)


def main() -> None:
    cli()
