"""The ``horizon`` command: how far back each model remembers, as a bracket."""

from __future__ import annotations

import click

from memorybench.cli.flags import Options, set_option, training_flags
from memorybench.cli.group import cli, db_option, model_file_option


@cli.command()
@click.option("--suite", help="A suite whose tasks, models, training budget and [horizon] "
              "protocol to use (e.g. quick).")
@click.option("--task", "tasks", multiple=True, help="Task to search; repeat for several.")
@click.option("--model", "models", multiple=True, help="Model to search; repeat for several.")
@model_file_option
@click.option("--seeds", help="Comma-separated seeds [default: the suite's, else 0,1,2].")
@click.option("--params", "n_params", type=int, metavar="N",
              help="Matched size: every model at about N trainable parameters [default: the "
              "suite's [horizon] params].")
@click.option("--start", type=int, help="First length of every task's ladder [default: the "
              "task spec's horizon.start].")
@click.option("--cap", type=int, help="Last length of every task's ladder [default: the task "
              "spec's horizon.cap].")
@click.option("--factor", type=float, help="Ladder ratio, > 1 [default: 2].")
@click.option("--resolution", type=float, help="Refine a bracket [lo, hi) until hi/lo is at "
              "most this, > 1 [default: 1.5].")
@click.option("--lrs", help="Learning-rate grid, e.g. 1e-3,3e-3,1e-2; the best on the "
              "validation set is kept per length [default: the suite's or model spec's].")
@click.option("--lr-rungs", type=click.Choice(["every", "first", "first-only"]), default=None,
              help="Train the grid at every rung, or at the first rung only and hold its "
              "chosen rate up the ladder [default: the suite's, else every].")
@click.option("--multiples", help="Score each trained network at these multiples of its "
              "length, e.g. 2,4,8 [default: 2,4,8].")
@click.option("--test-size", type=int, help="Examples of the test set the reported metric "
              "comes from [default: 1000].")
@click.option("--patience", type=int, help="Stop a cell whose held-out loss has not improved "
              "by --min-delta over this many evaluations; 0: off [default: the suite's, "
              "else 0].")
@click.option("--min-delta", type=float, help="The no-progress stop's improvement: held-out "
              "loss below (1 - this) x its best [default: the suite's, else 0.01].")
@click.option("--control/--no-control", default=None,
              help="Train each network's search at its task's control length (the shortest "
              "memory distance) first: a model that fails it reads \"not learned\" "
              "[default: the suite's, else --control].")
@click.option("--ceiling", type=int, help="Extend a failing rung (its seeds continued at "
              "twice the budget) up to this many times the base budget; 1: never "
              "[default: the suite's, else 8].")
@click.option("--ceiling-tokens", type=int, help="Above the control, extend a failing rung "
              "only while each seed's budget stays within this many training tokens (steps "
              "x batch x time steps of one example); 0: no limit [default: the suite's, "
              "else 0].")
@click.option("--control-multiple", type=float, help="k: a length fails only after k x the "
              "steps the control took to solve, or at the ceiling [default: the suite's, "
              "else 4].")
@click.option("--lr-beyond", type=int, help="Rates tried one grid step past the edge where a "
              "failing rung's best rate is the grid's edge, per side [default: the suite's, "
              "else 2].")
@click.option("--recipe", type=click.Choice(["common", "model"]), default=None,
              help="common: every network with Adam at the grid's rates; model: each with "
              "its spec's optimizer [default: the suite's, else common].")
@click.option("--stop-margin", type=float, help="An early stop waits for the held-out metric "
              "this fraction of the way from the threshold to 1 (0.2: 0.92 at 0.9); 0: at "
              "the threshold [default: the suite's, else 0.2].")
@training_flags(lr=False)
@set_option
@db_option
@click.option("--keep-checkpoints", is_flag=True, help="Keep the training checkpoints beside "
              "the store (DB.checkpoints/) once the searches close [default: removed].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Cells trained at once [default: number of cores].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where to train.")
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="local processes or a dask.distributed cluster.")
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler (implies --backend dask).")
@click.option("--dry-run", is_flag=True, help="Print each ladder so far and the worst-case "
              "cost left; train nothing.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def horizon(**flags):
    """Search each model's memory horizon on each task: a bracket [solved, failed).

    Per (task, model): train at a geometric ladder of lengths, stop at the first length a
    majority of seeds fail, then refine between the last solved and first failed length.
    Every rung is an ordinary stored cell per (learning rate, seed): the best rate on the
    validation set is kept, and a separate test set gives the metric. A length fails only
    once checked: the rest of the grid, rates past its edge, and more steps (each run
    continued from its checkpoint, DB.checkpoints/) while still learning, up to --ceiling.
    Brackets print as they close; a rerun trains nothing.

    \b
    Example:
      memorybench horizon --task copy --model lstm --model orthogonal --seeds 0,1,2
      memorybench horizon --suite quick
      memorybench horizon --suite quick --dry-run
    """
    return search(Options(**flags))


def search(o: Options) -> int:
    """``memorybench horizon`` with its flags parsed: plan, then train round by round."""
    from memorybench import usermodels  # imports torch: not for `memorybench --help`
    from memorybench.checkpoints import folder_of
    from memorybench.horizon.plan import plan_searches, search_sweep
    from memorybench.horizon.protocol import refuse_lr
    from memorybench.horizon.run import run_searches
    from memorybench.runner import check_device, default_workers, require_dask
    from memorybench.training import Continuing

    names, classes = usermodels.from_files(o.model_files)
    workers = o.workers or default_workers()
    request = o.request(names)
    refuse_lr(request.train)
    with usermodels.registered(classes):
        with usermodels.to_stderr():  # a model that prints as it is built
            sweep, protocol = search_sweep(request)
            searches = plan_searches(sweep, protocol, o.start, o.cap,
                                     lrs_given=o.lrs is not None)
        device = check_device(o.device)
        if (o.scheduler or o.backend == "dask") and not o.dry_run:
            require_dask(o.scheduler)
        usermodels.check_sendable(classes, workers)
        return run_searches(searches, protocol, o.db, workers, device=device,
                            backend="dask" if o.scheduler else o.backend,
                            scheduler=o.scheduler, dry_run=o.dry_run, progress=not o.quiet,
                            work=usermodels.WithModels(classes, Continuing(str(folder_of(o.db)))),
                            keep_checkpoints=o.keep_checkpoints)
