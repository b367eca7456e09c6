"""The ``memorybench`` command line: list, run, export."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import click

from memorybench.errors import UserError
from memorybench.store import DEFAULT_DB

EXIT_USAGE = 2


class Cli(click.Group):
    """A click group whose user errors are one line on stderr with exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
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


def parse_ints(option: str, text: str | None) -> list[int] | None:
    """'10,50,100' -> [10, 50, 100]; anything else is a one-line error."""
    if text is None:
        return None
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            values.append(int(part))
        except ValueError:
            raise UserError(f"{option}: {part!r} is not an integer; expected comma-separated "
                            "integers like 10,50,100") from None
    return values


def parse_lengths(text: str | None) -> list[int] | None:
    lengths = parse_ints("--lengths", text)
    for length in lengths or []:
        if length <= 0:
            raise UserError(f"--lengths: {length} is not a positive length; expected integers "
                            ">= 1 like 10,50,100")
    return lengths


def parse_set(items: tuple[str, ...]) -> dict[str, dict]:
    """``--set train.steps=500 --set model.hidden=64`` -> {"train": {...}, "model": {...}}."""
    out: dict[str, dict] = {"train": {}, "task": {}, "model": {}}
    for item in items:
        name, sep, raw = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot or section not in out or not key:
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE with SECTION one of "
                            "train, task, model (e.g. --set train.steps=500)")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as rmsprop
        out[section][key] = value
    return out


def check_device(device: str) -> str:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available here; "
                            "expected --device auto or cpu")
    return device


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
    """


@cli.command("list")
def list_cmd():
    """Every task, model and suite, one line each.

    \b
    Example:
      memorybench list
    """
    from memorybench.config import describe, load_suite, model_names, suite_names, task_names

    def section(title: str, rows: list[tuple[str, str]]) -> None:
        click.echo(f"{title}:")
        width = max((len(name) for name, _ in rows), default=0)
        for name, text in rows:
            click.echo(f"  {name:<{width}}  {text}")

    section("tasks", [(n, describe("task", n)) for n in task_names()])
    section("models", [(n, describe("model", n)) for n in model_names()])
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
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(suite, tasks, models, lengths, seeds, steps, batch_size, lr, eval_every, settings, db,
        workers, device, dry_run, retry_failed, quiet):
    """Train every cell of a sweep that is not stored yet, and store it.

    A sweep is tasks x models x lengths x seeds, from a suite and/or flags (flags win).
    With --task but no --model, every model runs (and the other way round). Cells already
    in the store are skipped, so rerunning a command resumes it.

    \b
    Example:
      memorybench run --task adding --task copy --model elman --model lstm --model gru \\
          --lengths 10,50,100 --seeds 0,1
      memorybench run --suite smoke --dry-run
    """
    from memorybench.config import Sweep, load_suite, model_names, task_names
    from memorybench.runner import default_workers, make_plan, run_plan
    from memorybench.store import Store

    sweep = load_suite(suite)[0] if suite else Sweep()
    if tasks or models:
        sweep.tasks = list(tasks) or (sweep.tasks if suite else task_names())
        sweep.models = list(models) or (sweep.models if suite else model_names())
    sweep.lengths = parse_lengths(lengths) or sweep.lengths
    sweep.seeds = parse_ints("--seeds", seeds) or sweep.seeds
    overrides = parse_set(settings)
    flags = {"steps": steps, "batch_size": batch_size, "lr": lr, "eval_every": eval_every}
    sweep.train.update({**overrides["train"], **{k: v for k, v in flags.items() if v}})
    sweep.task.update(overrides["task"])
    sweep.model.update(overrides["model"])
    cells = sweep.cells()
    device = check_device(device)
    workers = workers or default_workers()

    with Store(db, readonly=dry_run) as store:
        plan = make_plan(cells, store.statuses(), retry_failed)
        if dry_run:
            print_plan(plan)
            return 0
        click.echo(f"{len(plan.cells)} cells: {len(plan.todo)} to train, "
                   f"{len(plan.stored)} already stored in {db}", err=True)
        counts = run_plan(plan, store, workers=workers, device=device, progress=not quiet)
        frame = store.frame()
    print_summary(frame[frame["key"].isin({c["key"] for c in plan.cells})])
    trained = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    click.echo(f"trained {sum(counts.values())} cells ({trained}); results in {db}", err=True)
    return 1 if counts.get("failed") else 0


def print_plan(plan) -> None:
    click.echo(f"{'task':<12} {'model':<12} {'length':>7} {'seed':>5}  {'state':<7} key")
    stored = {c["key"] for c in plan.stored}
    for c in plan.cells:
        state = "stored" if c["key"] in stored else "run"
        click.echo(f"{c['task']:<12} {c['model']:<12} {c['length']:>7} {c['seed']:>5}  "
                   f"{state:<7} {c['key']}")
    click.echo(f"{len(plan.cells)} cells: {len(plan.todo)} to run, {len(plan.stored)} "
               "already stored")


def print_summary(frame) -> None:
    """Mean metric over seeds per task/model/length, and how many seeds solved the cell."""
    if frame.empty:
        return
    grouped = frame.groupby(["task", "model", "length"]).agg(
        metric=("metric_name", "first"), mean=("metric", "mean"), chance=("chance", "first"),
        solved=("solved", "sum"), seeds=("seed", "count"),
        not_ok=("status", lambda s: int((s != "ok").sum())))
    click.echo(f"{'task':<12} {'model':<12} {'length':>7}  {'metric':<10} {'mean':>6} "
               f"{'chance':>6}  solved  not ok")
    for (task, model, length), row in grouped.iterrows():
        mean = "nan" if row["mean"] != row["mean"] else f"{row['mean']:.3f}"
        chance = "" if row["chance"] != row["chance"] else f"{row['chance']:.3f}"
        click.echo(f"{task:<12} {model:<12} {length:>7}  {str(row['metric']):<10} {mean:>6} "
                   f"{chance:>6}  {int(row['solved'])}/{row['seeds']:<4}  {row['not_ok']}")


@cli.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet"]), default="csv",
              show_default=True, help="Table format.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write [default: standard output; required for parquet].")
@click.option("--task", "tasks", multiple=True, help="Only these tasks.")
@click.option("--model", "models", multiple=True, help="Only these models.")
def export(db, fmt, out, tasks, models):
    """Every stored result as one table (csv, json or parquet).

    JSON columns (config, metrics, versions) stay JSON text in csv and parquet, and become
    nested objects in json.

    \b
    Example:
      memorybench export --format csv > results.csv
      memorybench export --format parquet --out results.parquet --task copy
    """
    from memorybench.store import JSON_COLUMNS, Store

    if not db.exists():
        raise UserError(f"--db {db}: no such database; run `memorybench run` first or pass "
                        "--db PATH")
    with Store(db, readonly=True) as store:
        frame = store.frame()
    if tasks:
        frame = frame[frame["task"].isin(tasks)]
    if models:
        frame = frame[frame["model"].isin(models)]
    if fmt == "parquet":
        if out is None:
            raise UserError("--format parquet writes binary data; expected --out FILE")
        frame.to_parquet(out, index=False)
    elif fmt == "csv":
        text = frame.to_csv(index=False)
    else:
        records = frame.to_dict(orient="records")
        for record in records:
            for name in JSON_COLUMNS:
                record[name] = json.loads(record[name])
        text = json.dumps(_jsonable(records), indent=1) + "\n"
    if fmt != "parquet":
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
    if out is not None:
        click.echo(f"wrote {len(frame)} results to {out}", err=True)


def _jsonable(value):
    """NaN and NA -> null, numpy scalars -> Python, recursively (JSON has no NaN)."""
    import pandas as pd

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value


def main() -> None:
    cli()
