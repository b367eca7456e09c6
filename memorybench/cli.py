"""The ``memorybench`` command line: list, run, export, report."""

from __future__ import annotations

import json
import shlex
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


def parse_ints(option: str, text: str | None, example: str = "10,50,100") -> list[int] | None:
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
                            f"integers like {example}") from None
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
      memorybench report --out reports/latest
    """


@cli.command("list")
def list_cmd():
    """Every task, model, classical baseline and suite, one line each.

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
    from memorybench.baselines import is_baseline

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
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="local: processes on this machine (joblib); dask: a "
              "dask.distributed cluster (pip install 'memorybench[dask]').")
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://HOST:8786 "
              "(implies --backend dask; without it, dask starts a LocalCluster).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(suite, tasks, models, lengths, seeds, steps, batch_size, lr, eval_every, n_params,
        settings, db, workers, device, dry_run, retry_failed, backend, scheduler, quiet):
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
    from memorybench.config import Sweep, load_suite, model_names, task_names
    from memorybench.runner import (
        SweepInterrupted,
        default_workers,
        make_plan,
        require_dask,
        run_plan,
    )
    from memorybench.store import Store

    sweep = load_suite(suite)[0] if suite else Sweep()
    if tasks or models:
        sweep.tasks = list(tasks) or (sweep.tasks if suite else task_names())
        sweep.models = list(models) or (sweep.models if suite else model_names())
    sweep.lengths = parse_lengths(lengths) or sweep.lengths
    sweep.seeds = parse_ints("--seeds", seeds, "0,1,2") or sweep.seeds
    overrides = parse_set(settings)
    flags = {"steps": steps, "batch_size": batch_size, "lr": lr, "eval_every": eval_every}
    sweep.override("train", {**overrides["train"], **{k: v for k, v in flags.items() if v}})
    sweep.override("task", overrides["task"])
    sweep.model.update(overrides["model"])
    if n_params:
        if "hidden" not in overrides["model"]:
            sweep.model.pop("hidden", None)  # the flag wins over a suite's width
        sweep.params = n_params
    cells = sweep.cells()
    device = check_device(device)
    workers = workers or default_workers()
    if (scheduler or backend == "dask") and not dry_run:
        require_dask(scheduler)

    with Store(db, readonly=dry_run) as store:
        plan = make_plan(cells, store.statuses(), retry_failed)
        if dry_run:
            print_plan(plan, workers)
            return 0
        click.echo(f"{len(plan.cells)} cells: {len(plan.todo)} to train, "
                   f"{len(plan.stored)} already stored in {db}", err=True)
        try:
            counts = run_plan(plan, store, workers=workers, device=device,
                              backend="dask" if scheduler else backend, scheduler=scheduler,
                              progress=not quiet)
        except SweepInterrupted as stop:
            resume = shlex.join(["memorybench", *click.get_current_context().find_root()
                                 .command.raw_args])
            click.echo(f"memorybench: interrupted; {sum(stop.counts.values())} cells trained "
                       f"and stored in {db} before it. Resume with: {resume}", err=True)
            return 130
        frame = store.frame()
    mine = frame[frame["key"].isin({c["key"] for c in plan.cells})]
    print_summary(mine)
    trained = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    click.echo(f"trained {sum(counts.values())} cells ({trained}); results in {db}", err=True)
    failed = int((mine["status"] == "failed").sum())
    if failed > counts.get("failed", 0):
        click.echo(f"{failed} cells of this sweep are stored as failed; train them again "
                   "with --retry-failed", err=True)
    return 1 if failed else 0


def print_plan(plan, workers: int) -> None:
    """One line per cell with its estimated seconds at most, then the sweep's wall time."""
    from memorybench.costs import cell_seconds, duration, sweep_seconds

    click.echo(f"{'task':<12} {'model':<12} {'length':>7} {'seed':>5}  {'state':<7} "
               f"{'est.':>7} key")
    stored = {c["key"] for c in plan.stored}
    for c in plan.cells:
        state = "stored" if c["key"] in stored else "run"
        click.echo(f"{c['task']:<12} {c['model']:<12} {c['length']:>7} {c['seed']:>5}  "
                   f"{state:<7} {duration(cell_seconds(c)):>7} {c['key']}")
    click.echo(f"{len(plan.cells)} cells: {len(plan.todo)} to run, {len(plan.stored)} "
               "already stored")
    total = sum(cell_seconds(c) for c in plan.todo)
    click.echo(f"estimated time: at most {duration(sweep_seconds(plan.todo, workers))} with "
               f"{workers} worker{'s' * (workers > 1)} ({duration(total)} of training in all; "
               "early stopping usually ends cells sooner; model: memorybench/costs.toml)")


def print_summary(frame) -> None:
    """Mean metric over seeds per task/model/length, and how many seeds solved the cell."""
    import pandas as pd

    if frame.empty:
        return
    grouped = frame.groupby(["task", "model", "length"]).agg(
        metric=("metric_name", "first"), mean=("metric", "mean"), chance=("chance", "first"),
        solved=("solved", "sum"), seeds=("seed", "count"), params=("params", "max"),
        not_ok=("status", lambda s: int((s != "ok").sum())))
    click.echo(f"{'task':<12} {'model':<12} {'length':>7} {'params':>8}  {'metric':<10} "
               f"{'mean':>6} {'chance':>6}  solved  not ok")
    for (task, model, length), row in grouped.iterrows():
        mean = "nan" if pd.isna(row["mean"]) else f"{row['mean']:.3f}"
        chance = "" if pd.isna(row["chance"]) else f"{row['chance']:.3f}"
        params = "" if pd.isna(row["params"]) else f"{int(row['params'])}"
        click.echo(f"{task:<12} {model:<12} {length:>7} {params:>8}  {str(row['metric']):<10} "
                   f"{mean:>6} {chance:>6}  {int(row['solved'])}/{row['seeds']:<4}  "
                   f"{row['not_ok']}")


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
    from memorybench.config import task_spec
    from memorybench.report import check_out
    from memorybench.report import diagnostics as report_diagnostics
    from memorybench.runner import default_workers
    from memorybench.store import Store

    def _diagnosed(configs: list[dict], workers: int):
        """Rows of ``configs`` in order, each as soon as it and those before it are done:
        measured here for one, in joblib processes for more."""
        if min(workers, len(configs)) <= 1:
            yield from map(diagnostics.diagnose, configs)
            return
        from joblib import Parallel, delayed

        yield from Parallel(n_jobs=min(workers, len(configs)), return_as="generator")(
            delayed(diagnostics.diagnose)(c) for c in configs)

    if length <= 0:
        raise UserError(f"--length {length} is not a positive length; expected an integer "
                        ">= 2 such as 100")
    task_spec(task)  # an unknown task is a one-line error, whatever the models
    check_out(out)  # a bad --out is refused now, not after minutes of training
    seed_list = parse_ints("--seeds", seeds, "0,1,2") or [0]
    overrides = parse_set(settings)
    names = list(dict.fromkeys(models or ["elman", "lstm", "gru", "orthogonal"]))
    skipped = [n for n in names if not diagnostics.applies(n)]  # unknown: "unknown model"
    if len(skipped) == len(names):
        raise UserError(f"nothing to diagnose: {', '.join(skipped)} carr"
                        f"{'ies' if len(skipped) == 1 else 'y'} no per-step recurrent state "
                        "(nothing is carried from step to step); expected a recurrent model "
                        "such as elman, lstm, gru or orthogonal")
    configs, not_applicable = [], []
    for name in names:
        per_seed = [diagnostics.diagnostic_config(task, name, length, seed, steps, overrides)
                    for seed in seed_list]
        if name in skipped:
            not_applicable += [diagnostics.not_applicable(c) for c in per_seed]
        else:
            diagnostics.check_builds(per_seed[0])  # a bad --set is an error before training
            configs += per_seed
    for name in skipped:
        click.echo(f"{name}: does not apply: a per-step recurrent state does not exist in "
                   "this model (no state is carried from step to step); skipped", err=True)
    with Store(db) as store:
        for row in not_applicable:
            store.put_diagnostic(row)  # so the report says so too
        stored = store.diagnostic_keys()
        todo = [c for c in configs if c["key"] not in stored]
        click.echo(f"{len(configs)} diagnostics: {len(todo)} to run, "
                   f"{len(configs) - len(todo)} already stored in {db}", err=True)
        failed = 0
        for row in _diagnosed(todo, workers or default_workers()):
            store.put_diagnostic(row)  # each as it arrives: an interrupted run resumes
            failed += row["status"] != "ok"
            click.echo(f"{row['model']} seed {row['seed']}: {row['status']}"
                       + (f" ({row['error']})" if row["error"] else "")
                       + f" in {row['wall_time']:.0f}s", err=True)
        frame = store.diagnostics()
    keys = {c["key"] for c in configs}
    frame = frame[frame["key"].isin(keys) & (frame["status"] == "ok")]
    if len(frame):
        click.echo(f"{'model':<12} {'seed':>4}  {'factor init':>11}  {'factor trained':>14}  "
                   f"{'steps':>6}  {'metric trained':<24} {'chance':>6}  state")
    at_chance = []
    for _, row in frame.sort_values(["model", "seed"]).iterrows():
        res = json.loads(row["result"])
        metric, chance = res["trained"]["metric"], res["chance"]
        state = report_diagnostics.learning_state(metric, chance, res["solved_threshold"])
        if state == "at chance":
            at_chance.append(f"{row['model']} (seed {row['seed']})")
        click.echo(f"{row['model']:<12} {row['seed']:>4}  "
                   f"{_fmt(res['init']['gradient']['factor']):>11}  "
                   f"{_fmt(res['trained']['gradient']['factor']):>14}  "
                   f"{res['trained']['steps']:>6}  "
                   f"{res['metric_name'] + ' ' + format(metric, '.3f'):<24} "
                   f"{chance:>6.3f}  {state}")
    if at_chance:
        click.echo(f"note: {', '.join(at_chance)} ended at chance level after at most {steps} "
                   "steps: their 'trained' curves are those of models that have not learned "
                   f"the task yet; raise --steps or shorten --length", err=True)
    written = report_diagnostics.write(db, out)
    click.echo(f"wrote {len(written)} files to {out / report_diagnostics.FOLDER}", err=True)
    return 1 if failed else 0


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4f}"


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
    from memorybench.config import load_suite

    frame = results.load(db)
    keys = {c["key"] for c in load_suite(suite)[0].cells()}
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
