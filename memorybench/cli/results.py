"""Commands that read stored results: export, import, compare, report, leaderboard, rekey."""

from __future__ import annotations

import json
from pathlib import Path

import click

from memorybench.cli.group import FiniteFloat, cli, db_option
from memorybench.console import echo
from memorybench.errors import UserError


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
    from memorybench.store import results

    if not db.exists():
        raise UserError(f"--db {db}: no such database; run `memorybench run` first or pass "
                        "--db PATH")
    frame = results.select(results.load(db, db_option=True), tasks, models)
    if out is not None:
        results.write(frame, out, fmt, inputs=(db,))
        echo(f"wrote {len(frame)} results to {out}", err=True)
    elif fmt == "parquet":
        raise UserError("--format parquet writes binary data; expected --out FILE")
    else:
        click.echo(results.to_text(frame, fmt), nl=False)


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", type=click.Path(path_type=Path), required=True,
              help="The store to merge into (created if it does not exist).")
@click.option("--skip-conflicts", is_flag=True,
              help="Exit 0 even when some cells conflict (they are still not imported).")
def import_(files, db, skip_conflicts):
    """Merge results made elsewhere (exported files or other stores) into --db, by cell key.

    A cell whose key is not stored is added; one stored with the same content is a
    duplicate, skipped; one stored with other content is a conflict, reported by key and
    left as stored. Nothing stored is ever overwritten. Every file is read and checked
    before the store is opened: a damaged file changes nothing. Exits 1 when any cell
    conflicts (unless --skip-conflicts). Files of an older memorybench get the current keys
    first, as `rekey` gives them.

    \b
    Example:
      memorybench import cluster-part1.jsonl cluster-part2.jsonl --db results/standard.db
      memorybench import colleague.db --db results/standard.db
    """
    from memorybench.store import Store, rekeying, results

    rows = []
    for path in files:
        results.check_not_input(db, (path,))
        frame, _ = rekeying.rekey(results.read(path))
        results.check_cells(path, frame)
        rows += [(path, row) for row in results.records(frame)]
    with Store(db) as store:
        added, duplicates, conflicts = store.merge([row for _, row in rows])
    source = {id(row): path for path, row in rows}
    for row, columns in conflicts:
        echo(f"conflict: cell {row['key']} ({row['task']}, {row['model']}, "
             f"T={row['length']}, seed {row['seed']}) from {source[id(row)]} differs "
             f"from the stored one in {', '.join(columns)}; kept the stored one", err=True)
    echo(f"imported {added}, duplicates {duplicates}, conflicts {len(conflicts)} into {db}",
         err=True)
    return 1 if conflicts and not skip_conflicts else 0


@cli.command()
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--baseline", required=True, type=click.Path(path_type=Path),
              help="Results to compare against: a store (.db) or an exported file.")
@click.option("--margin", type=FiniteFloat(min=0), default=0.05, show_default=True,
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
    from memorybench.store import results
    from memorybench.store.compare import compare as compare_results
    from memorybench.store.compare import render_text

    new_frame = results.load(new)
    first = update_baseline and results.is_new(baseline)
    old_frame = results.empty() if first else results.load(baseline)  # a new baseline
    outcome = compare_results(new_frame, old_frame, margin)
    if fmt == "json":
        click.echo(json.dumps(outcome.to_dict(), indent=1))
    else:
        echo(render_text(outcome))
    if update_baseline:
        results.write(new_frame, baseline, results.file_format(baseline, "--update-baseline"),
                      inputs=(new,))
        echo(f"rewrote {baseline} with {len(new_frame)} results", err=True)
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
@click.option("--suite", default=None,
              help="Read the store's horizon searches by this suite's [horizon] protocol "
              "(its ladders and caps) instead of the one each search's cells recorded "
              "[default: the recorded one; the task specs' caps for results that recorded "
              "none].")
def report(db, out, tasks, models, formats, suite):
    """A results store as a report: figures, tables, memory horizons, published references.

    Writes index.html (one self-contained file), README.md and figures/*.png into --out.
    Nothing is written unless the whole report renders. Each horizon search is read by the
    protocol its cells recorded (ladder, caps, budget), whichever command made it.

    \b
    Example:
      memorybench report
      memorybench report --db results/x.db --out reports/x --task copy --format html,md
    """
    from memorybench.report import parse_formats, render_report

    protocols = None
    if suite:  # planning a suite's searches imports the models: only when asked
        from memorybench.horizon.plan import suite_protocols

        protocols = suite_protocols(suite)
    written = render_report(db, out, tasks, models, parse_formats(formats),
                            protocols=protocols)
    echo(f"wrote {len(written)} files to {out}", err=True)


def _other_run(name: str, suite: str, help: str):
    """``--NAME PATH`` (default ``results/SUITE.jsonl``) and ``--NAME-suite SUITE``: another
    run of the leaderboard's searches that the report compares with."""
    def decorate(f):
        f = click.option(f"--{name}-suite", default=suite, show_default=True,
                         help=f"The suite that searched --{name}.")(f)
        return click.option(f"--{name}", f"{name}_path", type=click.Path(path_type=Path),
                            default=Path("results") / f"{suite}.jsonl", show_default=True,
                            help=help)(f)
    return decorate


@cli.command()
@click.option("--results", "results_path", type=click.Path(path_type=Path),
              default=Path("results") / "standard.jsonl", show_default=True,
              help="The committed per-seed results of the standard suite (JSON lines).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports") / "leaderboard",
              show_default=True, help="Folder of the leaderboard report.")
@click.option("--db", type=click.Path(path_type=Path),
              help="First rewrite --results from this store (after `horizon --suite standard`).")
@click.option("--suite", default="standard", show_default=True,
              help="With --db: the suite whose cells make the leaderboard; all must be stored.")
@click.option("--horizon/--sweep", "searched", default=True, show_default=True,
              help="With --db: the cells of the suite's horizon searches (every search "
              "closed: the leaderboard), or of its length sweep (`run --suite`).")
@_other_run("since", "standard-v2", "An earlier leaderboard's results: the report lists every "
            "horizon that moved since (left out where it is --results or missing).")
@_other_run("sizes", "standard-size", "The same searches at another parameter budget: the "
            "report adds horizon against size (left out where missing).")
@click.option("--check", is_flag=True,
              help="Change nothing; exit 1 if the committed report is stale.")
def leaderboard(results_path, out, db, suite, searched, since_path, since_suite, sizes_path,
                sizes_suite, check):
    """Rebuild the leaderboard: the memory horizon table and the report of the committed
    standard-suite results.

    \b
    Example:
      memorybench horizon --suite standard --db results/standard.db
      memorybench leaderboard --db results/standard.db    # rewrite results, rebuild report
      memorybench leaderboard --check                     # is the committed report stale?
      memorybench run --suite standard --db sweep.db      # the suite's length sweep
      memorybench leaderboard --db sweep.db --sweep --results sweep.jsonl --out sweep
    """
    from memorybench.horizon.plan import suite_protocols
    from memorybench.report import render_report, summary, tables
    from memorybench.report.leaderboard import stale_report
    from memorybench.store import results
    from memorybench.sweep import suite_rows

    if db is not None and not check:
        if searched:
            from memorybench.horizon.run import suite_search_rows

            rows, left_out = suite_search_rows(db, suite)
        else:
            rows, left_out = suite_rows(db, suite)
        if left_out:
            echo(f"left out {left_out} stored cells that are not in suite {suite}", err=True)
        results.write(rows, results_path, "jsonl", inputs=(db,))
    frame = summary.normalise(results.load(results_path))
    # the suite's protocol: where its searches end ("≥ cap", not open), also for committed
    # results that recorded none
    protocols = suite_protocols(suite)
    previous = None
    if since_path.is_file() and since_path.resolve() != results_path.resolve():
        previous = (since_path, suite_protocols(since_suite),
                    since_suite.removeprefix(suite + "-"))
    sizes = (sizes_path, suite_protocols(sizes_suite), sizes_suite) if (
        sizes_path.is_file() and sizes_path.resolve() != results_path.resolve()) else None
    if check:
        stale = stale_report(results_path, out, protocols, previous, sizes)
        if stale:
            echo(f"{out} is stale ({', '.join(stale)} differ from a fresh render); "
                 "rebuild it with `memorybench leaderboard`", err=True)
            return 1
        echo(f"{out} is up to date with {results_path}", err=True)
        return 0
    render_report(results_path, out, protocols=protocols, previous=previous, sizes=sizes)
    from memorybench.report import search_rows, searches

    search_rows = search_rows.searched(frame)
    if len(search_rows):  # the searches' brackets, each at its chosen learning rate
        echo(searches.score_table(searches.results(search_rows, protocols)).text())
    else:
        horizons = summary.horizons(summary.by_length(frame))
        table = tables.horizon_table(horizons, sorted(frame["model"].unique()),
                                     sorted(frame["task"].unique()))
        echo(table.markdown())
    echo(f"wrote the leaderboard report to {out}", err=True)
    return 0


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False,
                                                                 path_type=Path))
def rekey(files):
    """Bring exported results files (.jsonl, .json, .csv) of an older memorybench to the
    current cell keys, recomputed from each cell's stored config; nothing is retrained. A
    store is re-keyed the same way when `run` opens it.

    \b
    Example:
      memorybench rekey results/standard.jsonl results/ci-baseline.jsonl
    """
    from memorybench.store import rekeying

    for path in files:
        changed, rows = rekeying.rekey_file(path)
        left = "" if changed else "; the file is left as it was"
        echo(f"{path}: {changed} of {rows} keys changed{left}", err=True)
