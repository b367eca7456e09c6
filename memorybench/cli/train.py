"""Commands that train: list what exists, run a sweep, diagnose why a model forgets."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import cast

import click

from memorybench.cli.flags import Options, set_option, training_flags
from memorybench.cli.group import Cli, cli, db_option, model_file_option
from memorybench.console import echo, print_diagnostics, print_outcome, print_plan

format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]),
                             default="text", show_default=True,
                             help="text for people; json (on standard output, notes and "
                             "progress on standard error) for programs.")


@cli.command("list")
@format_option
def list_cmd(fmt):
    """Every task, model, classical baseline and suite, one line each.

    \b
    Example:
      memorybench list
    """
    from memorybench.catalog import describe, is_baseline, model_names, task_names
    from memorybench.sweep import load_suite, suite_names

    names = model_names()
    sections = {
        "tasks": [(n, describe("task", n)) for n in task_names()],
        "models": [(n, describe("model", n)) for n in names if not is_baseline(n)],
        "baselines": [(n, describe("model", n)) for n in names if is_baseline(n)],
        "suites": [(n, load_suite(n)[1]) for n in suite_names()]}
    if fmt == "json":
        click.echo(json.dumps({title: [{"name": n, "description": text} for n, text in rows]
                               for title, rows in sections.items()}, indent=1))
        return
    for title, rows in sections.items():
        echo(f"{title}:")
        width = max((len(name) for name, _ in rows), default=0)
        for name, text in rows:
            echo(f"  {name:<{width}}  {text}")


@cli.command()
@click.option("--suite", help="A named suite (see `memorybench list`) or a path to a TOML file.")
@click.option("--task", "tasks", multiple=True, help="Task to run; repeat for several.")
@click.option("--model", "models", multiple=True, help="Model to run; repeat for several.")
@model_file_option
@click.option("--lengths", help="Comma-separated lengths, e.g. 10,50,100 (default: each "
              "task's spec).")
@click.option("--seeds", help="Comma-separated seeds, e.g. 0,1,2 (default: 0).")
@training_flags()
@click.option("--params", "n_params", type=click.IntRange(min=1), metavar="N",
              help="Equal-size comparison: set each model's width (hidden, or the argument its "
              "width_arg names) so it has about N trainable parameters (within 10%); "
              "refused for a model of fixed size (no width argument) [default: the specs' "
              "widths].")
@set_option
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
@format_option
def run(**flags):
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
    return run_cells(Options(**flags))


def run_cells(o: Options) -> int:
    """``memorybench run`` with its flags parsed: plan, train, print the outcome."""
    from memorybench import usermodels  # imports torch: not for `memorybench --help`
    from memorybench.runner import check_device, default_workers, require_dask, run_sweep
    from memorybench.sweep import build_sweep

    names, classes = usermodels.from_files(o.model_files)
    workers = o.workers or default_workers()
    # A model's prints (when the sweep builds it, when it trains here) go to standard
    # error: standard output is for the plan and the outcome, printed after the block.
    with usermodels.registered(classes), usermodels.to_stderr():
        cells = build_sweep(o.request(names)).cells()
        device = check_device(o.device)
        if (o.scheduler or o.backend == "dask") and not o.dry_run:
            require_dask(o.scheduler)
        usermodels.check_sendable(classes, workers)
        root = click.get_current_context().find_root().command
        resume = shlex.join(["memorybench", *cast(Cli, root).raw_args])
        outcome = run_sweep(cells, o.db, workers=workers, device=device,
                            backend="dask" if o.scheduler else o.backend,
                            scheduler=o.scheduler, retry_failed=o.retry_failed,
                            rerun=o.rerun, dry_run=o.dry_run, progress=not o.quiet,
                            resume=resume, work=usermodels.WithModels(classes))
    if o.dry_run:
        print_plan(outcome.plan, workers, o.fmt)
    elif outcome.code != 130:
        print_outcome(outcome, o.db, o.fmt)
    return outcome.code


@cli.command()
@click.option("--task", default="adding", show_default=True, help="Task to diagnose.")
@click.option("--model", "models", multiple=True, help="Model to diagnose; repeat for several "
              "[default: elman, lstm, gru, orthogonal].")
@click.option("--model-file", "model_files", multiple=True, metavar="PATH.py:NAME[=ALIAS]",
              help="Your own model from a Python file: a Core subclass or a function (or "
              "nn.Module class) building a module that maps (batch, time, features) to "
              "(batch, time, out); --set model.X=... sets its arguments; NAME=ALIAS runs it "
              "under ALIAS. A diagnosed core needs recurrent_state and unroll.")
@click.option("--length", type=int, default=100, show_default=True,
              help="Sequence length T: gradients are measured at every distance from the "
              "last step of the sequence (T steps; T + 20 for copy).")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds.")
@training_flags(steps=200, steps_note=" 'After training' means after at most these many "
                "steps of the cell's own protocol (task and model specs, held-out evaluation "
                "every eval_every steps, early stop once solved). The specs train for "
                "thousands of steps; a model still at chance is flagged in the output.")
@set_option
@db_option
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports") / "latest",
              show_default=True, help="Report folder; its diagnostics/ subfolder (figures, "
              "README.md, factors.csv) is rewritten from the store.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Diagnostics run at once, one process and one torch thread each "
              "[default: number of cores].")
def diagnose(task, models, model_files, length, seeds, steps, batch_size, lr, eval_every,
             settings, db, out, workers):
    """Why a model forgets: gradient flow and a memory probe, at init and after training.

    Per model: the norm of dLoss/dh_t against the distance from the last step, with its
    fitted per-step decay factor, and how well a linear probe reads the task-relevant input
    back from the final state; beside them the trained metric and the chance level. Results
    go to the store (rerunning skips stored ones) and --out/diagnostics/. Models without a
    per-step recurrent state (attention, ffwindow) are noted and skipped. The first example
    takes about 4 minutes with 2 workers on 2 CPU cores.

    \b
    Example:
      memorybench diagnose --task adding --model elman --model lstm --model orthogonal \\
          --length 200
      memorybench diagnose --task adding --model lstm --length 50 --steps 2000 --seeds 0,1,2
    """
    from memorybench import diagnostics, usermodels
    from memorybench.cli.flags import parse_ints, parse_set, train_flags
    from memorybench.report import check_out
    from memorybench.report import diagnostics as report_diagnostics
    from memorybench.runner import default_workers

    files, classes = usermodels.from_files(model_files)
    default = [] if files else ["elman", "lstm", "gru", "orthogonal"]
    names = list(dict.fromkeys([*(models or default), *files]))
    seed_list = parse_ints("--seeds", seeds, "0,1,2") or [0]
    workers = workers or default_workers()
    asked = parse_set(settings)
    asked["train"].update(train_flags(batch_size=batch_size, lr=lr, eval_every=eval_every))
    with usermodels.registered(classes):
        todo, not_applicable, skipped = diagnostics.plan_models(
            task, names, length, seed_list, steps, one_task(task, names, asked))
        check_out(out)  # a bad --out is refused now, not after minutes of training
        usermodels.check_sendable(classes, workers)
        for name in skipped:
            echo(f"{name}: does not apply: a per-step recurrent state does not exist "
                       "in this model (no state is carried from step to step); skipped",
                       err=True)
        frame, counts = diagnostics.run(
            todo, not_applicable, db, workers,
            usermodels.WithModels(classes, diagnostics.diagnose))
    if counts is None:
        return 130
    print_diagnostics(frame, {d.key for d in todo}, steps)
    written = report_diagnostics.write(db, out)
    click.echo(f"wrote {len(written)} files to {out / report_diagnostics.FOLDER}", err=True)
    return 1 if counts["failed"] else 0


def one_task(task: str, models: list[str], asked: dict[str, dict]) -> dict[str, dict]:
    """``--set`` values of a command on one task (``diagnose``), checked as ``run`` checks
    them, with the task's tables laid flat: ``task.copy.symbols=4`` is ``task.symbols=4``
    there, so both name the same diagnostic."""
    from memorybench.catalog import task_spec
    from memorybench.settings import check_settings

    task_spec(task)  # an unknown task: "unknown task", before its settings
    check_settings(asked, [task], models)  # a flat task key is then the task's
    flat = {k: v for k, v in asked["task"].items() if not isinstance(v, dict)}
    return {"train": {**{k: v for k, v in asked["train"].items() if not isinstance(v, dict)},
                      **asked["train"].get(task, {})},
            "task": {**flat, **asked["task"].get(task, {})}, "model": asked["model"]}
