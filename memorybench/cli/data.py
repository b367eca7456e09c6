"""Commands that take a task's data elsewhere and score what comes back: data, score."""

from __future__ import annotations

import json
from pathlib import Path

import click

from memorybench.cli.flags import parse_ints, parse_lengths, parse_set
from memorybench.cli.group import cli
from memorybench.errors import UserError


@cli.command()
@click.option("--task", required=True, help="Task whose examples to write.")
@click.option("--lengths", required=True, help="Comma-separated lengths, e.g. 10,50.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for the .npz files and their manifest.json.")
@click.option("--train-size", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Training examples per file: the first of the seed's training stream.")
@click.option("--validation-size", type=click.IntRange(min=1),
              help="Held-out examples [default: the task spec's eval_size].")
@click.option("--test-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test examples.")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="The training batch the examples are drawn in [default: the task spec's].")
@click.option("--set", "settings", multiple=True, metavar="task.KEY=VALUE",
              help="A task parameter, as in `run` (e.g. --set task.symbols=5; "
              "task.TASK.KEY=VALUE for this task is the same).")
def data(task, lengths, seeds, out, train_size, validation_size, test_size, batch_size,
         settings):
    """Write a task's train, validation and test examples to .npz files, for any framework.

    One file per (length, seed), holding exactly the examples a cell of that length and
    seed trains, stops and is scored on (with a test set of --test-size), and a manifest
    naming the task, its parameters, its generator's version and a hash of each file's
    arrays. `memorybench score` scores predictions made elsewhere on them.

    \b
    Example:
      memorybench data --task copy --lengths 10,50 --seeds 0,1 --out data/copy
      python -c "import numpy as np; d = np.load('data/copy/copy-T10-seed0.npz'); print(d.files)"
    """
    from memorybench import datasets  # imports torch: inside the command (cli/__init__.py)
    from memorybench.settings import not_selected

    overrides = parse_set(settings)
    if overrides["train"] or overrides["model"]:
        raise UserError("--set: data takes task.KEY=VALUE only (e.g. --set task.symbols=5)")
    asked = overrides["task"]  # task.KEY, and task.TASK.KEY for this task, as in `run`
    for name, value in asked.items():
        if isinstance(value, dict) and name != task:
            raise UserError(not_selected("task", name, [task]))
    params = {**{k: v for k, v in asked.items() if not isinstance(v, dict)},
              **asked.get(task, {})}
    written = datasets.write(task, parse_lengths(lengths), parse_ints("--seeds", seeds, "0,1"),
                             out, train_size, validation_size, test_size, params, batch_size)
    for path in written:
        click.echo(str(path))
    click.echo(f"wrote {len(written)} files and {out / datasets.MANIFEST}", err=True)


@cli.command()
@click.option("--data", "data_file", type=click.Path(path_type=Path), required=True,
              help="A .npz file written by `memorybench data` (its manifest beside it).")
@click.option("--predictions", type=click.Path(path_type=Path), required=True,
              help="Model outputs on the split: a .npy file, or a .npz file with an array "
              "named predictions or the split's name (logits for classes).")
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test",
              show_default=True, help="Which set the predictions are for.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json for programs.")
def score(data_file, predictions, split, fmt):
    """Score predictions made elsewhere with the task's own metric and chance level.

    \b
    Example:
      memorybench score --data data/copy/copy-T10-seed0.npz --predictions preds.npy
    """
    from memorybench import datasets

    result = datasets.score(data_file, predictions, split)
    if fmt == "json":  # strict JSON: a value that is not a finite number is null
        from memorybench.store.results import jsonable

        click.echo(json.dumps(jsonable(result, finite=True), indent=1, allow_nan=False))
        return
    click.echo(f"{result['task']} T={result['length']} seed {result['seed']}, {split} set "
               f"({result['examples']} examples): {result['metric']} {result['value']:.4f}, "
               f"chance {result['chance']:.4f}, "
               f"{'solved' if result['solved'] else 'not solved'} (threshold "
               f"{result['threshold']})")

